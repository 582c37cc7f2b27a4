#include "flow/flow_io.h"

#include "weights/tensor_convert.h"

#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

namespace differnet {
namespace {

constexpr const char* kFormat = "differnet-flow";
const char* const kConfigKeys[] = {"format", "dims", "hidden", "blocks", "alpha"};

std::string param_key(const std::string& name) { return "flow." + name; }
std::string perm_key(int64_t k) { return "flow." + std::to_string(k) + ".perm"; }

std::string format_double(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

int64_t metadata_int(const weights::Metadata& m, const char* key, const std::string& path) {
  auto it = m.find(key);
  DIFFERNET_CHECK(it != m.end(), path, ": flow metadata lacks '", key, "'");
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  DIFFERNET_CHECK(used == it->second.size() && used > 0, path, ": flow metadata '", key, "' is not an integer: '",
                  it->second, "'");
  return v;
}

double metadata_double(const weights::Metadata& m, const char* key, const std::string& path) {
  auto it = m.find(key);
  DIFFERNET_CHECK(it != m.end(), path, ": flow metadata lacks '", key, "'");
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  DIFFERNET_CHECK(used == it->second.size() && used > 0, path, ": flow metadata '", key, "' is not a number: '",
                  it->second, "'");
  return v;
}

FlowConfig config_from_metadata(const weights::Metadata& m, const std::string& path) {
  auto format = m.find("format");
  DIFFERNET_CHECK(format != m.end() && format->second == kFormat, path, ": not a DifferNet flow file (metadata ",
                  "'format' must be '", kFormat, "')");
  FlowConfig c;
  c.dims = metadata_int(m, "dims", path);
  c.hidden = metadata_int(m, "hidden", path);
  c.blocks = metadata_int(m, "blocks", path);
  c.alpha = metadata_double(m, "alpha", path);
  try {
    validate(c);
  } catch (const Error& e) {
    throw Error(detail::concat(path, ": ", e.what()));
  }
  return c;
}

const weights::RawTensor& require_tensor(const weights::RawTensorMap& tensors, const std::string& name,
                                         const std::string& path) {
  const weights::RawTensor* t = weights::find_tensor(tensors, name);
  DIFFERNET_CHECK(t != nullptr, path, ": tensor '", name, "' is missing");
  return *t;
}

std::vector<int64_t> read_permutation(const weights::RawTensor& t, const std::string& name, int64_t dims,
                                      const std::string& path) {
  DIFFERNET_CHECK(t.dtype == weights::DType::I64, path, ": tensor '", name, "' has dtype ",
                  weights::dtype_name(t.dtype), ", expected int64");
  DIFFERNET_CHECK(t.shape == std::vector<int64_t>{dims}, path, ": tensor '", name, "' has shape ",
                  weights::shape_string(t.shape), ", expected [", dims, "]");
  std::vector<int64_t> perm(static_cast<size_t>(dims));
  std::memcpy(perm.data(), t.data.data(), perm.size() * sizeof(int64_t));
  std::vector<bool> seen(perm.size(), false);
  for (size_t i = 0; i < perm.size(); ++i) {
    DIFFERNET_CHECK(perm[i] >= 0 && perm[i] < dims && !seen[size_t(perm[i])], path, ": tensor '", name,
                    "' is not a permutation of 0..", dims - 1, " (entry ", i, " is ", perm[i], ")");
    seen[size_t(perm[i])] = true;
  }
  return perm;
}

}  // namespace

void save_flow(const std::string& path, const DifferNetFlow& flow, const weights::Metadata& extra_metadata) {
  const FlowConfig& c = flow.config();
  weights::Metadata meta = extra_metadata;
  for (const char* key : kConfigKeys)
    DIFFERNET_CHECK(!meta.count(key), "save_flow: extra metadata may not set the configuration key '", key, "'");
  meta["format"] = kFormat;
  meta["dims"] = std::to_string(c.dims);
  meta["hidden"] = std::to_string(c.hidden);
  meta["blocks"] = std::to_string(c.blocks);
  meta["alpha"] = format_double(c.alpha);

  weights::TensorSourceMap tensors;  // written from the parameters' own memory, not copied
  const auto params = flow.named_parameters();
  size_t next = 0;
  for (int64_t k = 0; k < c.blocks; ++k) {
    const std::vector<int64_t>& perm = flow.block(k).permutation();
    weights::RawTensor raw;
    raw.dtype = weights::DType::I64;
    raw.shape = {int64_t(perm.size())};
    raw.data.resize(perm.size() * sizeof(int64_t));
    std::memcpy(raw.data.data(), perm.data(), raw.data.size());
    tensors.emplace_back(perm_key(k), weights::source_of(std::move(raw)));
    const std::string block_prefix = std::to_string(k) + ".";
    for (; next < params.size() && params[next].first.compare(0, block_prefix.size(), block_prefix) == 0; ++next)
      tensors.emplace_back(param_key(params[next].first), weights::to_source(params[next].second));
  }
  weights::stream_safetensors(path, tensors, meta);
}

weights::Metadata read_flow_metadata(const std::string& path) {
  weights::Metadata meta = weights::read_safetensors(path).metadata;
  config_from_metadata(meta, path);
  return meta;
}

std::shared_ptr<DifferNetFlow> load_flow(const std::string& path, DType dtype, Device device) {
  const weights::SafetensorsContents file = weights::read_safetensors(path);
  const FlowConfig config = config_from_metadata(file.metadata, path);

  std::set<std::string> expected;
  std::vector<std::vector<int64_t>> perms;
  for (int64_t k = 0; k < config.blocks; ++k) {
    const std::string name = perm_key(k);
    expected.insert(name);
    perms.push_back(read_permutation(require_tensor(file.tensors, name, path), name, config.dims, path));
  }
  auto flow = std::make_shared<DifferNetFlow>(config, perms, dtype, Device::CPU);
  for (auto& [name, param] : flow->named_parameters()) {
    const std::string key = param_key(name);
    expected.insert(key);
    const weights::RawTensor& raw = require_tensor(file.tensors, key, path);
    DIFFERNET_CHECK(raw.dtype == weights::DType::F32 || raw.dtype == weights::DType::F64, path, ": tensor '", key,
                    "' has dtype ", weights::dtype_name(raw.dtype), ", expected float32 or float64");
    weights::copy_into(raw, param, path + ": tensor '" + key + "'");
  }
  for (const auto& [name, raw] : file.tensors)
    DIFFERNET_CHECK(expected.count(name), path, ": unexpected tensor '", name, "' (not part of a flow with ",
                    config.blocks, " blocks)");
  flow->to(device);
  return flow;
}

}  // namespace differnet
