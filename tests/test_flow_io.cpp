// Flow files: save -> load round trips, every kind of bad file is rejected
// with the tensor or file named, and the golden flow written by PyTorch
// (scripts/make_flow_golden.py) gives PyTorch's z, log-det and input gradient.
#define BOOST_TEST_MODULE flow_io
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "autograd/grad_mode.h"
#include "flow/flow_io.h"
#include "test_support.h"

using namespace differnet;
using namespace differnet::testing;
namespace fs = std::filesystem;

namespace {

const std::string kGoldenDir = std::string(DIFFERNET_SOURCE_DIR) + "/tests/fixtures/flow/";

FlowConfig small_config() {
  FlowConfig c;
  c.dims = 8;
  c.hidden = 6;
  c.blocks = 2;
  c.seed = 4;
  return c;
}

const fs::path kTempDir = fs::temp_directory_path() / ("differnet_test_flow_io_" + std::to_string(::getpid()));

struct RemoveTempDir {
  ~RemoveTempDir() { fs::remove_all(kTempDir); }
};
BOOST_TEST_GLOBAL_FIXTURE(RemoveTempDir);

std::string temp_path(const std::string& name) {
  fs::create_directories(kTempDir);
  return (kTempDir / name).string();
}

Tensor from_raw(const weights::RawTensor& raw) {
  BOOST_REQUIRE(raw.dtype == weights::DType::F64);
  std::vector<double> v(raw.data.size() / sizeof(double));
  std::memcpy(v.data(), raw.data.data(), raw.data.size());
  return Tensor::from_vector(v, raw.shape);
}

auto message_has(const std::string& part) {
  return [part](const Error& e) {
    BOOST_TEST_MESSAGE(e.what());
    return std::string(e.what()).find(part) != std::string::npos;
  };
}

// Writes a copy of a valid flow file with `edit` applied to its tensors and metadata.
std::string edited_file(const std::string& name,
                        const std::function<void(weights::RawTensorMap&, weights::Metadata&)>& edit) {
  const std::string source = temp_path("valid.safetensors");
  save_flow(source, DifferNetFlow(small_config()));
  weights::SafetensorsContents c = weights::read_safetensors(source);
  edit(c.tensors, c.metadata);
  const std::string path = temp_path(name);
  weights::write_safetensors(path, c.tensors, c.metadata);
  return path;
}

weights::RawTensor& tensor_named(weights::RawTensorMap& m, const std::string& name) {
  for (auto& [n, t] : m)
    if (n == name) return t;
  BOOST_FAIL("no tensor " << name);
  throw;
}

}  // namespace

BOOST_AUTO_TEST_CASE(save_load_gives_identical_outputs) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    BOOST_TEST_CONTEXT(dtype_name(dtype)) {
      DifferNetFlow flow(small_config(), dtype);
      const std::string path = temp_path("flow.safetensors");
      save_flow(path, flow, {{"category", "bottle"}});
      const auto loaded = load_flow(path, dtype);
      const Tensor y = random_tensor({5, 8}, 1, -2, 2, dtype);
      NoGradGuard no_grad;
      const FlowOutput a = flow.forward(y), b = loaded->forward(y);
      DIFFERNET_CHECK_CLOSE_VECTORS(values(a.z), values(b.z), 0, 0);
      DIFFERNET_CHECK_CLOSE_VECTORS(values(a.log_jac_det), values(b.log_jac_det), 0, 0);
      for (int64_t k = 0; k < 2; ++k) BOOST_CHECK(loaded->block(k).permutation() == flow.block(k).permutation());
      const weights::Metadata meta = read_flow_metadata(path);
      BOOST_CHECK_EQUAL(meta.at("category"), "bottle");
      BOOST_CHECK_EQUAL(meta.at("dims"), "8");
      BOOST_CHECK_EQUAL(meta.at("alpha"), "3");
      // Tensor names: flow.<k>.perm and flow.<k>.subnet<j>.<i>.weight|bias.
      const auto contents = weights::read_safetensors(path);
      BOOST_CHECK(weights::find_tensor(contents.tensors, "flow.1.perm") != nullptr);
      BOOST_CHECK(weights::find_tensor(contents.tensors, "flow.1.subnet2.6.bias") != nullptr);
      BOOST_CHECK_EQUAL(contents.tensors.size(), 2u * (1 + 16));
    }
  }
  // The stored permutations are used, not the ones seeded by block index.
  const std::string path = edited_file("swapped.safetensors", [](weights::RawTensorMap& m, weights::Metadata&) {
    std::swap(tensor_named(m, "flow.0.perm").data, tensor_named(m, "flow.1.perm").data);
  });
  const auto loaded = load_flow(path);
  BOOST_CHECK(loaded->block(0).permutation() == block_permutation(1, 8));
  BOOST_CHECK_THROW(save_flow(path, *loaded, {{"dims", "9"}}), Error);
}

