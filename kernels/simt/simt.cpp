// The SIMT emulator's scheduler: blocks, fibers, barriers, warp operations
// and per-block shared memory (the design is in simt.h and docs/core.md).
#include "kernels/simt/simt.h"

#include <sys/mman.h>

#include <boost/context/fiber.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <vector>

// The linker's bounds of the section that holds every __shared__ variable
// (kernels/simt/prelude.h); weak, since a program may have none.
extern "C" char __start_simt_shared[] __attribute__((weak));
extern "C" char __stop_simt_shared[] __attribute__((weak));

namespace differnet::simt {

thread_local ThreadContext* g_current = nullptr;

namespace {

namespace ctx = boost::context;

// A failure inside a kernel thread: ends the launch with `error`.
struct KernelFault {
  cudaError_t error;
  std::string message;
};

std::string str(dim3 d) {
  std::ostringstream s;
  s << "(" << d.x << ", " << d.y << ", " << d.z << ")";
  return s.str();
}
std::string str(uint3 d) { return str(dim3(d)); }

// ---- configuration -------------------------------------------------------------
enum class Order { Forward, Reverse, Random };
struct Schedule {
  Order order = Order::Forward;
  uint64_t seed = 0;
};

Schedule parse_schedule(const std::string& spec) {
  if (spec.empty() || spec == "forward") return {Order::Forward, 0};
  if (spec == "reverse") return {Order::Reverse, 0};
  if (spec.rfind("random:", 0) == 0) {
    char* end = nullptr;
    const std::string digits = spec.substr(7);
    const unsigned long long seed = std::strtoull(digits.c_str(), &end, 10);
    if (!digits.empty() && *end == '\0') return {Order::Random, seed};
  }
  std::fprintf(stderr, "SIMT emulator: DIFFERNET_SIMT_SCHEDULE='%s' is not forward, reverse or random:SEED\n",
               spec.c_str());
  std::abort();
}

struct Config {
  Schedule schedule;
  bool fast_path = true;
  uint64_t launches = 0;  // seeds the random schedule of each launch
  Config() {
    if (const char* s = std::getenv("DIFFERNET_SIMT_SCHEDULE")) schedule = parse_schedule(s);
    if (const char* f = std::getenv("DIFFERNET_SIMT_FAST")) fast_path = std::string(f) != "0";
  }
};

Config& config() {
  static Config c;
  return c;
}

// ---- fiber stacks: a pool, so that a block costs no mmap ------------------------
constexpr size_t kStackBytes = size_t(256) << 10;

std::vector<ctx::stack_context>& stack_pool() {
  static std::vector<ctx::stack_context> pool;
  return pool;
}

struct PooledStack {
  ctx::stack_context allocate() {
    auto& pool = stack_pool();
    if (!pool.empty()) {
      ctx::stack_context sc = pool.back();
      pool.pop_back();
      return sc;
    }
    // One guard page below the stack turns an overflow into a fault.
    const size_t page = 4096;
    void* p = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    mprotect(p, page, PROT_NONE);
    ctx::stack_context sc;
    sc.size = kStackBytes;
    sc.sp = static_cast<char*>(p) + page + kStackBytes;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) { stack_pool().push_back(sc); }
};

// ---- one block -------------------------------------------------------------------
enum class State { Ready, AtBarrier, AtWarpOp, Exited };

struct Thread {
  ThreadContext context;
  ctx::fiber fiber;  // the scheduler's handle of a suspended thread
  ctx::fiber sink;   // the thread's handle of the scheduler
  State state = State::Ready;
  unsigned linear = 0;  // x + y * bx + z * bx * by: the warp is linear / 32
  WarpOp op{};
  unsigned mask = 0;
  int arg = 0, width = 32;
  uint64_t value = 0, result = 0;
};

constexpr unsigned kFullWarp = 32;

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::Shuffle: return "__shfl_sync";
    case WarpOp::ShuffleUp: return "__shfl_up_sync";
    case WarpOp::ShuffleDown: return "__shfl_down_sync";
    case WarpOp::ShuffleXor: return "__shfl_xor_sync";
    case WarpOp::Ballot: return "__ballot_sync";
    default: return "__syncwarp";
  }
}

struct Launch;
thread_local Launch* g_launch = nullptr;
thread_local Thread* g_thread = nullptr;  // the Thread whose context g_current is

struct Launch {
  dim3 grid, block;
  unsigned threads_per_block;
  void (*body)(void*);
  void* body_ctx;
  std::vector<Thread> threads;
  std::vector<unsigned> order;
  std::mt19937_64 rng;
  Schedule schedule;
  bool fast_path;
  bool plain = false;  // running threads as plain calls: they cannot wait
  bool used_sync = false;
  std::string fault;  // set by a thread that failed
  cudaError_t fault_error = cudaSuccess;

