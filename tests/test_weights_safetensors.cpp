#define BOOST_TEST_MODULE weights_safetensors
#include <boost/test/unit_test.hpp>

#include "test_support.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <unistd.h>
#include <string>

#include "autograd/error.h"
#include "weights/file_io.h"
#include "weights/json.h"
#include "weights/safetensors.h"

using namespace differnet::weights;
using differnet::testing::expect_error;
namespace fs = std::filesystem;

namespace {


std::string with_header(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  return out + json + data;
}

RawTensorMap sample_tensors() {
  RawTensorMap m;
  m.emplace_back("conv.weight", make_float32_tensor({2, 1, 2, 2}, {1, 2, 3, 4, -5, 6.5f, 7, 8}));
  RawTensor ids{DType::I64, {3}, {}};
  for (int64_t v : {int64_t(7), int64_t(-1), int64_t(1) << 40}) ids.data.insert(ids.data.end(), (uint8_t*)&v, (uint8_t*)&v + 8);
  m.emplace_back("ids \"quoted\" ü", ids);
  m.emplace_back("empty", RawTensor{DType::F16, {0, 4}, {}});
  m.emplace_back("scalar", RawTensor{DType::U8, {}, {42}});
  return m;
}

fs::path temp_dir() {
  const fs::path dir = fs::temp_directory_path() / ("weights_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

}  // namespace

BOOST_AUTO_TEST_CASE(json_parses_what_headers_need) {
  const Json v = parse_json(R"( {"a": [1, -2, 9223372036854775807], "b\u00fc\ud83d\ude00": "x\n\"", "c": {"t": true, "n": null}} )", "t");
  BOOST_TEST(v.size() == 3u);
  BOOST_TEST(v["a"][2].get<int64_t>() == INT64_MAX);
  BOOST_TEST(v.items().begin().key() == "a");  // file order
  BOOST_TEST(std::next(v.items().begin()).key() == "b\xc3\xbc\xf0\x9f\x98\x80");
  BOOST_TEST(v["b\xc3\xbc\xf0\x9f\x98\x80"].get<std::string>() == "x\n\"");
  BOOST_TEST(v["c"]["t"].get<bool>());
  BOOST_TEST(parse_json(Json("a\"b\\c\x01\n").dump(), "t").get<std::string>() == "a\"b\\c\x01\n");
}

BOOST_AUTO_TEST_CASE(json_refuses_bad_and_hostile_text) {
  // Syntax errors come with the byte offset.
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "01", "\"\\x\"", "\"\\ud800\"", "\"a\x01\"", "\"\xff\"",
                          "\"\xc0\x80\"", "[1] x", "tru", "\"abc"})
    expect_error([&] { parse_json(bad, "bad.json"); }, "bad.json: bad JSON at byte");
  // The limits on top of the library.
  expect_error([] { parse_json("{\"a\":1,\"a\":2}", "bad.json"); }, "bad.json: bad JSON: duplicate key \"a\"");
  expect_error([] { parse_json("[{\"a\":{\"a\":1},\"a\":2}]", "bad.json"); }, "duplicate key \"a\"");
  BOOST_TEST(parse_json("[{\"a\":{\"a\":1}},{\"a\":2}]", "t").size() == 2u);  // the same key in different objects
  for (const char* bad : {"1.5", "1e3"})
    expect_error([&] { parse_json(bad, "bad.json"); }, "bad.json: bad JSON: only integers are supported");
  expect_error([] { parse_json("9223372036854775808", "bad.json"); }, "bad.json: bad JSON: integer out of the int64 range");
  expect_error([] { parse_json(std::string(100000, '['), "deep.json"); }, "deep.json: bad JSON: nesting deeper than 64");
  BOOST_TEST(parse_json(std::string(64, '[') + std::string(64, ']'), "t").is_array());
  expect_error([] { parse_json(std::string(64, '[') + "1" + std::string(64, ']'), "deep.json"); }, "nesting deeper than 64");
}

BOOST_AUTO_TEST_CASE(json_reads_fractions_only_when_asked) {
  const Json v = parse_json("[0.8125, -1.5e-3, 2E+2, 7]", "t", JsonNumbers::Any);
  BOOST_TEST(v[0].is_number_float());
  BOOST_TEST(v[0].get<double>() == 0.8125);
  BOOST_TEST(v[1].get<double>() == -1.5e-3);
  BOOST_TEST(v[2].get<double>() == 200.0);
  BOOST_TEST(v[3].is_number_integer());
  for (const char* bad : {"1.", ".5", "1e", "1e+", "1.e3", "-", "01.5", "1.5.2"})
    expect_error([&] { parse_json(bad, "bad.json", JsonNumbers::Any); }, "bad.json: bad JSON at byte");
  expect_error([] { parse_json("1e999", "bad.json", JsonNumbers::Any); }, "bad.json: bad JSON: number overflow");
}

