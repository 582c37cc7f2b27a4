// differnet_bench [--device cpu|cuda] [--filter NAME|SUBSTRING] [--repeats N] [--warmup N] [--quick] [--list]
// Runs the registered benchmarks (bench/*.cpp) that match and prints one JSON
// object per line: {"bench": NAME, "device": "cpu"|"cuda", "median_ms": X, ...}.
#include <boost/program_options.hpp>
#include <iostream>

#include "apps/common/blas_setup.h"
#include "apps/common/options.h"
#include "autograd/error.h"
#include "bench/bench.h"
#include "kernels/profile.h"

namespace po = boost::program_options;
using namespace differnet;

int main(int argc, char** argv) {
  differnet::app::use_fast_blas_kernels(argc, argv);
  std::string device_name, filter;
  int repeats = 0, warmup = 0;
  po::options_description options("differnet_bench: DifferNet micro and pipeline benchmarks (JSON lines on stdout)");
  options.add_options()("help,h", "show this help")(
      "device", po::value(&device_name)->default_value(cuda_available() ? "cuda" : "cpu"), "cpu or cuda")(
      "filter", po::value(&filter)->default_value(""), "run only benchmarks whose name contains this (only the one so named, when one is)")(
      "repeats", po::value(&repeats)->default_value(5), "timed repeats (the median is reported)")(
      "warmup", po::value(&warmup)->default_value(1), "untimed runs before timing")(
      "quick", "smaller problem sizes (smoke test)")("tf32", "GPU: allow TF32 tensor cores in cuBLAS/cuDNN (rows get variant \"tf32\")")("list", "list the benchmark names and exit")(
      "profile", "log each convolution's algorithm choice to stderr (cuDNN's; on the CPU oneDNN against im2col)");
  try {
    po::variables_map vm;
    differnet::app::check_command_line(argc, argv);
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << options << "\n";
      return 0;
    }
    if (vm.count("list")) {
      for (const auto& b : bench::registry()) std::cout << b.name << "\n";
      return 0;
    }
    DIFFERNET_CHECK(repeats > 0 && warmup >= 0, "--repeats must be > 0 and --warmup >= 0");
    const Device device = parse_device(device_name);
    const bool tf32 = vm.count("tf32") > 0;
    kernels::set_allow_tf32(tf32);
    kernels::set_log_conv_algorithms(vm.count("profile") > 0);
    if (device == Device::CUDA)
      DIFFERNET_CHECK(cuda_available(), "--device cuda: ", cuda_unavailable_reason());
    // A filter that is some benchmark's whole name selects that one only
    // (alexnet3_features_fwd without alexnet3_features_fwd_input_grad).
    bool exact = false;
    for (const auto& b : bench::registry()) exact = exact || b.name == filter;
    int ran = 0, failed = 0;
    for (const auto& b : bench::registry()) {
      if (exact ? b.name != filter : b.name.find(filter) == std::string::npos) continue;
      bench::BenchState state(b.name, device, warmup, repeats, vm.count("quick") > 0);
      if (tf32) state.set("variant", "tf32");
      try {
        b.run(state);
        if (state.measured()) std::cout << state.json_line() << std::endl;
        ++ran;
      } catch (const std::exception& e) {
        std::cerr << "differnet_bench: " << b.name << " failed: " << e.what() << "\n";
        ++failed;
      }
    }
    if (ran + failed == 0) std::cerr << "differnet_bench: no benchmark matches --filter '" << filter << "'\n";
    return failed ? 1 : 0;
  } catch (const po::error& e) {
    std::cerr << "differnet_bench: " << e.what() << "\n" << options << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "differnet_bench: " << e.what() << "\n";
    return 1;
  }
}
