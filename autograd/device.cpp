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

namespace {
// Where a machine without a GPU can still run the CUDA code.
constexpr const char* kEmulationHint =
    "; without a GPU, a build configured with -DDIFFERNET_CUDA=EMULATE runs the CUDA code on the CPU "
    "(README, 'Running the CUDA code without a GPU')";
}  // namespace

std::string cuda_unavailable_reason() {
#if DIFFERNET_WITH_CUDA
  static const std::string reason = [] {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      cudaGetLastError();
      return std::string("no CUDA device: ") + cudaGetErrorString(err) + kEmulationHint;
    }
    return count > 0 ? std::string() : std::string("no CUDA device found") + kEmulationHint;
  }();
  return reason;
#else
  return std::string("this build of DifferNet has no CUDA backend (configured with DIFFERNET_CUDA=OFF or without nvcc)") +
         kEmulationHint;
#endif
}

bool cuda_available() { return cuda_unavailable_reason().empty(); }

}  // namespace differnet
