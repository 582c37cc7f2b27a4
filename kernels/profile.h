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

// cuDNN convolution algorithms: deterministic ones only by default (the same
// result on every run); with benchmark mode the fastest of all, atomics
// included (--cudnn-benchmark). With logging on (--profile), each choice is
// printed once, to stderr.
void set_cudnn_benchmark(bool all_algorithms);
bool cudnn_benchmark();
void set_log_conv_algorithms(bool log);
bool log_conv_algorithms();

}  // namespace differnet::kernels
