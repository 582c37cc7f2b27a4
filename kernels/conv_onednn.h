// The CPU convolutions of oneDNN (Debian's libdnnl-dev; the CPU counterpart of
// cuDNN): direct convolutions in blocked layouts, JIT-compiled for the ISA that
// CPUID reports (AVX-512 where the CPU has it), whatever OPENBLAS_CORETYPE
// says. Float32 forward (bias and ReLU fused) and backward-data; the weight
// gradient stays with the reference (the backbone is frozen: the pipeline never
// asks for it). Built when CMake finds oneDNN (option DIFFERNET_ONEDNN);
// kernels/conv_cpu.cpp measures it against the reference (im2col + GEMM) once
// per shape and runs the faster, as conv_cudnn.cu picks cuDNN's algorithm.
#pragma once

#include "kernels/conv.h"

namespace differnet::kernels::cpu::onednn {

// Whether this build has oneDNN.
bool available();

// oneDNN's algorithms: direct, or Winograd's F(4x4, 3x3) (3x3 stride-1 only:
// 2.25x fewer multiplications, float32 rounding a little different; the
// parity test holds it to the same tolerance).
enum class Algorithm { Direct, Winograd };

// The contracts of cpu::conv2d and cpu::conv2d_backward_input (kernels/conv.h)
// for float32 NCHW tensors. Return false, having written nothing, when oneDNN
// has no implementation of the algorithm for the geometry; throw when !available().
bool conv2d(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y, bool relu,
            Algorithm algorithm = Algorithm::Direct);
bool conv2d_backward_input(const Conv2dGeometry& g, const float* gy, const float* weight, float* gx,
                           Algorithm algorithm = Algorithm::Direct);

}  // namespace differnet::kernels::cpu::onednn
