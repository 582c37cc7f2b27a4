// differnet_score: score images with a trained DifferNet model.
//
//   differnet_score --model runs/demo/model.safetensors IMAGE_OR_FOLDER...
//       [--threshold X] [--maps DIR] [--dump DIR] [--device cpu|cuda]
//
// Prints one line per image: path, anomaly score (paper eq. 5) and decision
// ("defect" when the score exceeds the threshold: --threshold, or the model's
// default, the 99th percentile of its training images' scores). With the
// model's seed and test transforms it reproduces train_mvtec's scores.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "apps/common/localization.h"
#include "apps/common/model.h"
#include "apps/common/npy.h"
#include "apps/common/options.h"
#include "apps/common/scoring.h"
#include "apps/common/blas_setup.h"
#include "autograd/error.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "flow/flow_io.h"

namespace po = boost::program_options;
using namespace differnet;
using namespace differnet::app;

namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Files given, and the images directly inside folders given (sorted).
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const auto& in : inputs) {
    if (!is_dir(in)) {
      out.push_back(in);
      continue;
    }
    DIR* d = opendir(in.c_str());
    DIFFERNET_CHECK(d != nullptr, "cannot read the folder ", in);
    std::vector<std::string> found;
    while (dirent* e = readdir(d))
      if (data::has_image_extension(e->d_name)) found.push_back(in + "/" + e->d_name);
    closedir(d);
    DIFFERNET_CHECK(!found.empty(), "the folder ", in, " holds no .png/.jpg/.jpeg image");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

std::string stem_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = name.find_last_of('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

int metadata_int(const weights::Metadata& m, const std::string& key, int fallback) {
  auto it = m.find(key);
  return it == m.end() ? fallback : std::stoi(it->second);
}

}  // namespace

int main(int argc, char** argv) {
  differnet::app::use_fast_blas_kernels(argc, argv);
  std::string model_path, weights_path, device_name, maps_dir, dump_dir, on_bad;
  std::vector<std::string> inputs;
  double threshold = NAN;
  int transforms = 0, localize_transforms = 0;
  po::options_description opts("differnet_score: score images with a trained DifferNet model");
  opts.add_options()("help,h", "show this help")(
      "model", po::value(&model_path)->required(), "model.safetensors written by train_mvtec")(
      "weights", po::value(&weights_path), "backbone ImageNet weights (default: as train_mvtec)")(
      "device", po::value(&device_name), "cpu or cuda (default: cuda when present)")(
      "threshold", po::value(&threshold), "decision threshold (default: the model's)")(
      "transforms", po::value(&transforms)->default_value(0), "test transforms T (default: the model's)")(
      "maps", po::value(&maps_dir), "write a heat map and an overlay PNG per image into DIR")(
      "localize-transforms", po::value(&localize_transforms)->default_value(0),
      "fixed rotations per defect map (default: T)")(
      "dump", po::value(&dump_dir),
      "write .npy files per image: input tensors [T,3,S,S], features [T,D], z [T,D], log-det [T]")(
      "on-bad-image", po::value(&on_bad)->default_value("stop"), "an unreadable image: stop, or skip with a warning")(
      "input", po::value(&inputs)->multitoken(), "image files or folders");
  po::positional_options_description pos;
  pos.add("input", -1);
  try {
    po::variables_map vm;
    check_command_line(argc, argv);
    po::store(po::command_line_parser(argc, argv).options(opts).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << opts << "\n";
      return 0;
    }
    po::notify(vm);
    DIFFERNET_CHECK(!inputs.empty(), "no image or folder given");
    DIFFERNET_CHECK(on_bad == "stop" || on_bad == "skip", "--on-bad-image must be stop or skip");
  } catch (const std::exception& e) {
    std::cerr << "differnet_score: " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    TrainOptions device_choice;
    device_choice.device = device_name;
    const Device device = device_choice.resolved_device();
    const weights::Metadata meta = read_flow_metadata(model_path);
    const ModelConfig config = config_from_metadata(meta, model_path);
    if (weights_path.empty()) weights_path = default_weights_path(config.backbone);
    auto model = DifferNetModel::load(model_path, weights_path, device);
    if (std::isnan(threshold)) {
      auto it = meta.find("threshold");
      DIFFERNET_CHECK(it != meta.end(), model_path, " has no default threshold: pass --threshold");
      threshold = std::stod(it->second);
    }
    if (transforms <= 0) transforms = metadata_int(meta, "test_transforms", 64);
    if (localize_transforms <= 0) localize_transforms = transforms;

    std::vector<data::Sample> samples;
    for (const auto& p : expand_inputs(inputs)) samples.push_back({p, 0, "", ""});
    data::ImageCacheOptions co;
    co.size = int(config.image_size);
    co.device = device;
    co.on_bad_image = on_bad == "skip" ? data::BadImagePolicy::Skip : data::BadImagePolicy::Stop;
    const data::ImageCache cache = data::ImageCache::load(samples, co);
    std::vector<int> rows(static_cast<size_t>(cache.count()));
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = int(i);
    const auto rotate = meta.find("rotate");
    const std::vector<double> angles = test_angles(config.seed, transforms, rotate == meta.end() || rotate->second != "false");
    const auto sample_transforms = with_angles(rows, angles);
    const Tensor features = features_of(*model, cache, sample_transforms, transforms, "features");
    const std::vector<double> scores = scores_of(*model, features, transforms, cache.paths());

    std::printf("path\tscore\tdecision\n");
    for (size_t i = 0; i < scores.size(); ++i)
      std::printf("%s\t%.9g\t%s\n", cache.paths()[i].c_str(), scores[i], scores[i] > threshold ? "defect" : "good");
    std::fflush(stdout);

    if (!dump_dir.empty()) {
      mkdir(dump_dir.c_str(), 0755);
      const int64_t d = features.size(1), s = config.image_size;
      for (size_t i = 0; i < rows.size(); ++i) {
        const std::vector<data::SampleTransform> mine(sample_transforms.begin() + long(i) * transforms,
                                                      sample_transforms.begin() + long(i + 1) * transforms);
        const std::string base = dump_dir + "/" + std::to_string(i) + "_" + stem_of(cache.paths()[i]);
        write_npy(base + "_input.npy", data::make_batch(cache, mine).images.to(Device::CPU).to_vector<float>(),
                  {transforms, 3, s, s});
        const Tensor f = narrow(features, 0, int64_t(i) * transforms, transforms);
        NoGradGuard no_grad;
        const FlowOutput out = model->flow().forward(f);
        write_npy(base + "_features.npy", f.to(Device::CPU).to_vector<float>(), {transforms, d});
        write_npy(base + "_z.npy", out.z.to(Device::CPU).to_vector<float>(), {transforms, d});
        write_npy(base + "_logdet.npy", out.log_jac_det.to(Device::CPU).to_vector<float>(), {transforms});
      }
      std::fprintf(stderr, "wrote %zu x 4 .npy files to %s\n", rows.size(), dump_dir.c_str());
    }
    if (!maps_dir.empty()) {
      mkdir(maps_dir.c_str(), 0755);
      for (size_t i = 0; i < rows.size(); ++i) {
        const Map unit = display_map(defect_map_of(*model, cache, int(i), localize_transforms));
        const std::string base = maps_dir + "/" + stem_of(cache.paths()[i]);
        data::save_png(heatmap_image(unit), base + "_heat.png");
        data::save_png(overlay_image(cache.image(int64_t(i)), unit), base + "_overlay.png");
      }
      std::fprintf(stderr, "wrote %zu defect maps to %s\n", rows.size(), maps_dir.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "differnet_score: " << e.what() << "\n";
    return 1;
  }
}
