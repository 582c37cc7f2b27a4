#include "apps/common/options.h"

#include <cctype>
#include <cmath>

#include <sys/stat.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "autograd/error.h"

namespace po = boost::program_options;

namespace differnet::app {

Device TrainOptions::resolved_device() const {
  if (device.empty()) return cuda_available() ? Device::CUDA : Device::CPU;
  const Device d = parse_device(device);
  DIFFERNET_CHECK(d == Device::CPU || cuda_available(), "--device cuda: ", cuda_unavailable_reason());
  return d;
}

bool TrainOptions::jitter_for(const std::string& category_name) const {
  if (jitter == "on") return true;
  if (jitter == "off") return false;
  return category_name == "mtd";  // the paper jitters Magnetic Tile Defects only
}

std::vector<std::string> split_list(const std::string& text, const std::string& flag) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    DIFFERNET_CHECK(!item.empty(), flag, ": empty item in '", text, "'");
    out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// A default as a person writes it ("2e-4", "0.8", "30"), not Boost's
// round-trip form ("0.00020000000000000001"): the shortest text that reads
// back to the same double, plain or in exponent form without padding.
static std::string written(double v) {
  std::string best;
  for (int precision = 1; precision <= 17; ++precision) {
    char plain[40], sci[40];
    std::snprintf(plain, sizeof plain, "%.*g", precision, v);
    if (std::strtod(plain, nullptr) != v) continue;
    std::snprintf(sci, sizeof sci, "%.*e", precision - 1, v);  // "2.0e-04": drop ".0", "+" and the exponent's zeros
    const std::string e = sci;
    const size_t x = e.find('e');
    std::string mantissa = e.substr(0, x), exponent = e.substr(x + 1);
    if (mantissa.find('.') != std::string::npos) {
      while (mantissa.back() == '0') mantissa.pop_back();
      if (mantissa.back() == '.') mantissa.pop_back();
    }
    const bool negative = exponent[0] == '-';
    exponent.erase(0, 1);
    while (exponent.size() > 1 && exponent[0] == '0') exponent.erase(0, 1);
    const std::string compact = mantissa + "e" + (negative ? "-" : "") + exponent;
    const std::string p = plain;
    const std::string candidate = p.find('e') == std::string::npos && p.size() <= compact.size() ? p : compact;
    if (best.empty() || candidate.size() < best.size()) best = candidate;
  }
  return best;
}

static bool file_exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string default_weights_path(const std::string& backbone) {
  const std::string dir = std::string(DIFFERNET_SOURCE_DIR) + "/weights/";
  if (backbone == "alexnet") {
    for (const char* name : {"alexnet-owt-7be5be79.pth", "alexnet-features.safetensors"})
      if (file_exists(dir + name)) return dir + name;
    return dir + "alexnet-owt-7be5be79.pth";
  }
  if (backbone == "squeezenet1_1") {
    const std::string shared = std::string(DIFFERNET_SOURCE_DIR) + "/../shared/weights/squeezenet1_1-features.pth";
    if (file_exists(dir + "squeezenet1_1-features.pth")) return dir + "squeezenet1_1-features.pth";
    return shared;
  }
  return dir + backbone + ".pth";
}

// Boost.Program_options builds its error messages by replacing %name% tokens
// (%option%, %value%, %invalid_line%, ...) until none is left; a token inside
// the replacement text makes what() loop forever. Any %name% (lower-case
// letters and underscores between two percent signs) is refused up front.
void check_no_message_placeholders(const std::string& text, const std::string& where) {
  for (size_t start = text.find('%'); start != std::string::npos; start = text.find('%', start + 1)) {
    size_t end = start + 1;
    while (end < text.size() && (std::islower(static_cast<unsigned char>(text[end])) || text[end] == '_')) ++end;
    if (end > start + 1 && end < text.size() && text[end] == '%')
      throw Error(detail::concat(where, ": '", text.substr(start, end - start + 1), "' is not allowed in options"));
  }
}

void check_command_line(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) check_no_message_placeholders(argv[i], "command line");
}

