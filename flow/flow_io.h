// The flow as a safetensors file: the file alone defines the flow.
//
// __metadata__: "format": "differnet-flow", "dims", "hidden", "blocks",
// "alpha" (decimal strings), plus any extra entries the caller adds.
// Tensors, for each block k (PyTorch layout, weight [out, in]):
//   flow.<k>.perm                       int64 [dims]: the block's input is x[:, perm]
//   flow.<k>.subnet1.<i>.weight / .bias i in {0, 2, 4, 6}; subnet1 reads y1 and
//   flow.<k>.subnet2.<i>.weight / .bias gives (s1 | t1); subnet2 reads x2 and gives (s2 | t2)
// in float32 or float64 (the flow's dtype). The <i> follow torch.nn.Sequential
// numbering, so `flow.<k>.subnet1` loads into
// nn.Sequential(Linear, ReLU, Linear, ReLU, Linear, ReLU, Linear) with
// load_state_dict; scripts/make_flow_golden.py holds such a PyTorch module.
#pragma once
#include <memory>
#include <string>

#include "flow/flow.h"
#include "weights/safetensors.h"

namespace differnet {

// Writes the flow's parameters and permutations (atomically). Extra metadata
// may not override the configuration keys.
void save_flow(const std::string& path, const DifferNetFlow& flow, const weights::Metadata& extra_metadata = {});

// Reads a flow written by save_flow (or by any program that follows the
// layout above). Parameters are converted to `dtype`. Throws differnet::Error
// naming the file and the tensor for a missing, extra, mis-shaped or
// wrongly typed tensor, a non-finite parameter, a bad permutation or bad
// metadata; corrupt and truncated files are rejected by read_safetensors.
std::shared_ptr<DifferNetFlow> load_flow(const std::string& path, DType dtype = DType::Float32,
                                         Device device = Device::CPU);
// The metadata of a flow file (configuration and extras), e.g. for an app.
weights::Metadata read_flow_metadata(const std::string& path);

}  // namespace differnet
