// The SIMT emulator (DIFFERNET_CUDA=EMULATE): runs CUDA kernels on the CPU.
// How it works, and what it cannot catch: docs/core.md, "The SIMT emulator".
//
// A launch runs the blocks of the grid one after another. The threads of a
// block are Boost.Context fibers on the launching OS thread, resumed in the
// order of the schedule (DIFFERNET_SIMT_SCHEDULE=forward | reverse |
// random:SEED); a thread runs until it reaches __syncthreads, a warp
// operation or its end. A block whose first thread ends without reaching a
// barrier or warp operation runs its other threads as plain calls (the fast
// path grid-stride kernels take); a barrier met there is a divergent barrier
// and fails the launch.
//
// Errors (launch geometry, pointer arguments, divergent barriers, bad warp
// masks) become the launch's CUDA error: cudaGetLastError returns it and
// cudaGetErrorString names what went wrong.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cuda_runtime.h>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace differnet::simt {

// What the built-in variables of a kernel read: the emulated thread that runs now.
struct ThreadContext {
  uint3 thread_idx{0, 0, 0};
  uint3 block_idx{0, 0, 0};
  dim3 block_dim, grid_dim;
};
// Fibers share their OS thread, so the scheduler points this at each thread before resuming it.
extern thread_local ThreadContext* g_current;

// ---- launches ----------------------------------------------------------------
struct PointerArg {
  bool is_pointer;
  const void* ptr;
};

template <class P>
PointerArg pointer_arg(const P& p) {
  if constexpr (std::is_pointer_v<P>) return {true, reinterpret_cast<const void*>(p)};
  else return {false, nullptr};
}

// Runs body(ctx) once per thread of the grid; records the launch's error.
void run_launch(dim3 grid, dim3 block, size_t shared_bytes, const PointerArg* args, size_t n_args,
                void (*body)(void*), void* ctx);

template <class... Params>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, Params... args) {
  const PointerArg info[sizeof...(Params) + 1] = {pointer_arg(args)..., PointerArg{false, nullptr}};
  struct Call {
    void (*kernel)(Params...);
    std::tuple<Params...> args;
  } call{kernel, std::tuple<Params...>(args...)};
  run_launch(
      grid, block, shared_bytes, info, sizeof...(Params),
      [](void* c) {
        Call* call = static_cast<Call*>(c);
        std::apply(call->kernel, call->args);  // copies: every thread gets its own parameters
      },
      &call);
}

// ---- what kernels call ---------------------------------------------------------
void syncthreads();

enum class WarpOp { Shuffle, ShuffleUp, ShuffleDown, ShuffleXor, Ballot, Sync };
// One lane's part of a warp operation: waits until every lane of `mask` has
// reached the same operation, then returns what this lane receives.
uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t value, int arg, int width);

template <class T>
T warp_shuffle(WarpOp op, unsigned mask, T var, int arg, int width) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp shuffles move up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &var, sizeof(T));
  bits = warp_exchange(op, mask, bits, arg, width);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// ---- device memory (kernels/simt/device_memory.cpp) ----------------------------
// The emulated device runs one thing at a time (one stream): launches, copies
// and library calls hold this lock.
std::recursive_mutex& device_mutex();

// Device memory is one arena, inaccessible (PROT_NONE) while host code runs.
// A DeviceAccess scope (holding the device lock) opens exactly the memory a
// kernel or a library call was given, and closes it again at its end.
class DeviceAccess {
 public:
  DeviceAccess();
  ~DeviceAccess();
  DeviceAccess(const DeviceAccess&) = delete;
  DeviceAccess& operator=(const DeviceAccess&) = delete;
  // Opens [p, p + bytes) if it lies inside one live allocation; else false, with `why`.
  bool open(const void* p, size_t bytes, std::string* why);
  // Opens the whole live allocation that holds p (a kernel's pointer argument).
  bool open_allocation(const void* p, std::string* why);

 private:
  void open_pages(const void* p, size_t bytes);
  std::lock_guard<std::recursive_mutex> lock_;
  struct Range {
    void* begin;
    size_t bytes;
  };
  std::vector<Range> opened_;
};

// The live allocation holding [p, p + bytes), or false (with `why` saying what is wrong).
bool in_device_allocation(const void* p, size_t bytes, std::string* why = nullptr);
bool in_device_arena(const void* p);

// Prints "SIMT emulator: <detail>" to stderr: why a library stand-in returned an error status.
void report(const std::string& detail);

// Records `error` as the calling thread's last CUDA error, with `detail`
// shown by cudaGetErrorString; returns it. Also printed to stderr.
cudaError_t set_error(cudaError_t error, const std::string& detail);

// Test hooks: the schedule (same syntax as DIFFERNET_SIMT_SCHEDULE) and the fast path.
void set_schedule(const std::string& spec);
void set_fast_path(bool enabled);

}  // namespace differnet::simt
