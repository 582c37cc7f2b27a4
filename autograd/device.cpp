#include "autograd/dtype.h"
#include "autograd/error.h"
#if DIFFERNET_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace differnet {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda" || name == "gpu") return Device::CUDA;
  throw Error("unknown device '" + name + "': expected 'cpu' or 'cuda'");
}

std::string cuda_unavailable_reason() {
#if DIFFERNET_WITH_CUDA
  static const std::string reason = [] {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      cudaGetLastError();
      return std::string("no CUDA device: ") + cudaGetErrorString(err);
    }
    return count > 0 ? std::string() : std::string("no CUDA device found");
  }();
  return reason;
#else
  return "this build of DifferNet has no CUDA backend (configured with DIFFERNET_CUDA=OFF or without nvcc)";
#endif
}

bool cuda_available() { return cuda_unavailable_reason().empty(); }

}  // namespace differnet