  uint3 block_idx{};

  std::string where(const Thread& t) const {
    return "thread " + str(t.context.thread_idx) + " of block " + str(block_idx);
  }

  void fill_order(unsigned n) {
    order.resize(n);
    for (unsigned i = 0; i < n; ++i) order[i] = schedule.order == Order::Reverse ? n - 1 - i : i;
    if (schedule.order == Order::Random) std::shuffle(order.begin(), order.end(), rng);
  }

  // Runs the thread body on a fiber; faults end the thread and are kept for the scheduler.
  void start_fiber(Thread& t) {
    Thread* tp = &t;
    Launch* self = this;
    t.fiber = ctx::fiber(std::allocator_arg, PooledStack(), [tp, self](ctx::fiber&& sink) {
      tp->sink = std::move(sink);
      try {
        self->body(self->body_ctx);
      } catch (const ctx::detail::forced_unwind&) {
        throw;
      } catch (const KernelFault& f) {
        self->record_fault(f.error, f.message);
      } catch (const std::exception& e) {
        self->record_fault(cudaErrorLaunchFailure, self->where(*tp) + " threw: " + e.what());
      }
      tp->state = State::Exited;
      return std::move(tp->sink);
    });
    resume(t);
  }

  void resume(Thread& t) {
    g_thread = &t;
    g_current = &t.context;
    t.state = State::Ready;
    t.fiber = std::move(t.fiber).resume();
  }

  void record_fault(cudaError_t error, const std::string& message) {
    if (fault.empty()) {
      fault = message;
      fault_error = error;
    }
  }

  void run_block(uint3 b) {
    block_idx = b;
    char* const shared_begin = __start_simt_shared;
    char* const shared_end = __stop_simt_shared;
    if (shared_begin != shared_end)  // NaN bytes: reading before writing shows
      std::memset(shared_begin, 0xFF, size_t(shared_end - shared_begin));
    for (Thread& t : threads) {
      t.context.block_idx = b;
      t.state = State::Ready;
    }
    fill_order(threads_per_block);
    Thread& first = threads[order[0]];
    start_fiber(first);
    if (!fault.empty()) return;
    if (first.state == State::Exited && fast_path) {
      // The first thread met no barrier or warp operation: the others run as plain calls.
      plain = true;
      for (unsigned i = 1; i < threads_per_block && fault.empty(); ++i) {
        Thread& t = threads[order[i]];
        g_thread = &t;
        g_current = &t.context;
        try {
          body(body_ctx);
        } catch (const KernelFault& f) {
          record_fault(f.error, f.message);
        } catch (const std::exception& e) {
          record_fault(cudaErrorLaunchFailure, where(t) + " threw: " + e.what());
        }
      }
      plain = false;
      return;
    }
    for (unsigned i = 1; i < threads_per_block && fault.empty(); ++i) start_fiber(threads[order[i]]);
    while (fault.empty() && step()) {
    }
    // Fibers still suspended are unwound here (a fault ended the block early).
    for (Thread& t : threads) t.fiber = ctx::fiber();
  }

  // One scheduling round after every thread has run until it waits or ends:
  // completes warp operations, else releases a barrier. False when the block is done.
  bool step() {
    unsigned exited = 0, at_barrier = 0, at_warp = 0;
    for (const Thread& t : threads)
      exited += t.state == State::Exited, at_barrier += t.state == State::AtBarrier,
          at_warp += t.state == State::AtWarpOp;
    if (exited == threads_per_block) return false;
    bool progressed = false;
    if (at_warp > 0) {
      progressed = complete_warp_ops();
      if (!fault.empty()) return false;
    }
    if (!progressed) {
      if (at_warp > 0) {
        for (const Thread& t : threads)
          if (t.state == State::AtWarpOp) {
            record_fault(cudaErrorLaunchFailure, "deadlock: " + where(t) + " waits in " + op_name(t.op) +
                                                     " while the rest of its block waits at __syncthreads");
            return false;
          }
      }
      if (exited > 0) {
        const Thread* gone = nullptr;
        const Thread* waiting = nullptr;
        for (const Thread& t : threads) (t.state == State::Exited ? gone : waiting) = &t;
        record_fault(cudaErrorLaunchFailure,
                     "divergent barrier: " + where(*waiting) + " waits at __syncthreads, but " +
                         std::to_string(exited) + " of the block's " + std::to_string(threads_per_block) +
                         " threads (" + where(*gone) + " among them) ended without reaching it");
        return false;
      }
      for (Thread& t : threads) t.state = State::Ready;  // the barrier opens
    }
    if (schedule.order == Order::Random) fill_order(threads_per_block);
    for (unsigned i = 0; i < threads_per_block && fault.empty(); ++i) {
      Thread& t = threads[order[i]];
      if (t.state == State::Ready) resume(t);
    }
    return fault.empty();
  }