// The options that a command line and a config file may set, bound to `o`.
static po::options_description describe_train_options(TrainOptions& o) {
  po::options_description opts("DifferNet options (defaults are the paper's)");
  opts.add_options()
      ("data", po::value(&o.data_dir)->required(), "MVTec-layout folder: DATA/<category>/{train,test,ground_truth}")
      ("category", po::value(&o.category)->required(), "a category, 'a,b,c' for one model on several, or 'all' for one model each")
      ("out", po::value(&o.out_dir)->default_value(o.out_dir), "output folder (results.json, model.safetensors, scores.csv, report.html, maps/)")
      ("device", po::value(&o.device), "cpu or cuda (default: cuda when present)")
      ("backbone", po::value(&o.backbone)->default_value(o.backbone), "alexnet or squeezenet1_1")
      ("weights", po::value(&o.weights), "backbone ImageNet weights (.pth or .safetensors); default: weights/ (see weights/fetch_alexnet.sh)")
      ("image-size", po::value(&o.image_size)->default_value(o.image_size), "input side S in pixels")
      ("scales", po::value(&o.scales)->default_value(o.scales), "feature scales S, S/2, S/4, ...")
      ("blocks", po::value(&o.blocks)->default_value(o.blocks), "coupling blocks of the flow")
      ("hidden", po::value(&o.hidden)->default_value(o.hidden), "hidden width of the coupling subnets")
      ("alpha", po::value(&o.alpha)->default_value(o.alpha, written(o.alpha)), "soft-clamp alpha (paper eq. 2)")
      ("train-transforms", po::value(&o.train_transforms)->default_value(o.train_transforms), "random transforms per training image per step")
      ("test-transforms", po::value(&o.test_transforms)->default_value(o.test_transforms), "T: transforms per test image (paper eq. 5)")
      ("batch-size", po::value(&o.batch_size)->default_value(o.batch_size), "images per step")
      ("meta-epochs", po::value(&o.meta_epochs)->default_value(o.meta_epochs), "meta epochs (an evaluation after each)")
      ("sub-epochs", po::value(&o.sub_epochs)->default_value(o.sub_epochs), "epochs per meta epoch")
      ("lr", po::value(&o.lr)->default_value(o.lr, written(o.lr)), "Adam learning rate")
      ("beta1", po::value(&o.beta1)->default_value(o.beta1, written(o.beta1)), "Adam beta1")
      ("beta2", po::value(&o.beta2)->default_value(o.beta2, written(o.beta2)), "Adam beta2")
      ("eps", po::value(&o.eps)->default_value(o.eps, written(o.eps)), "Adam epsilon")
      ("weight-decay", po::value(&o.weight_decay)->default_value(o.weight_decay, written(o.weight_decay)), "L2 weight decay added to the gradient")
      ("rotate", po::value(&o.rotate)->default_value(o.rotate), "random rotations of training and test images (false: the paper's no-transform ablation)")
      ("jitter", po::value(&o.jitter)->default_value(o.jitter), "brightness/contrast jitter: auto (on for mtd), on, off")
      ("shots", po::value(&o.shots)->default_value(o.shots), "train on a seeded subset of N images (0: all)")
      ("feature-pool", po::value(&o.feature_pool)->default_value(o.feature_pool),
       "0: fresh random transforms every epoch (the paper); K: features of K random transforms per image computed once and reused (faster, for CPUs)")
      ("seed", po::value(&o.seed)->default_value(o.seed), "seed of every random choice")
      ("localize", po::value(&o.localize)->default_value(o.localize), "defect maps for: none, defective (test images), all")
      ("localize-transforms", po::value(&o.localize_transforms)->default_value(o.localize_transforms), "T fixed rotations per defect map (paper eq. 7)")
      ("max-maps", po::value(&o.max_maps)->default_value(o.max_maps), "at most this many heat-map/overlay PNG pairs")
      ("report-images", po::value(&o.report_images)->default_value(o.report_images), "overlays shown in report.html")
      ("on-nonfinite", po::value(&o.on_nonfinite)->default_value(o.on_nonfinite),
       "a non-finite loss or gradient: stop (after writing OUT/nonfinite-*.safetensors), or skip the batch with a warning")
      ("on-bad-image", po::value(&o.on_bad_image)->default_value(o.on_bad_image), "an unreadable image: stop, or skip with a warning")
      ("resume", po::bool_switch(&o.resume), "continue from OUT/checkpoint.safetensors")
      ("checkpoint-minutes", po::value(&o.checkpoint_minutes)->default_value(o.checkpoint_minutes, written(o.checkpoint_minutes)),
       "write OUT/checkpoint.safetensors at the end of a meta epoch when this many minutes have passed since the last one (0: every meta epoch); an interruption always writes one")
      ("keep-checkpoint", po::bool_switch(&o.keep_checkpoint), "keep the checkpoint after a completed run (default: removed)")
      ("stop-after-steps", po::value(&o.stop_after_steps)->default_value(0),
       "stop after N training steps of this invocation, writing the checkpoint as SIGINT does (continue with --resume)")
      ("profile", po::bool_switch(&o.profile),
       "print a per-stage time table and a memory breakdown at the end (and, on the GPU, the cuDNN algorithms chosen)")
      ("tf32", po::bool_switch(&o.tf32), "GPU: let cuBLAS and cuDNN use TF32 tensor cores (faster, ~1e-3 relative error; default FP32)")
      ("cudnn-benchmark", po::bool_switch(&o.cudnn_benchmark),
       "GPU: let cuDNN pick the fastest convolution algorithm, non-deterministic ones included (default: deterministic ones only)")
      ("note", po::value(&o.note), "a line shown at the top of report.html");
  return opts;
}

