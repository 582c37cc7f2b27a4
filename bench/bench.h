// differnet_bench's registry. A benchmark is a function that prepares its
// inputs and hands the timed work to BenchState::measure, which warms up,
// repeats, synchronises the device around every repeat and records the times.
// Each run prints one JSON line: {"bench", "device", "median_ms", ...}.
//
//   DIFFERNET_BENCHMARK(linear_fwd_bwd) {
//     ... set up on state.device() ...
//     state.set("batch", 96);
//     state.set_flops(6.0 * 96 * 2048 * 2048);
//     state.measure([&] { ... });
//   }
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "autograd/dtype.h"
#include "bench/peak.h"

namespace differnet {
class FeatureExtractor;
class Module;
}  // namespace differnet

namespace differnet::bench {

class BenchState {
 public:
  BenchState(std::string name, Device device, int warmup, int repeats, bool quick)
      : name_(std::move(name)), device_(device), warmup_(warmup), repeats_(repeats), quick_(quick) {}
  Device device() const { return device_; }
  // --quick: smaller problem sizes where a benchmark offers them (CI smoke runs).
  bool quick() const { return quick_; }
  void set(const std::string& key, double value) { numbers_[key] = value; }
  void set(const std::string& key, const std::string& value) { strings_[key] = value; }
  // Work per repeat: the line then also reports achieved GFLOP/s or GB/s.
  void set_flops(double flops) { flops_ = flops; }
  void set_bytes(double bytes) { bytes_ = bytes; }
  void set_repeats(int repeats) { repeats_ = repeats; }
  // The work's floor on this CPU (bench/peak.h): flops at the all-thread FMA
  // peak plus bytes at the streaming bandwidth, with the peaks measured in
  // this process right before measure() and again right after it (the mean
  // of the two: on a shared machine the load changes within seconds). The
  // line then reports "floor_ms" and "floor_ratio" (median / floor) and the
  // peaks used. Does nothing on other devices.
  void set_floor(double flops, double bytes);
  // Runs fn warmup + repeats times; only the repeats are timed.
  void measure(const std::function<void()>& fn);
  std::string json_line() const;
  bool measured() const { return !times_ms_.empty(); }

 private:
  std::string name_;
  Device device_;
  int warmup_, repeats_;
  bool quick_;
  std::vector<double> times_ms_;
  std::map<std::string, double> numbers_;
  std::map<std::string, std::string> strings_;
  CpuPeaks peaks_before_;
  double flops_ = 0, bytes_ = 0;
  double floor_flops_ = 0, floor_bytes_ = 0;
  double floor_ms_ = 0;
};

struct Benchmark {
  std::string name;
  std::function<void(BenchState&)> run;
};

std::vector<Benchmark>& registry();

struct Registration {
  Registration(const char* name, std::function<void(BenchState&)> fn) { registry().push_back({name, std::move(fn)}); }
};

// Multiply-adds x 2 of AlexNet's five convolutions for one square input
// (bench_backbone.cpp): the work of the features, for the floors.
double alexnet_conv_flops(int64_t size);
// Multiply-adds x 2 of the three scales of `extractor` for one image-transform.
double feature_flops(const FeatureExtractor& extractor);
// Weights of the Linear layers of a flow: 2 x this x batch FLOPs per pass.
double linear_weights(const Module& flow);

// Waits for the device so that a timer sees finished work.
void synchronize(Device device);

}  // namespace differnet::bench

#define DIFFERNET_BENCHMARK(name)                                                        \
  static void bench_##name(::differnet::bench::BenchState& state);                       \
  static ::differnet::bench::Registration registration_##name(#name, &bench_##name);     \
  static void bench_##name(::differnet::bench::BenchState& state)
