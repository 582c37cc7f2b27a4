#include "apps/common/model.h"

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "flow/flow_io.h"

namespace differnet::app {
namespace {

FlowConfig flow_config(const ModelConfig& c, int64_t dims) {
  FlowConfig f;
  f.dims = dims;
  f.hidden = c.hidden;
  f.blocks = c.blocks;
  f.alpha = c.alpha;
  f.seed = c.seed;
  return f;
}

std::shared_ptr<FeatureExtractor> make_extractor(const ModelConfig& c, const std::string& weights_path, Device device) {
  auto backbone = make_backbone(c.backbone, c.seed, DType::Float32, Device::CPU);
  if (!weights_path.empty()) load_backbone_weights(*backbone, weights_path);  // "": random (benchmarks)
  backbone->to(device);
  return std::make_shared<FeatureExtractor>(backbone, c.image_size, c.scales);
}

}  // namespace

DifferNetModel::DifferNetModel(const ModelConfig& config, const std::string& weights_path, Device device)
    : config_(config), device_(device), extractor_(make_extractor(config, weights_path, device)) {
  flow_ = std::make_shared<DifferNetFlow>(flow_config(config, extractor_->feature_dim()), DType::Float32, device);
}

DifferNetModel::DifferNetModel(const ModelConfig& config, const std::string& weights_path, Device device,
                               std::shared_ptr<DifferNetFlow> flow)
    : config_(config), device_(device), extractor_(make_extractor(config, weights_path, device)), flow_(std::move(flow)) {
  DIFFERNET_CHECK(flow_->config().dims == extractor_->feature_dim(), "the flow reads ", flow_->config().dims,
                  " features but the ", config.backbone, " extractor at ", config.scales, " scales gives ",
                  extractor_->feature_dim(), ": the model file and the backbone do not belong together");
}

std::unique_ptr<DifferNetModel> DifferNetModel::load(const std::string& model_path, const std::string& weights_path,
                                                     Device device) {
  const ModelConfig config = config_from_metadata(read_flow_metadata(model_path), model_path);
  auto flow = load_flow(model_path, DType::Float32, device);
  return std::unique_ptr<DifferNetModel>(new DifferNetModel(config, weights_path, device, flow));
}

void DifferNetModel::save(const std::string& path, const weights::Metadata& extra) const {
  weights::Metadata meta = config_metadata(config_);
  for (const auto& [k, v] : extra) meta[k] = v;
  save_flow(path, *flow_, meta);
}

Tensor DifferNetModel::features(const Tensor& images) const {
  NoGradGuard no_grad;
  // On the CPU the backbone's activations at 448 px take about 15 MB per
  // sample; a training batch (96 samples) in pieces of kCpuFeatureChunk needs
  // a sixth of that at once (the convolutions still give every thread whole
  // images). The pieces are the size features_of uses for the test images.
  // uint8 pixels are normalised a piece at a time, so that the float32 form of
  // the whole batch never exists.
  const int64_t n = images.size(0);
  const bool pixels = images.dtype() == DType::UInt8;
  auto piece = [&](int64_t start, int64_t count) {
    if (pixels) return data::normalize_pixels(images, start, count);
    return count == n ? images : narrow(images, 0, start, count);
  };
  const int64_t chunk = device_ == Device::CPU ? kCpuFeatureChunk : n;
  if (n <= chunk) return extractor_->forward(piece(0, n));
  std::vector<Tensor> parts;
  for (int64_t start = 0; start < n; start += chunk)
    parts.push_back(extractor_->forward(piece(start, std::min(chunk, n - start))));
  return concat(parts, 0);
}

data::BatchForm DifferNetModel::batch_form() const {
  return device_ == Device::CPU ? data::BatchForm::Pixels : data::BatchForm::Normalized;
}

Tensor DifferNetModel::loss_and_gradients(const Tensor& features, Adam& optimizer) const {
  optimizer.zero_grad();
  const FlowOutput out = flow_->forward(features);
  Tensor loss = nll_loss(out.z, out.log_jac_det);  // paper eq. 4
  loss.backward();
  return loss.detach();
}

Tensor DifferNetModel::latents(const Tensor& features) const {
  NoGradGuard no_grad;
  return flow_->forward(features).z;
}

std::vector<std::vector<float>> DifferNetModel::input_gradients(const Tensor& images) const {
  Tensor x = images.detach();
  x.set_requires_grad(true);
  // The flow's parameters would otherwise collect gradients too: freeze them for this pass.
  std::vector<Tensor> params = flow_->parameters();
  std::vector<bool> trainable;
  for (Tensor& p : params) {
    trainable.push_back(p.requires_grad());
    p.set_requires_grad(false);
  }
  std::vector<std::vector<float>> grads;
  try {
    const FlowOutput out = flow_->forward(extractor_->forward(x));
    nll_loss(out.z, out.log_jac_det).backward();  // paper eq. 7: d NLL / d pixels
    const Tensor g = x.grad().to(Device::CPU);
    const std::vector<float> all = g.to_vector<float>();
    const size_t per = all.size() / size_t(x.size(0));
    for (int64_t i = 0; i < x.size(0); ++i)
      grads.emplace_back(all.begin() + long(size_t(i) * per), all.begin() + long(size_t(i + 1) * per));
  } catch (...) {
    for (size_t i = 0; i < params.size(); ++i) params[i].set_requires_grad(trainable[i]);
    throw;
  }
  for (size_t i = 0; i < params.size(); ++i) params[i].set_requires_grad(trainable[i]);
  return grads;
}

weights::Metadata config_metadata(const ModelConfig& c) {
  return {{"model", "differnet"},
          {"backbone", c.backbone},
          {"image_size", std::to_string(c.image_size)},
          {"scales", std::to_string(c.scales)},
          {"seed", std::to_string(c.seed)}};
}

ModelConfig config_from_metadata(const weights::Metadata& m, const std::string& file) {
  auto get = [&](const std::string& key) -> std::string {
    auto it = m.find(key);
    DIFFERNET_CHECK(it != m.end(), file, ": metadata '", key, "' is missing (not a DifferNet model file?)");
    return it->second;
  };
  auto integer = [&](const std::string& key) -> int64_t {
    const std::string v = get(key);
    try {
      size_t used = 0;
      const long long n = std::stoll(v, &used);
      DIFFERNET_CHECK(used == v.size(), "");
      return n;
    } catch (const std::exception&) {
      throw Error(file + ": metadata '" + key + "' is not an integer: '" + v + "'");
    }
  };
  DIFFERNET_CHECK(get("model") == "differnet", file, ": metadata 'model' is '", get("model"), "', not 'differnet'");
  ModelConfig c;
  c.backbone = get("backbone");
  c.image_size = integer("image_size");
  c.scales = int(integer("scales"));
  c.blocks = integer("blocks");
  c.hidden = integer("hidden");
  c.alpha = std::stod(get("alpha"));
  c.seed = uint64_t(integer("seed"));
  return c;
}

}  // namespace differnet::app
