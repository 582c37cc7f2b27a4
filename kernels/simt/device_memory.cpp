// The emulated device's memory and the CUDA runtime calls DifferNet makes:
// one arena of address space, PROT_NONE while host code runs (a host access
// faults, and the fault handler names it), NaN bytes in every new allocation,
// and copies and fills checked against the live allocations.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "kernels/simt/simt.h"

namespace differnet::simt {

std::recursive_mutex& device_mutex() {
  static std::recursive_mutex m;
  return m;
}

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kAlign = 256;  // cudaMalloc's alignment

size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

struct Arena {
  char* base = nullptr;
  size_t capacity = 0;
  size_t high = 0;                    // offsets below this have been handed out at some time
  std::map<size_t, size_t> live;      // offset -> bytes (rounded)
  std::map<size_t, size_t> free_set;  // offset -> bytes, coalesced
  size_t used = 0;
  int open_depth = 0;  // DeviceAccess scopes
  struct sigaction previous_segv{};
};

Arena* g_arena = nullptr;  // set once; read by the fault handler

void on_segv(int sig, siginfo_t* info, void* uctx);

Arena& arena() {
  static Arena* a = [] {
    Arena* r = new Arena();
    size_t mib = 8192;
    if (const char* m = std::getenv("DIFFERNET_SIMT_DEVICE_MIB")) mib = std::strtoull(m, nullptr, 10);
    r->capacity = round_up(mib << 20, kPage);
    void* p = mmap(nullptr, r->capacity, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      std::fprintf(stderr, "SIMT emulator: cannot reserve %zu MiB of address space for device memory\n", mib);
      std::abort();
    }
    r->base = static_cast<char*>(p);
    g_arena = r;
    struct sigaction sa{};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &r->previous_segv);
    return r;
  }();
  return *a;
}

// Host code touched the arena: say so, then die as a segmentation fault would.
void on_segv(int sig, siginfo_t* info, void* uctx) {
  Arena* a = g_arena;
  char* addr = static_cast<char*>(info->si_addr);
  if (a && addr >= a->base && addr < a->base + a->capacity) {
    const size_t off = size_t(addr - a->base);
    char msg[512];
    int n;
    if (a->open_depth == 0) {
      n = std::snprintf(msg, sizeof msg,
                        "SIMT emulator: host code accessed device memory at %p (arena offset %zu). Device pointers "
                        "may be used only by kernels and by cudaMemcpy/cudaMemset/cuBLAS/cuDNN/cuRAND calls; copy "
                        "the data to the host first. (gdb: 'handle SIGSEGV stop' and 'bt' show the access.)\n",
                        static_cast<void*>(addr), off);
    } else {
      n = std::snprintf(msg, sizeof msg,
                        "SIMT emulator: a kernel or library call accessed device memory at %p (arena offset "
                        "%zu), outside the allocations it was given as arguments\n",
                        static_cast<void*>(addr), off);
    }
    if (n > 0) (void)!write(2, msg, size_t(n) < sizeof msg ? size_t(n) : sizeof msg - 1);
  }
  // Not ours, or reported: the previous handler (or the default: a core dump) takes it.
  if (a) sigaction(SIGSEGV, &a->previous_segv, nullptr);
  (void)sig;
  (void)uctx;
}

struct LastError {
  cudaError_t code = cudaSuccess;
  std::map<int, std::string> text;  // the detailed message of each error code's latest occurrence
};
thread_local LastError g_error;

const char* base_description(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
  }
  return "unknown error";
}