std::vector<std::string> train_option_names() {
  TrainOptions scratch;
  const po::options_description opts = describe_train_options(scratch);
  std::vector<std::string> names;
  for (const auto& option : opts.options()) names.push_back(option->long_name());
  return names;
}

bool parse_train_options(int argc, char** argv, TrainOptions& o) {
  std::string config_file;
  po::options_description general("General");
  general.add_options()("help,h", "show this help")("config", po::value(&config_file),
                                                     "read options from FILE (key = value lines; the command line wins)");
  const po::options_description opts = describe_train_options(o);
  po::options_description all;
  all.add(general).add(opts);
  po::variables_map vm;
  check_command_line(argc, argv);
  try {
    po::store(po::parse_command_line(argc, argv, all), vm);
    if (vm.count("help")) {
      std::cout << "train_mvtec: train DifferNet on MVTec-layout data and evaluate it (image AUROC,\n"
                   "defect maps, report).\n\n"
                << all << "\n";
      return false;
    }
    if (vm.count("config")) {
      const std::string file = vm["config"].as<std::string>();
      std::ifstream in(file, std::ios::binary);
      DIFFERNET_CHECK(in, "--config: cannot read '", file, "'");
      std::ostringstream text;
      text << in.rdbuf();
      check_no_message_placeholders(text.str(), "--config " + file);
      std::istringstream config(text.str());
      po::store(po::parse_config_file(config, opts), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error(std::string(e.what()) + " (see --help)");
  }
  validate(o);
  return true;
}

void validate(const TrainOptions& o) {
  auto positive = [](int v, const char* flag) { DIFFERNET_CHECK(v > 0, flag, " must be positive, got ", v); };
  positive(o.image_size, "--image-size");
  positive(o.scales, "--scales");
  positive(o.blocks, "--blocks");
  positive(o.hidden, "--hidden");
  positive(o.train_transforms, "--train-transforms");
  positive(o.test_transforms, "--test-transforms");
  positive(o.batch_size, "--batch-size");
  positive(o.meta_epochs, "--meta-epochs");
  positive(o.sub_epochs, "--sub-epochs");
  positive(o.localize_transforms, "--localize-transforms");
  const int smallest = o.scales > 31 ? 0 : o.image_size >> (o.scales - 1);  // a shift by >= 32 bits is undefined
  DIFFERNET_CHECK(smallest >= 64, "--image-size ", o.image_size, " with --scales ", o.scales,
                  ": the smallest scale would be ", smallest, " px, under the 64 px the backbones need");
  DIFFERNET_CHECK(o.alpha > 0, "--alpha must be positive");
  DIFFERNET_CHECK(o.lr > 0 && o.eps > 0 && o.weight_decay >= 0, "--lr and --eps must be positive, --weight-decay >= 0");
  DIFFERNET_CHECK(o.checkpoint_minutes >= 0 && std::isfinite(o.checkpoint_minutes), "--checkpoint-minutes ",
                  o.checkpoint_minutes, ": must be >= 0");
  DIFFERNET_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "--beta1 and --beta2 must be in [0, 1)");
  DIFFERNET_CHECK(o.stop_after_steps >= 0, "--stop-after-steps must be >= 0");
  DIFFERNET_CHECK(o.shots >= 0 && o.feature_pool >= 0 && o.max_maps >= 0 && o.report_images >= 0,
                  "--shots, --feature-pool, --max-maps and --report-images must be >= 0");
  DIFFERNET_CHECK(o.jitter == "auto" || o.jitter == "on" || o.jitter == "off", "--jitter must be auto, on or off, got '",
                  o.jitter, "'");
  DIFFERNET_CHECK(o.localize == "none" || o.localize == "defective" || o.localize == "all",
                  "--localize must be none, defective or all, got '", o.localize, "'");
  DIFFERNET_CHECK(o.on_bad_image == "stop" || o.on_bad_image == "skip", "--on-bad-image must be stop or skip, got '",
                  o.on_bad_image, "'");
  DIFFERNET_CHECK(o.on_nonfinite == "stop" || o.on_nonfinite == "skip", "--on-nonfinite must be stop or skip, got '",
                  o.on_nonfinite, "'");
  if (!o.device.empty()) parse_device(o.device);
  DIFFERNET_CHECK(!o.out_dir.empty(), "--out must not be empty");
}

}  // namespace differnet::app
