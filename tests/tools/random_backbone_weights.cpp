// random_backbone_weights NAME OUT.safetensors [SEED]: a randomly initialised
// backbone written as a weights file, so that tests which run the programs
// (train_mvtec through differnet_sweep) need no downloaded ImageNet weights.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "layers/backbone.h"
#include "weights/safetensors.h"
#include "weights/tensor_convert.h"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: random_backbone_weights alexnet|squeezenet1_1 OUT.safetensors [SEED]\n");
    return 2;
  }
  try {
    const auto backbone = differnet::make_backbone(argv[1], argc == 4 ? std::strtoull(argv[3], nullptr, 10) : 7);
    differnet::weights::RawTensorMap tensors;
    for (const auto& [name, t] : backbone->named_parameters()) tensors.emplace_back(name, differnet::weights::to_raw(t));
    differnet::weights::write_safetensors(argv[2], tensors);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "random_backbone_weights: %s\n", e.what());
    return 1;
  }
}
