// PyTorch checkpoints holding a state dict (torch.save(model.state_dict())),
// in both of torch.save's formats:
//  - zip (torch >= 1.6): <prefix>/data.pkl, <prefix>/data/<key> storages, ...
//  - legacy (before 1.6): pickles of the magic number, the protocol version, the
//    system info, the state dict and the storage keys, then each storage as an
//    8-byte element count and its raw bytes.
// The pickles are read by the restricted reader of weights/pickle.h with the
// allow-list below: loading a file never runs code from it.
#pragma once
#include <set>
#include <string>
#include <string_view>

#include "weights/raw_tensor.h"

namespace differnet::weights {

// The globals a state-dict pickle may name: collections.OrderedDict, the
// torch._utils tensor and parameter rebuild helpers, the typed storage classes.
const std::set<std::string>& torch_allowed_globals();

// The tensors of the state dict, named by their keys. A checkpoint that is a
// dict with a "state_dict" dict gives that one; otherwise tensors in nested dicts
// are named by the keys joined by '.' and other entries (epoch numbers, ...) are
// skipped. Tensors come back contiguous (storage offsets and strides applied).
RawTensorMap load_pytorch_checkpoint(const std::string& path);
// The same for bytes in memory, either format; `what` names them in errors.
RawTensorMap parse_pytorch_checkpoint(std::string_view bytes, const std::string& what);

// "pytorch-zip", "pytorch-legacy" or "safetensors", from the first bytes; throws
// differnet::Error naming `what` when none matches.
std::string detect_weights_format(std::string_view bytes, const std::string& what);

// A .pth/.pt (either format) or .safetensors file, recognised by its contents.
RawTensorMap load_weights_file(const std::string& path);

}  // namespace differnet::weights