BOOST_AUTO_TEST_CASE(round_trip_keeps_tensors_and_metadata) {
  const fs::path path = temp_dir() / "round.safetensors";
  const Metadata meta = {{"source", "test \"quoted\""}, {"format", "pt"}};
  write_safetensors(path.string(), sample_tensors(), meta);
  const SafetensorsContents back = read_safetensors(path.string());
  BOOST_TEST(back.metadata == meta);
  const RawTensorMap expected = sample_tensors();
  BOOST_REQUIRE(back.tensors.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    BOOST_TEST(back.tensors[i].first == expected[i].first);
    BOOST_TEST(dtype_name(back.tensors[i].second.dtype) == dtype_name(expected[i].second.dtype));
    BOOST_TEST(back.tensors[i].second.shape == expected[i].second.shape);
    BOOST_TEST(back.tensors[i].second.data == expected[i].second.data);
  }
  BOOST_TEST(as_float32(back.tensors[0].second)[5] == 6.5f);
  BOOST_TEST(as_float32(back.tensors[1].second)[1] == -1.0f);
  // The header is padded so that the data starts 8-byte aligned.
  uint64_t header_len;
  std::memcpy(&header_len, read_file_bytes(path.string()).data(), 8);
  BOOST_TEST(header_len % 8 == 0u);
  // No temporary file is left beside the output.
  int files = 0;
  for (const auto& e : fs::directory_iterator(path.parent_path())) files += e.path().filename() == "round.safetensors" ? 0 : 1;
  BOOST_TEST(files == 0);
  fs::remove_all(path.parent_path());
}

BOOST_AUTO_TEST_CASE(half_and_bfloat16_convert_to_float32) {
  RawTensor h{DType::F16, {4}, {0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c}};  // 1, -2, smallest subnormal, inf
  const std::vector<float> v = as_float32(h);
  BOOST_TEST(v[0] == 1.0f);
  BOOST_TEST(v[1] == -2.0f);
  BOOST_TEST(v[2] == 5.9604645e-8f);
  BOOST_TEST(std::isinf(v[3]));
  RawTensor b{DType::BF16, {1}, {0xc0, 0x3f}};  // 1.5
  BOOST_TEST(as_float32(b)[0] == 1.5f);
}

BOOST_AUTO_TEST_CASE(every_truncation_is_an_error) {
  const std::string full = serialize_safetensors(sample_tensors(), {{"k", "v"}}, "t");
  BOOST_REQUIRE_NO_THROW(parse_safetensors(full, "t"));
  for (size_t n = 0; n < full.size(); ++n) {
    const std::string prefix = full.substr(0, n);
    BOOST_CHECK_THROW(parse_safetensors(prefix, "cut.safetensors"), differnet::Error);
  }
}

BOOST_AUTO_TEST_CASE(every_single_byte_change_loads_or_gives_error) {
  const std::string full = serialize_safetensors(sample_tensors(), {{"k", "v"}}, "t");
  for (size_t i = 0; i < full.size(); ++i) {
    for (const uint8_t value : {0x00, 0x22, 0x30, 0x5c, 0x7b, 0xff}) {
      std::string changed = full;
      changed[i] = char(value);
      try {
        parse_safetensors(changed, "mutated.safetensors");
      } catch (const differnet::Error&) {
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_files_name_the_file_and_tensor) {
  const std::string f = "bad.safetensors";
  std::string huge(8, '\0');
  huge[0] = '\x40';
  expect_error([&] { parse_safetensors(huge + "{}", f); }, "bad.safetensors: header length 64 runs past the end");
  expect_error([&] { parse_safetensors(with_header("{\"a\":", ""), f); }, "bad.safetensors (safetensors header): bad JSON");
  expect_error([&] { parse_safetensors(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})", std::string(6, 'x')), f); },
               "overlaps tensor");
  expect_error([&] { parse_safetensors(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", std::string(4, 'x')), f); },
               "tensor \"a\": 4 bytes for shape [2]");
  expect_error([&] { parse_safetensors(with_header(R"({"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}})", std::string(4, 'x')), f); },
               "tensor \"a\": unknown dtype \"Q7\"");
  expect_error([&] { parse_safetensors(with_header(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(4, 'x')), f); },
               "negative extent");
  expect_error([&] { parse_safetensors(with_header(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", std::string(4, 'x')), f); },
               "too many elements");
  expect_error([&] { parse_safetensors(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", std::string(4, 'x')), f); },
               "outside the 4-byte data section");
  expect_error([&] { parse_safetensors(with_header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", std::string(4, 'x')), f); },
               "3 bytes after the last tensor");
  expect_error([&] { parse_safetensors(with_header(R"({"__metadata__":{"k":1}})", ""), f); }, "__metadata__ value \"k\"");
  expect_error([] { read_safetensors("/nonexistent/x.safetensors"); }, "/nonexistent/x.safetensors: cannot open");
  expect_error([] { write_safetensors("/nonexistent/dir/x.safetensors", {}); }, "/nonexistent/dir/x.safetensors");
}

BOOST_AUTO_TEST_CASE(streamed_file_equals_the_serialized_one) {
  // The streaming writer (checkpoints, flow files) writes the same bytes as
  // serialize_safetensors; a source giving the wrong byte count is an error
  // naming the tensor, and no file (or temporary file) is left behind.
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("differnet_stream_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  TensorSourceMap sources;
  for (const auto& [name, t] : sample_tensors()) sources.emplace_back(name, source_of(t));
  const std::string path = (dir / "streamed.safetensors").string();
  stream_safetensors(path, sources, {{"k", "v"}});
  BOOST_CHECK(read_file_bytes(path) == serialize_safetensors(sample_tensors(), {{"k", "v"}}, "t"));

  TensorSource wrong = sources.front().second;
  wrong.bytes = [](const PartWriter& write) { write("x"); };
  sources.front().second = wrong;
  const std::string bad = (dir / "bad.safetensors").string();
  expect_error([&] { stream_safetensors(bad, sources); }, "bad.safetensors: tensor \"" + sources.front().first + "\" gave 1 bytes");
  BOOST_CHECK_EQUAL(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1);
  std::filesystem::remove_all(dir);
}
