// Stand-in for NVTX in the SIMT emulation build: ranges mark regions for
// Nsight, which has nothing to show on an emulated device, so they only keep
// the nesting depth that the real calls return.
#pragma once

namespace differnet::simt {
inline int& nvtx_depth() {
  static thread_local int depth = 0;
  return depth;
}
}  // namespace differnet::simt

inline int nvtxRangePushA(const char*) { return differnet::simt::nvtx_depth()++; }
inline int nvtxRangePop() { return --differnet::simt::nvtx_depth(); }
