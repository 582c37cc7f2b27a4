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

// The contracts of cpu::conv2d and cpu::conv2d_backward_input (kernels/conv.h)
// for float32 NCHW tensors. Return false, having written nothing, when oneDNN
// has no implementation for the geometry; throw when !available().
bool conv2d(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y, bool relu);
bool conv2d_backward_input(const Conv2dGeometry& g, const float* gy, const float* weight, float* gx);

}  // namespace differnet::kernels::cpu::onednn