BOOST_AUTO_TEST_CASE(bad_files_name_the_tensor) {
  auto edit = [](const std::string& name, auto f) { return edited_file(name, f); };
  using M = weights::RawTensorMap;
  using Meta = weights::Metadata;
  BOOST_CHECK_EXCEPTION(load_flow(edit("missing.st", [](M& m, Meta&) {
                          m.erase(std::find_if(m.begin(), m.end(), [](auto& e) { return e.first == "flow.1.subnet1.2.weight"; }));
                        })), Error, message_has("tensor 'flow.1.subnet1.2.weight' is missing"));
  BOOST_CHECK_EXCEPTION(load_flow(edit("extra.st", [](M& m, Meta&) { m.emplace_back("flow.2.perm", m[0].second); })),
                        Error, message_has("unexpected tensor 'flow.2.perm'"));
  BOOST_CHECK_EXCEPTION(load_flow(edit("shape.st", [](M& m, Meta&) {
                          auto& t = tensor_named(m, "flow.0.subnet2.4.weight");
                          t.shape = {3, 12};
                        })), Error, message_has("'flow.0.subnet2.4.weight' has shape [3, 12], expected [6, 6]"));
  BOOST_CHECK_EXCEPTION(load_flow(edit("dtype.st", [](M& m, Meta&) {
                          auto& t = tensor_named(m, "flow.0.subnet1.0.bias");
                          t.dtype = weights::DType::I32;
                        })), Error, message_has("'flow.0.subnet1.0.bias' has dtype int32"));
  BOOST_CHECK_EXCEPTION(load_flow(edit("nan.st", [](M& m, Meta&) {
                          auto& t = tensor_named(m, "flow.1.subnet2.0.weight");
                          const float nan = NAN;
                          std::memcpy(t.data.data() + 4 * 5, &nan, 4);
                        })), Error, message_has("'flow.1.subnet2.0.weight' holds a non-finite value (nan) at element 5"));
  BOOST_CHECK_EXCEPTION(load_flow(edit("inf.st", [](M& m, Meta&) {
                          auto& t = tensor_named(m, "flow.0.subnet1.6.bias");
                          const float inf = -INFINITY;
                          std::memcpy(t.data.data(), &inf, 4);
                        })), Error, message_has("'flow.0.subnet1.6.bias' holds a non-finite value"));
  BOOST_CHECK_EXCEPTION(load_flow(edit("perm.st", [](M& m, Meta&) {
                          auto& t = tensor_named(m, "flow.1.perm");
                          const int64_t v = 8;
                          std::memcpy(t.data.data() + 8 * 3, &v, 8);
                        })), Error, message_has("'flow.1.perm' is not a permutation"));
  BOOST_CHECK_EXCEPTION(load_flow(edit("nometa.st", [](M&, Meta& meta) { meta.erase("hidden"); })), Error,
                        message_has("lacks 'hidden'"));
  BOOST_CHECK_EXCEPTION(load_flow(edit("badmeta.st", [](M&, Meta& meta) { meta["blocks"] = "two"; })), Error,
                        message_has("'blocks' is not an integer"));
  BOOST_CHECK_EXCEPTION(load_flow(edit("odd.st", [](M&, Meta& meta) { meta["dims"] = "7"; })), Error,
                        message_has("even"));
  BOOST_CHECK_EXCEPTION(load_flow(edit("format.st", [](M&, Meta& meta) { meta.erase("format"); })), Error,
                        message_has("not a DifferNet flow file"));
}

