// DIFFERNET_HD marks element math that both the CPU reference and the CUDA
// kernels run: written once, compiled for host and device.
#pragma once
#ifndef DIFFERNET_HD
#ifdef __CUDACC__
#define DIFFERNET_HD __host__ __device__ __forceinline__
#else
#define DIFFERNET_HD inline
#endif
#endif