std::string where(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

const char* kind_name(cudaMemcpyKind k) {
  switch (k) {
    case cudaMemcpyHostToHost: return "cudaMemcpyHostToHost";
    case cudaMemcpyHostToDevice: return "cudaMemcpyHostToDevice";
    case cudaMemcpyDeviceToHost: return "cudaMemcpyDeviceToHost";
    case cudaMemcpyDeviceToDevice: return "cudaMemcpyDeviceToDevice";
    default: return "cudaMemcpyDefault";
  }
}

// Checks one side of a copy: on the device side of `kind` exactly when
// `device`, and then inside one allocation for its whole span.
bool check_side(DeviceAccess& access, const char* call, const char* side, const void* p, size_t span, bool device,
                cudaMemcpyKind kind) {
  const bool is_device = in_device_arena(p);
  if (is_device != device) {
    set_error(cudaErrorInvalidValue, std::string(call) + " with " + kind_name(kind) + ": the " + side + " " +
                                         where(p) + " is " + (is_device ? "device" : "host") + " memory");
    return false;
  }
  std::string why;
  if (device && !access.open(p, span, &why)) {
    set_error(cudaErrorInvalidValue, std::string(call) + ": the " + side + " range of " + std::to_string(span) +
                                         " bytes at " + where(p) + " " + why);
    return false;
  }
  return true;
}

cudaError_t copy_2d(const char* call, void* dst, size_t dpitch, const void* src, size_t spitch, size_t width,
                    size_t height, cudaMemcpyKind kind) {
  if (width == 0 || height == 0) return cudaSuccess;
  if (width > dpitch || width > spitch)
    return set_error(cudaErrorInvalidValue, std::string(call) + ": width " + std::to_string(width) +
                                                " exceeds a pitch (" + std::to_string(dpitch) + ", " +
                                                std::to_string(spitch) + ")");
  if (kind == cudaMemcpyDefault) {
    const bool d = in_device_arena(dst), s = in_device_arena(src);
    kind = d ? (s ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
             : (s ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  }
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDeviceToDevice)
    return set_error(cudaErrorInvalidMemcpyDirection, std::string(call) + ": copy kind " + std::to_string(int(kind)));
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  DeviceAccess access;
  if (!check_side(access, call, "destination", dst, (height - 1) * dpitch + width, dst_device, kind) ||
      !check_side(access, call, "source", src, (height - 1) * spitch + width, src_device, kind))
    return cudaErrorInvalidValue;
  for (size_t r = 0; r < height; ++r)
    std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  return cudaSuccess;
}

cudaError_t fill(const char* call, void* ptr, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  DeviceAccess access;
  std::string why;
  if (!access.open(ptr, bytes, &why))
    return set_error(cudaErrorInvalidValue,
                     std::string(call) + ": the range of " + std::to_string(bytes) + " bytes at " + where(ptr) + " " + why);
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}

}  // namespace

DeviceAccess::DeviceAccess() : lock_(device_mutex()) { ++arena().open_depth; }

DeviceAccess::~DeviceAccess() {
  for (const Range& r : opened_) mprotect(r.begin, r.bytes, PROT_NONE);
  --arena().open_depth;
}

void DeviceAccess::open_pages(const void* p, size_t bytes) {
  if (bytes == 0) return;
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p) / kPage * kPage;
  const uintptr_t hi = round_up(reinterpret_cast<uintptr_t>(p) + bytes, kPage);
  mprotect(reinterpret_cast<void*>(lo), hi - lo, PROT_READ | PROT_WRITE);
  opened_.push_back({reinterpret_cast<void*>(lo), hi - lo});
}

bool DeviceAccess::open(const void* p, size_t bytes, std::string* why) {
  if (!in_device_allocation(p, bytes, why)) return false;
  open_pages(p, bytes);
  return true;
}

bool DeviceAccess::open_allocation(const void* p, std::string* why) {
  // At least one byte: a pointer just past the end of one allocation is no argument a kernel can use.
  if (!in_device_allocation(p, 1, why)) {
    if (why && why->rfind("runs past", 0) == 0) *why = "is not inside a live device allocation (freed?)";
    return false;
  }
  Arena& a = arena();
  auto it = std::prev(a.live.upper_bound(size_t(static_cast<const char*>(p) - a.base)));
  open_pages(a.base + it->first, it->second);
  return true;
}

bool in_device_arena(const void* p) {
  if (!g_arena) return false;
  const char* c = static_cast<const char*>(p);
  return c >= g_arena->base && c < g_arena->base + g_arena->capacity;
}

bool in_device_allocation(const void* p, size_t bytes, std::string* why) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (!in_device_arena(p)) {
    if (why) *why = "is not device memory (a host pointer?)";
    return false;
  }
  Arena& a = arena();
  const size_t off = size_t(static_cast<const char*>(p) - a.base);
  auto it = a.live.upper_bound(off);
  if (it == a.live.begin()) {
    if (why) *why = "is not inside a live device allocation (freed?)";
    return false;
  }
  --it;
  // One past the end is a valid pointer (an empty range at the end).
  if (off > it->first + it->second) {
    if (why) *why = "is not inside a live device allocation (freed?)";
    return false;
  }
  if (off + bytes > it->first + it->second) {
    if (why)
      *why = "runs past the end of its " + std::to_string(it->second) + "-byte allocation at " +
             where(a.base + it->first) + " by " + std::to_string(off + bytes - it->first - it->second) + " bytes";
    return false;
  }
  return true;
}