  // Every warp operation whose lanes have all arrived completes; a mask naming
  // a lane that does not exist, has ended or waits elsewhere is a fault.
  bool complete_warp_ops() {
    bool progressed = false;
    const unsigned warps = (threads_per_block + kFullWarp - 1) / kFullWarp;
    std::vector<Thread*> lanes(kFullWarp);
    for (unsigned w = 0; w < warps; ++w) {
      const unsigned base = w * kFullWarp;
      const unsigned present = std::min(kFullWarp, threads_per_block - base);
      for (unsigned l = 0; l < kFullWarp; ++l) lanes[l] = l < present ? &thread_at(base + l) : nullptr;
      unsigned ready = 0;  // lanes whose operation can complete
      // Common case first: the whole warp waits in one operation with one mask naming exactly its lanes.
      const unsigned everyone = present == kFullWarp ? ~0u : (1u << present) - 1;
      bool uniform = true;
      for (unsigned l = 0; l < present && uniform; ++l)
        uniform = lanes[l]->state == State::AtWarpOp && lanes[l]->mask == everyone && lanes[l]->op == lanes[0]->op;
      if (uniform) ready = everyone;
      for (unsigned l = 0; l < present && !uniform; ++l) {
        Thread& t = *lanes[l];
        if (t.state != State::AtWarpOp) continue;
        const std::string op = std::string(op_name(t.op)) + " with mask 0x" + hex(t.mask);
        if (!(t.mask >> l & 1u))
          return fail(where(t) + " calls " + op + ", which does not name its own lane " + std::to_string(l));
        bool all_here = true;
        for (unsigned m = 0; m < kFullWarp; ++m) {
          if (!(t.mask >> m & 1u)) continue;
          if (m >= present)
            return fail(where(t) + " calls " + op + ", which names lane " + std::to_string(m) + ", but its warp has " +
                        std::to_string(present) + " threads");
          const Thread& o = *lanes[m];
          if (o.state == State::Exited)
            return fail(where(t) + " calls " + op + ", but lane " + std::to_string(m) + " (" + where(o) +
                        ") has ended");
          if (o.state == State::AtWarpOp && (o.op != t.op || o.mask != t.mask))
            return fail(where(t) + " calls " + op + ", but lane " + std::to_string(m) + " calls " + op_name(o.op) +
                        " with mask 0x" + hex(o.mask));
          if (o.state != State::AtWarpOp) all_here = false;
        }
        if (all_here) ready |= 1u << l;
      }
      for (unsigned l = 0; l < present; ++l) {
        if (!(ready >> l & 1u)) continue;
        Thread& t = *lanes[l];
        if (t.width <= 0 || t.width > 32 || (t.width & (t.width - 1)))
          return fail(where(t) + " calls " + op_name(t.op) + " with width " + std::to_string(t.width) +
                      ", not a power of two up to 32");
        const unsigned seg = l / unsigned(t.width) * unsigned(t.width);
        unsigned src = l;
        switch (t.op) {
          case WarpOp::Shuffle: src = seg + unsigned(t.arg) % unsigned(t.width); break;
          case WarpOp::ShuffleUp: src = l - seg >= unsigned(t.arg) ? l - unsigned(t.arg) : l; break;
          case WarpOp::ShuffleDown: src = l - seg + unsigned(t.arg) < unsigned(t.width) ? l + unsigned(t.arg) : l; break;
          case WarpOp::ShuffleXor: {
            const unsigned x = l ^ unsigned(t.arg);
            src = x < seg + unsigned(t.width) && x < kFullWarp ? x : l;
            break;
          }
          default: break;
        }
        if (t.op == WarpOp::Ballot) {
          uint64_t bits = 0;
          for (unsigned m = 0; m < kFullWarp; ++m)
            if ((t.mask >> m & 1u) && lanes[m]->value) bits |= uint64_t(1) << m;
          t.result = bits;
        } else if (t.op != WarpOp::Sync) {
          if (!(t.mask >> src & 1u))
            return fail(where(t) + " calls " + op_name(t.op) + " with mask 0x" + hex(t.mask) + " and reads lane " +
                        std::to_string(src) + ", which the mask does not name");
          t.result = lanes[src]->value;
        }
      }
      for (unsigned l = 0; l < present; ++l)
        if (ready >> l & 1u) {
          lanes[l]->state = State::Ready;
          progressed = true;
        }
    }
    return progressed;
  }

  Thread& thread_at(unsigned linear) { return threads[linear]; }

  bool fail(const std::string& message) {
    record_fault(cudaErrorLaunchFailure, message);
    return false;
  }

  static std::string hex(unsigned v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%x", v);
    return buf;
  }

  // A thread waits: back to the scheduler until it resumes this thread.
  void wait(Thread& t) {
    used_sync = true;
    t.sink = std::move(t.sink).resume();
  }

