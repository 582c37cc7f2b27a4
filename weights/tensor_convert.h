// Between the file world (weights::RawTensor: dtype, shape, little-endian
// bytes) and the framework's Tensor: what every writer and loader of model
// files (flows, backbones, checkpoints) goes through.
#pragma once
#include <string>

#include "autograd/tensor.h"
#include "weights/raw_tensor.h"
#include "weights/safetensors.h"

namespace differnet::weights {

// A host copy of t as float32, float64 or uint8 (little-endian hosts, as the formats).
RawTensor to_raw(const Tensor& t);
// t as a source for the streaming safetensors writer: a CPU tensor's bytes are
// written straight from its memory, a CUDA tensor's through one host copy at
// the time it is written. t must stay unchanged until the file is written.
TensorSource to_source(const Tensor& t);

// Copies a float file tensor into `dst` (converted to dst's dtype, onto dst's
// device). Throws naming `what` (file and tensor) when the dtype is not
// floating, the shape differs, or, with require_finite, a value is NaN or Inf.
void copy_into(const RawTensor& raw, Tensor& dst, const std::string& what, bool require_finite = true);

// A float file tensor as a new float32 (or float64) CPU tensor.
Tensor to_tensor(const RawTensor& raw, const std::string& what);

}  // namespace differnet::weights