BOOST_AUTO_TEST_CASE(corrupt_and_truncated_files_name_the_file) {
  const std::string path = temp_path("whole.safetensors");
  save_flow(path, DifferNetFlow(small_config()));
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string truncated = temp_path("truncated.safetensors");
  for (size_t keep : {size_t(0), size_t(5), size_t(100), bytes.size() / 2, bytes.size() - 1}) {
    std::ofstream(truncated, std::ios::binary).write(bytes.data(), std::streamsize(keep));
    BOOST_CHECK_EXCEPTION(load_flow(truncated), Error, message_has("truncated.safetensors"));
  }
  std::string corrupt = bytes;
  corrupt[12] = '#';  // inside the JSON header
  const std::string corrupt_path = temp_path("corrupt.safetensors");
  std::ofstream(corrupt_path, std::ios::binary).write(corrupt.data(), std::streamsize(corrupt.size()));
  BOOST_CHECK_EXCEPTION(load_flow(corrupt_path), Error, message_has("corrupt.safetensors"));
  BOOST_CHECK_EXCEPTION(load_flow(temp_path("does_not_exist.safetensors")), Error, message_has("does_not_exist"));
}

BOOST_AUTO_TEST_CASE(golden_flow_matches_pytorch) {
  const auto io = weights::read_safetensors(kGoldenDir + "golden_io.safetensors").tensors;
  // "": ordinary inputs; "_clamp": large inputs whose coupling outputs pass the
  // hard clamp, where subnet1 must read the unclamped y1 (published code).
  for (const std::string suffix : {"", "_clamp"}) {
    const auto get = [&](const std::string& name) { return from_raw(*weights::find_tensor(io, name + suffix)); };
    const Tensor y = get("y");
    const auto z_ref = values(get("z"));
    const auto ld_ref = values(get("log_jac_det"));
    const double nll_ref = values(get("nll"))[0];
    const auto grad_ref = values(get("grad_y"));
    // Tolerances: relative 1e-5 in float64 (the two sides differ only in
    // summation order; we see ~1e-15), 1e-4 in float32 (plus 1e-5 absolute for
    // values near 0).
    for (DType dtype : {DType::Float64, DType::Float32}) {
      BOOST_TEST_CONTEXT(dtype_name(dtype) << " inputs y" << suffix) {
        const double rtol = dtype == DType::Float64 ? 1e-5 : 1e-4, atol = dtype == DType::Float64 ? 1e-12 : 1e-5;
        const auto flow = load_flow(kGoldenDir + "golden_flow.safetensors", dtype);
        Tensor input = y.to(dtype).set_requires_grad(true);
        const FlowOutput out = flow->forward(input);
        const Tensor loss = nll_loss(out.z, out.log_jac_det);
        loss.backward();
        DIFFERNET_CHECK_CLOSE_VECTORS(values(out.z), z_ref, atol, rtol);
        DIFFERNET_CHECK_CLOSE_VECTORS(values(out.log_jac_det), ld_ref, atol, rtol);
        BOOST_CHECK_CLOSE_FRACTION(loss.item(), nll_ref, rtol);
        DIFFERNET_CHECK_CLOSE_VECTORS(values(input.grad()), grad_ref, atol, rtol);
        BOOST_TEST_MESSAGE(dtype_name(dtype) << suffix << " z error ratio "
                                             << worst_error_ratio(values(out.z), z_ref, atol, rtol)
                                             << ", grad error ratio "
                                             << worst_error_ratio(values(input.grad()), grad_ref, atol, rtol));
      }
    }
  }
}