cudaError_t set_error(cudaError_t error, const std::string& detail) {
  g_error.code = error;
  g_error.text[int(error)] = std::string(base_description(error)) + " (SIMT emulator: " + detail + ")";
  if (error != cudaErrorMemoryAllocation) report(detail);
  return error;
}

void report(const std::string& detail) { std::fprintf(stderr, "SIMT emulator: %s\n", detail.c_str()); }

}  // namespace differnet::simt

using namespace differnet::simt;

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : set_error(cudaErrorInvalidValue, "cudaSetDevice: the emulator has device 0 only");
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
// Work is done when its call returns, so there is nothing to wait for.
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaGetLastError() {
  const cudaError_t e = g_error.code;
  g_error.code = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return g_error.code; }

const char* cudaGetErrorString(cudaError_t error) {
  auto it = g_error.text.find(int(error));
  return it != g_error.text.end() ? it->second.c_str() : base_description(error);
}
const char* cudaGetErrorName(cudaError_t error) { return base_description(error); }

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  Arena& a = arena();
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  const size_t size = round_up(bytes, kAlign);
  size_t off = a.high;
  bool reused = false;
  for (auto it = a.free_set.begin(); it != a.free_set.end(); ++it)  // first fit
    if (it->second >= size) {
      off = it->first;
      if (it->second > size) a.free_set.emplace(it->first + size, it->second - size);
      a.free_set.erase(it);
      reused = true;
      break;
    }
  if (!reused) {
    if (a.high + size > a.capacity)
      return set_error(cudaErrorMemoryAllocation, "cudaMalloc of " + std::to_string(bytes) + " bytes: the " +
                                                      std::to_string(a.capacity >> 20) +
                                                      " MiB device (DIFFERNET_SIMT_DEVICE_MIB) is full");
    a.high += size;
  }
  a.live.emplace(off, size);
  a.used += size;
  // Fresh device memory holds NaN bytes (0xFF): a kernel reading what nobody wrote shows it.
  char* p = a.base + off;
  char* lo = a.base + off / kPage * kPage;
  const size_t len = round_up(size_t(p + size - lo), kPage);
  mprotect(lo, len, PROT_READ | PROT_WRITE);
  std::memset(p, 0xFF, size);
  mprotect(lo, len, PROT_NONE);
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  Arena& a = arena();
  const size_t off = size_t(static_cast<char*>(ptr) - a.base);
  auto it = in_device_arena(ptr) ? a.live.find(off) : a.live.end();
  if (it == a.live.end())
    return set_error(cudaErrorInvalidValue, "cudaFree(" + where(ptr) + "): not the start of a live device "
                                                                          "allocation (freed twice, or host memory?)");
  size_t start = it->first, size = it->second;
  a.used -= size;
  a.live.erase(it);
  // Coalesce with the free neighbours.
  auto next = a.free_set.lower_bound(start);
  if (next != a.free_set.end() && next->first == start + size) {
    size += next->second;
    next = a.free_set.erase(next);
  }
  if (next != a.free_set.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == start) {
      start = prev->first;
      size += prev->second;
      a.free_set.erase(prev);
    }
  }
  if (start + size == a.high) a.high = start;  // the top of the arena shrinks
  else a.free_set.emplace(start, size);
  // Give whole free pages back to the system.
  const size_t lo = round_up(start, kPage), hi = (start + size) / kPage * kPage;
  if (hi > lo) madvise(a.base + lo, hi - lo, MADV_DONTNEED);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  Arena& a = arena();
  *free_bytes = a.capacity - a.used;
  *total_bytes = a.capacity;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return copy_2d("cudaMemcpy", dst, bytes, src, bytes, bytes, 1, kind);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return copy_2d("cudaMemcpyAsync", dst, bytes, src, bytes, bytes, 1, kind);
}
cudaError_t cudaMemcpy2D(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind) {
  return copy_2d("cudaMemcpy2D", dst, dpitch, src, spitch, width, height, kind);
}
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t) {
  return copy_2d("cudaMemcpy2DAsync", dst, dpitch, src, spitch, width, height, kind);
}
cudaError_t cudaMemset(void* ptr, int value, size_t bytes) { return fill("cudaMemset", ptr, value, bytes); }
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t) {
  return fill("cudaMemsetAsync", ptr, value, bytes);
}
