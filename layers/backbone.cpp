#include "layers/backbone.h"

#include <algorithm>
#include <sstream>

#include "layers/alexnet.h"
#include "layers/squeezenet.h"
#include "layers/state_dict.h"
#include "weights/pytorch_checkpoint.h"

namespace differnet {

std::vector<std::string> backbone_names() { return {"alexnet", "squeezenet1_1"}; }

std::shared_ptr<Backbone> make_backbone(const std::string& name, uint64_t seed, DType dtype, Device device) {
  Generator gen(seed);
  std::shared_ptr<Backbone> backbone;
  if (name == "alexnet") backbone = std::make_shared<AlexNetFeatures>(gen, dtype, device);
  else if (name == "squeezenet1_1") backbone = std::make_shared<SqueezeNet1_1Features>(gen, dtype, device);
  if (!backbone) {
    std::ostringstream known;
    for (const auto& n : backbone_names()) known << (known.tellp() > 0 ? ", " : "") << "'" << n << "'";
    throw Error(detail::concat("unknown backbone '", name, "': known backbones are ", known.str()));
  }
  backbone->set_trainable(false);
  return backbone;
}

void load_backbone_weights(Backbone& backbone, const std::string& path) {
  weights::RawTensorMap tensors = weights::load_weights_file(path);
  // A full torchvision model's file also holds the classifier head, which a backbone does not have.
  const std::string head = "classifier.";
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                               [&](const auto& entry) { return entry.first.compare(0, head.size(), head) == 0; }),
                tensors.end());
  load_state_dict(backbone, tensors, path);
}

}  // namespace differnet
