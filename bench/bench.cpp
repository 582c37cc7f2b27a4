#include "bench/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "autograd/error.h"
#include "kernels/kernels.h"
#include "weights/json.h"

namespace differnet::bench {

std::vector<Benchmark>& registry() {
  static std::vector<Benchmark> r;
  return r;
}

void synchronize(Device device) {
  if (device == Device::CUDA) {
#if DIFFERNET_WITH_CUDA
    kernels::cuda::synchronize();
#endif
  }
}

void BenchState::measure(const std::function<void()>& fn) {
  for (int i = 0; i < warmup_; ++i) fn();
  synchronize(device_);
  times_ms_.clear();
  for (int i = 0; i < repeats_; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    synchronize(device_);
    const auto end = std::chrono::steady_clock::now();
    times_ms_.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  if (peaks_before_.fma_gflops_all > 0) {  // set_floor was called: the peaks again, after the work
    const CpuPeaks after = measure_cpu_peaks();
    CpuPeaks mean = after;
    mean.fma_gflops_all = 0.5 * (peaks_before_.fma_gflops_all + after.fma_gflops_all);
    mean.stream_gb_per_s = 0.5 * (peaks_before_.stream_gb_per_s + after.stream_gb_per_s);
    floor_ms_ = 1e3 * mean.floor_seconds(floor_flops_, floor_bytes_);
    set("floor_flops", floor_flops_);
    set("floor_bytes", floor_bytes_);
    set("peak_fma_gflop_per_s", mean.fma_gflops_all);
    set("peak_stream_gb_per_s", mean.stream_gb_per_s);
  }
}

void BenchState::set_floor(double flops, double bytes) {
  if (device_ != Device::CPU) return;
  floor_flops_ = flops;
  floor_bytes_ = bytes;
  peaks_before_ = measure_cpu_peaks();
}

std::string BenchState::json_line() const {
  std::vector<double> t = times_ms_;
  std::sort(t.begin(), t.end());
  const double median = t.empty() ? NAN : (t.size() % 2 ? t[t.size() / 2] : 0.5 * (t[t.size() / 2 - 1] + t[t.size() / 2]));
  weights::Json j = {{"bench", name_},   {"device", device_name(device_)},       {"impl", "differnet"},
                     {"median_ms", median}, {"min_ms", t.empty() ? NAN : t.front()}, {"repeats", t.size()}};
  for (const auto& [k, v] : numbers_) j[k] = v;
  for (const auto& [k, v] : strings_) j[k] = v;
  if (flops_ > 0) j["gflop_per_s"] = flops_ / (median * 1e-3) / 1e9;
  if (bytes_ > 0) j["gb_per_s"] = bytes_ / (median * 1e-3) / 1e9;
  if (floor_ms_ > 0) {
    j["floor_ms"] = floor_ms_;
    j["floor_ratio"] = median / floor_ms_;
  }
  std::string line = weights::dump_json(j, -1);  // NaN (nothing measured) as null
  line.pop_back();                               // the newline: the caller ends the line
  return line;
}

}  // namespace differnet::bench