  Thread& current() { return *g_thread; }
};

[[noreturn]] void throw_plain(const char* what) {
  Launch& l = *g_launch;
  Thread& t = l.current();
  throw KernelFault{cudaErrorLaunchFailure,
                    std::string("divergent barrier: ") + l.where(t) + " reaches " + what +
                        ", but the block's first thread ended without reaching it (so the emulator ran the "
                        "block's other threads as plain calls; DIFFERNET_SIMT_FAST=0 runs every thread on a fiber)"};
}

}  // namespace

void syncthreads() {
  Launch* l = g_launch;
  if (!l) throw std::logic_error("__syncthreads outside a kernel");
  if (l->plain) throw_plain("__syncthreads");
  Thread& t = l->current();
  t.state = State::AtBarrier;
  l->wait(t);
}

uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t value, int arg, int width) {
  Launch* l = g_launch;
  if (!l) throw std::logic_error("warp operation outside a kernel");
  if (l->plain) throw_plain(op_name(op));
  Thread& t = l->current();
  t.state = State::AtWarpOp;
  t.op = op;
  t.mask = mask;
  t.value = value;
  t.arg = arg;
  t.width = width;
  l->wait(t);
  return t.result;
}

void run_launch(dim3 grid, dim3 block, size_t shared_bytes, const PointerArg* args, size_t n_args,
                void (*body)(void*), void* body_ctx) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  const std::string geometry = "launch with grid " + str(grid) + " and block " + str(block);
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64) {
    set_error(cudaErrorInvalidConfiguration,
              geometry + ": a block has 1 to 1024 threads (x, y up to 1024, z up to 64)");
    return;
  }
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    set_error(cudaErrorInvalidConfiguration,
              geometry + ": a grid has 1 to 2^31-1 blocks in x and 1 to 65535 in y and z");
    return;
  }
  if (shared_bytes > 0) {
    set_error(cudaErrorNotSupported, geometry + ": dynamic shared memory (" + std::to_string(shared_bytes) +
                                         " bytes) is not emulated; use a fixed-size __shared__ array");
    return;
  }
  // Kernels reach device memory through their pointer arguments: each must lie
  // in a live allocation, and only those allocations open for the kernel.
  DeviceAccess access;
  for (size_t i = 0; i < n_args; ++i) {
    std::string why;
    if (args[i].is_pointer && args[i].ptr && !access.open_allocation(args[i].ptr, &why)) {
      char ptr[32];
      std::snprintf(ptr, sizeof ptr, "%p", args[i].ptr);
      set_error(cudaErrorInvalidValue, geometry + ": pointer argument " + std::to_string(i + 1) + " (" + ptr + ") " + why);
      return;
    }
  }
  Config& cfg = config();
  Launch l;
  l.grid = grid;
  l.block = block;
  l.threads_per_block = unsigned(threads);
  l.body = body;
  l.body_ctx = body_ctx;
  l.schedule = cfg.schedule;
  l.fast_path = cfg.fast_path;
  l.rng.seed(cfg.schedule.seed * 0x9E3779B97F4A7C15ull + ++cfg.launches);
  l.threads.resize(threads);
  for (unsigned z = 0, i = 0; z < block.z; ++z)
    for (unsigned y = 0; y < block.y; ++y)
      for (unsigned x = 0; x < block.x; ++x, ++i) {
        Thread& t = l.threads[i];
        t.context.thread_idx = {x, y, z};
        t.context.block_dim = block;
        t.context.grid_dim = grid;
        t.linear = i;
      }
  g_launch = &l;
  {
    // Blocks run one after another: in order, in reverse, or (random) from a
    // random start in a random direction.
    const uint64_t nblocks = uint64_t(grid.x) * grid.y * grid.z;
    const bool reverse = cfg.schedule.order == Order::Reverse ||
                         (cfg.schedule.order == Order::Random && (l.rng() & 1));
    const uint64_t start = cfg.schedule.order == Order::Random ? l.rng() % nblocks : 0;
    for (uint64_t k = 0; k < nblocks && l.fault.empty(); ++k) {
      const uint64_t b = (start + (reverse ? nblocks - 1 - k : k)) % nblocks;
      l.run_block({unsigned(b % grid.x), unsigned(b / grid.x % grid.y), unsigned(b / (uint64_t(grid.x) * grid.y))});
    }
  }
  g_launch = nullptr;
  g_thread = nullptr;
  g_current = nullptr;
  if (!l.fault.empty()) set_error(l.fault_error, geometry + ": " + l.fault);
}

void set_schedule(const std::string& spec) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  config().schedule = parse_schedule(spec);
}

void set_fast_path(bool enabled) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  config().fast_path = enabled;
}

}  // namespace differnet::simt
