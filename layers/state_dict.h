// Copying named tensors (a checkpoint's state dict) into a module's parameters.
#pragma once
#include <string>

#include "layers/module.h"
#include "weights/raw_tensor.h"

namespace differnet {

// Copies every tensor into the parameter of the same name, converting to the
// parameter's dtype and device. A name matches with or without a leading
// "features." (torchvision's features-only files drop it). Every parameter must
// be found, every tensor used, and every shape must agree: otherwise the error
// lists each missing, unexpected and mis-shaped name, and `source_name` (the file).
void load_state_dict(Module& module, const weights::RawTensorMap& tensors, const std::string& source_name);

}  // namespace differnet
