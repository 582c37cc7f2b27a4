#include "apps/common/checkpoint.h"

#include <cstring>

#include "weights/safetensors.h"
#include "weights/tensor_convert.h"

namespace differnet::app {
namespace {

weights::RawTensor int64_raw(const std::vector<int64_t>& values) {
  weights::RawTensor raw;
  raw.dtype = weights::DType::I64;
  raw.shape = {int64_t(values.size())};
  raw.data.resize(values.size() * sizeof(int64_t));
  std::memcpy(raw.data.data(), values.data(), raw.data.size());
  return raw;
}

}  // namespace

// Streams the parameters and Adam's moments from their own memory (no copy:
// for the paper's flow they are 2 GB).
void save_checkpoint(const std::string& path, const DifferNetFlow& flow, const Adam& adam, const Progress& p) {
  weights::TensorSourceMap tensors;
  for (int64_t k = 0; k < flow.config().blocks; ++k)
    tensors.emplace_back("flow." + std::to_string(k) + ".perm", weights::source_of(int64_raw(flow.block(k).permutation())));
  for (const auto& [name, t] : flow.named_parameters()) tensors.emplace_back("flow." + name, weights::to_source(t));
  for (const auto& [name, t] : adam.state_dict()) tensors.emplace_back("adam." + name, weights::to_source(t));
  const size_t columns = p.history.empty() ? 0 : p.history[0].size();
  std::vector<double> history;
  for (const auto& row : p.history) history.insert(history.end(), row.begin(), row.end());
  tensors.emplace_back("progress.history",
                       weights::to_source(Tensor::from_vector(history, {int64_t(p.history.size()), int64_t(columns)})));
  tensors.emplace_back("progress.sums", weights::to_source(Tensor::from_vector(
                                            std::vector<double>{p.epoch_loss_sum, p.meta_loss_sum}, {2})));
  weights::stream_safetensors(path, tensors,
                             {{"format", "differnet-checkpoint"},
                              {"epoch", std::to_string(p.epoch)},
                              {"step_in_epoch", std::to_string(p.step_in_epoch)}});
}

Progress load_checkpoint(const std::string& path, DifferNetFlow& flow, Adam& adam) {
  const weights::SafetensorsContents file = weights::read_safetensors(path);
  auto meta = [&](const std::string& key) {
    auto it = file.metadata.find(key);
    DIFFERNET_CHECK(it != file.metadata.end(), path, ": metadata '", key, "' is missing (not a DifferNet checkpoint)");
    return it->second;
  };
  DIFFERNET_CHECK(meta("format") == "differnet-checkpoint", path, ": not a DifferNet checkpoint");
  auto tensor = [&](const std::string& name) -> const weights::RawTensor& {
    const weights::RawTensor* t = weights::find_tensor(file.tensors, name);
    DIFFERNET_CHECK(t != nullptr, path, ": tensor '", name, "' is missing");
    return *t;
  };
  for (int64_t k = 0; k < flow.config().blocks; ++k) {
    const std::string name = "flow." + std::to_string(k) + ".perm";
    const weights::RawTensor& perm = tensor(name);
    const auto& expected = flow.block(k).permutation();
    DIFFERNET_CHECK(perm.dtype == weights::DType::I64 && perm.data.size() == expected.size() * sizeof(int64_t) &&
                        std::memcmp(perm.data.data(), expected.data(), perm.data.size()) == 0,
                    path, ": '", name, "' differs from this run's flow: the checkpoint belongs to another configuration");
  }
  size_t used = flow.config().blocks;
  for (auto& [name, param] : flow.named_parameters()) {
    Tensor p = param;
    weights::copy_into(tensor("flow." + name), p, path + ": tensor 'flow." + name + "'");
    ++used;
  }
  std::vector<std::pair<std::string, Tensor>> state;
  for (const char* name : {"step", "exp_avg", "exp_avg_sq"}) {
    state.emplace_back(name, weights::to_tensor(tensor(std::string("adam.") + name), path + ": adam." + name));
    ++used;
  }
  adam.load_state_dict(state);
  Progress p;
  auto integer = [&](const std::string& key) {
    try {
      return std::stoi(meta(key));
    } catch (const std::logic_error&) {
      throw Error(path + ": metadata '" + key + "' is not an integer");
    }
  };
  p.epoch = integer("epoch");
  p.step_in_epoch = integer("step_in_epoch");
  const Tensor sums = weights::to_tensor(tensor("progress.sums"), path + ": progress.sums");
  DIFFERNET_CHECK(sums.numel() == 2, path, ": progress.sums should hold 2 values");
  p.epoch_loss_sum = sums.to(DType::Float64).data<double>()[0];
  p.meta_loss_sum = sums.to(DType::Float64).data<double>()[1];
  const weights::RawTensor& h = tensor("progress.history");
  DIFFERNET_CHECK(h.shape.size() == 2, path, ": progress.history should be 2-D");
  const Tensor history = weights::to_tensor(h, path + ": progress.history").to(DType::Float64);
  for (int64_t r = 0; r < h.shape[0]; ++r)
    p.history.emplace_back(history.data<double>() + r * h.shape[1], history.data<double>() + (r + 1) * h.shape[1]);
  used += 2;
  DIFFERNET_CHECK(used == file.tensors.size(), path, ": holds ", file.tensors.size(), " tensors, expected ", used);
  return p;
}

}  // namespace differnet::app
