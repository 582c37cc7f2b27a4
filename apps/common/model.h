// The DifferNet model: the frozen multi-scale feature extractor and the flow,
// and the three things the programs do with them: a training step on a batch
// of features, anomaly scores (paper eq. 5), and input gradients for the
// defect maps (paper eq. 7).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/batch.h"
#include "flow/flow.h"
#include "layers/adam.h"
#include "layers/feature_extractor.h"
#include "weights/safetensors.h"

namespace differnet::app {

struct ModelConfig {
  std::string backbone = "alexnet";
  int64_t image_size = 448;
  int scales = 3;
  int64_t blocks = 8;
  int64_t hidden = 2048;
  double alpha = 3.0;
  uint64_t seed = 0;
};

class DifferNetModel {
 public:
  // A new model: backbone weights from `weights_path` (an empty path keeps the
  // backbone's random initialisation: for benchmarks), a freshly initialised flow.
  DifferNetModel(const ModelConfig& config, const std::string& weights_path, Device device);
  // A trained model from model.safetensors (flow + configuration in __metadata__).
  static std::unique_ptr<DifferNetModel> load(const std::string& model_path, const std::string& weights_path,
                                              Device device);
  // Writes model.safetensors: the flow, the configuration, and `extra` metadata (threshold, ...).
  void save(const std::string& path, const weights::Metadata& extra) const;

  // Images [N, 3, S, S] (normalised float32, or on the CPU the uint8 pixels of
  // a data::BatchForm::Pixels batch) -> features [N, dims], frozen, no tape;
  // on the CPU in pieces of at most kCpuFeatureChunk images (memory).
  Tensor features(const Tensor& images) const;
  static constexpr int64_t kCpuFeatureChunk = 16;
  // The form in which to hand features() a whole training batch: on the CPU
  // uint8 pixels, normalised a piece at a time (a quarter of the float batch's
  // memory); on the GPU the floats of the fused batch kernel.
  data::BatchForm batch_form() const;
  // Zeroes the gradients, computes the NLL (paper eq. 4) of a batch of
  // features and back-propagates it into the flow's gradients; returns the loss
  // (on the device). The caller checks it and calls optimizer.step().
  Tensor loss_and_gradients(const Tensor& features, Adam& optimizer) const;
  // z of a batch of features, no tape.
  Tensor latents(const Tensor& features) const;
  // The gradient of the NLL of the T transforms of one image with respect to
  // its input pixels ([T, 3, S, S] -> T host vectors of 3*S*S), with no weight gradients.
  std::vector<std::vector<float>> input_gradients(const Tensor& images) const;

  const ModelConfig& config() const { return config_; }
  DifferNetFlow& flow() const { return *flow_; }
  const FeatureExtractor& extractor() const { return *extractor_; }
  Device device() const { return device_; }
  int64_t feature_dim() const { return extractor_->feature_dim(); }

 private:
  DifferNetModel(const ModelConfig& config, const std::string& weights_path, Device device,
                 std::shared_ptr<DifferNetFlow> flow);
  ModelConfig config_;
  Device device_;
  std::shared_ptr<FeatureExtractor> extractor_;
  std::shared_ptr<DifferNetFlow> flow_;
};

// The configuration as model.safetensors metadata, and back (errors name the key).
weights::Metadata config_metadata(const ModelConfig& config);
ModelConfig config_from_metadata(const weights::Metadata& metadata, const std::string& file);

}  // namespace differnet::app
