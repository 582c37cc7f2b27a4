// Profiling hooks: a named range around a stage of the pipeline. With CUDA it
// is an NVTX range, so Nsight Systems and Nsight Compute show the stages on
// their timelines; without CUDA it costs nothing.
#pragma once

namespace differnet::kernels {

class ProfileRange {
 public:
  explicit ProfileRange(const char* name);
  ~ProfileRange();
  ProfileRange(const ProfileRange&) = delete;
  ProfileRange& operator=(const ProfileRange&) = delete;
};

// FP32 everywhere by default (fidelity to the paper). With TF32 allowed,
// cuBLAS GEMMs and cuDNN convolutions may use TF32 tensor cores (about 10 bits
// of mantissa in the products, float32 accumulation).
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace differnet::kernels
