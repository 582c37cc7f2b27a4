#include "apps/common/experiment.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <numeric>
#include <random>
#include <sstream>

#include "apps/common/checkpoint.h"
#include "apps/common/localization.h"
#include "apps/common/metrics.h"
#include "apps/common/model.h"
#include "apps/common/progress.h"
#include "apps/common/scoring.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/image_cache.h"
#include "data/image_io.h"
#include "data/prefetch.h"
#include "flow/score.h"
#include "kernels/host_allocator.h"
#include "kernels/kernels.h"
#include "kernels/profile.h"
#include "weights/file_io.h"
#include "weights/json.h"
#include "weights/safetensors.h"
#include "weights/tensor_convert.h"

namespace differnet::app {
using weights::Json;
namespace {

std::atomic<bool> g_interrupted{false};
std::string g_stage = "setup";  // the last stage entered, for out-of-memory messages
extern "C" void on_interrupt(int) { g_interrupted = true; }

void synchronize(Device device) {
#if DIFFERNET_WITH_CUDA
  if (device == Device::CUDA) kernels::cuda::synchronize();
#else
  (void)device;
#endif
}

// Adds the wall time of a scope (device work finished) to a stage's total,
// and marks the scope as an NVTX range for Nsight.
class StageTimer {
 public:
  StageTimer(std::map<std::string, double>& totals, std::string stage, Device device)
      : totals_(totals), stage_(std::move(stage)), device_(device), range_(stage_.c_str()),
        start_(std::chrono::steady_clock::now()) {
    g_stage = stage_;
  }
  // The synchronisation is where an asynchronous CUDA fault of the stage shows:
  // it is thrown from here (so that it reaches the stage's error message), except
  // while another exception unwinds the scope, which then is the one reported
  // (a second throw would terminate the process).
  ~StageTimer() noexcept(false) {
    if (std::uncaught_exceptions() > exceptions_at_start_) return;
    synchronize(device_);
    totals_[stage_] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  const int exceptions_at_start_ = std::uncaught_exceptions();
  std::map<std::string, double>& totals_;
  std::string stage_;
  Device device_;
  kernels::ProfileRange range_;
  std::chrono::steady_clock::time_point start_;
};

std::vector<int> shuffled(int n, std::mt19937_64& rng) {
  std::vector<int> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  for (int i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(draw_below(rng, uint64_t(i) + 1))]);
  return p;
}

struct TestImage {
  data::Sample sample;
  std::string category;
};

bool is_writable_dir(const std::string& dir) {
  const std::string probe = dir + "/.write-test";
  FILE* f = std::fopen(probe.c_str(), "w");
  if (!f) return false;
  std::fclose(f);
  std::remove(probe.c_str());
  return true;
}

void make_dirs(const std::string& path) {
  std::string partial;
  std::stringstream ss(path);
  std::string part;
  if (!path.empty() && path[0] == '/') partial = "/";
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    partial += part + "/";
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
      throw Error("cannot create the output folder '" + partial + "': " + std::strerror(errno));
  }
}

bool file_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// The source tree's commit when the program runs, "-dirty" when it has uncommitted changes.
std::string git_commit() {
  const std::string cmd =
      std::string("git -C '") + DIFFERNET_SOURCE_DIR + "' describe --always --dirty --abbrev=7 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "unknown";
  char buf[64] = {0};
  const bool ok = std::fgets(buf, sizeof buf, p) != nullptr;
  pclose(p);
  std::string s = ok ? buf : "unknown";
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s.empty() ? "unknown" : s;
}

std::string stem_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = name.find_last_of('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

// The mask at S x S by nearest-neighbour sampling (PIL's NEAREST), binarised; zeros when absent.
std::vector<uint8_t> mask_at(const std::string& mask_path, int size) {
  std::vector<uint8_t> out(size_t(size) * size_t(size), 0);
  if (mask_path.empty()) return out;
  const data::Image m = data::load_gray(mask_path);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const int sx = std::min(m.width - 1, int((x + 0.5) * m.width / size));
      const int sy = std::min(m.height - 1, int((y + 0.5) * m.height / size));
      out[size_t(y) * size_t(size) + size_t(x)] = m.at(sx, sy, 0) > data::kMaskThreshold ? 1 : 0;
    }
  return out;
}

// The first non-finite quantity of a training step, checked before the
// update (after the batch's features): the loss, then the gradients and parameters (one fused check of the
// flat buffers; the parameter is named only when it fails). "" when all are finite.
std::string find_nonfinite(double loss, const DifferNetFlow& flow, const Adam& adam) {
  if (!std::isfinite(loss)) return "the loss";
  if (all_finite({adam.flat_gradients(), adam.flat_parameters()})) return "";
  for (const auto& [name, p] : flow.named_parameters()) {
    if (!all_finite({p})) return "parameter flow." + name;
    if (p.has_grad() && !all_finite({p.grad()})) return "the gradient of flow." + name;
  }
  return "the gradients";
}

// A small record of a failed step: the batch's features, what failed, where, and the images.
void write_fault_dump(const std::string& path, const Tensor& features, const std::string& fault,
                      const std::string& where, const std::string& images) {
  try {
    weights::write_safetensors(path, {{"features", weights::to_raw(features)}},
                               {{"fault", fault}, {"where", where}, {"images", images}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "warning: could not write the fault dump %s: %s\n", path.c_str(), e.what());
  }
}

CategoryResult evaluate_category(const std::string& name, const std::vector<TestImage>& test,
                                 const std::vector<double>& scores) {
  CategoryResult r;
  r.name = name;
  std::vector<double> s;
  std::vector<int> l;
  std::map<std::string, std::pair<std::vector<double>, std::vector<int>>> per_type;
  std::vector<double> good;
  for (size_t i = 0; i < test.size(); ++i) {
    if (test[i].category != name) continue;
    s.push_back(scores[i]);
    l.push_back(test[i].sample.label);
    if (test[i].sample.label == 0) good.push_back(scores[i]);
    else per_type[test[i].sample.defect_type].first.push_back(scores[i]);
  }
  r.auroc_last = auroc(s, l);
  for (auto& [type, p] : per_type) {
    std::vector<double> ts = good;
    std::vector<int> tl(good.size(), 0);
    ts.insert(ts.end(), p.first.begin(), p.first.end());
    tl.insert(tl.end(), p.first.size(), 1);
    r.auroc_per_type.emplace_back(type, auroc(ts, tl));
  }
  return r;
}

// The process's peak resident set so far (what /usr/bin/time -v reports as
// "Maximum resident set size"), in bytes.
double peak_resident_bytes() {
  struct rusage usage;
  return getrusage(RUSAGE_SELF, &usage) == 0 ? double(usage.ru_maxrss) * 1024 : 0;
}

}  // namespace

void install_interrupt_handlers() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

namespace {
ExperimentResult run_experiment_unguarded(const TrainOptions& o, const std::vector<std::string>& categories,
                                          const std::string& out_dir);

// What to change after running out of memory in the stage g_stage: the model's
// size does not depend on the batch, everything after it does.
std::string out_of_memory_advice(const TrainOptions& o) {
  std::string advice = "\n  while computing '" + g_stage + "'";
  if (g_stage == "model")
    return advice + " (" + std::to_string(o.blocks) + " blocks of hidden width " + std::to_string(o.hidden) +
           "): try a smaller --hidden" + (o.blocks > 1 ? " or fewer --blocks" : "");
  advice += " with --batch-size " + std::to_string(o.batch_size) + " x " + std::to_string(o.train_transforms) +
            " transforms: try --batch-size " + std::to_string(std::max(1, o.batch_size / 2));
  return advice + (o.hidden > 512 ? " or a smaller --hidden" : "");
}
}  // namespace

ExperimentResult run_experiment(const TrainOptions& o, const std::vector<std::string>& categories,
                                const std::string& out_dir) {
  try {
    return run_experiment_unguarded(o, categories, out_dir);
  } catch (const OutOfMemory& e) {
    throw OutOfMemory(std::string(e.what()) + out_of_memory_advice(o));
  } catch (const std::bad_alloc&) {  // a host container that could not grow
    throw OutOfMemory("host out of memory (a std::bad_alloc)" + out_of_memory_advice(o));
  }
}

namespace {

// One run of the paper's protocol (section 4), stage by stage; run() lists the
// stages in order, and the members are the state they hand on.
class ExperimentRun {
 public:
  ExperimentRun(const TrainOptions& options, const std::vector<std::string>& categories, const std::string& out_dir)
      : o(options), categories(categories), out_dir(out_dir), device(options.resolved_device()),
        stages(result.stage_seconds), T(options.test_transforms) {
    result.out_dir = out_dir;
    for (const auto& c : categories) set_name += (set_name.empty() ? "" : "+") + c;
  }

  ExperimentResult run() {
    kernels::set_allow_tf32(o.tf32);
    kernels::set_cudnn_benchmark(o.cudnn_benchmark);
    kernels::set_log_conv_algorithms(o.profile);
    prepare_output_folder();  // first: fail before hours of training, not after
    load_images();            // 4.1 Datasets: defect-free training images, good and defective test images
    build_model();            // 3 Method, 4.2 Implementation details: AlexNet features at 3 scales, the flow
    fixed_features();         // 3.2: the test images' transforms, through the frozen backbone once
    train_flow();             // 3.1.2 Training (eq. 4), with an evaluation (3.2, eq. 5) per meta epoch
    summarise_epochs();       // 4.3 Detection: the last evaluation's AUROC, and the maximum as a secondary figure
    decision_threshold();     // not in the paper: the 99th percentile of training scores, for differnet_score
    localise();               // 3.3 Localization (eq. 7), 4.4: defect maps and the pixel AUROC
    write_outputs();          // model, scores.csv, results.json, each written atomically
    write_report();           // report.html
    // Every output is written: the run is complete and needs no checkpoint (a
    // 172M-parameter flow's is 2 GB) unless asked to keep one.
    if (!o.keep_checkpoint && file_exists(checkpoint_path) && std::remove(checkpoint_path.c_str()) != 0)
      std::fprintf(stderr, "warning: could not remove %s: %s\n", checkpoint_path.c_str(), std::strerror(errno));
    return std::move(result);
  }

 private:
  // Scores the test images with the current flow (paper eq. 5) and their AUROC per category.
  void evaluate() {
    StageTimer t(stages, "evaluation", device);
    last_scores = scores_of(*model, test_features, T, test_names);
    evaluation.clear();
    for (const auto& name : categories) evaluation.push_back(evaluate_category(name, test, last_scores));
  }

  void checkpoint() {
    StageTimer t(stages, "checkpoint", device);
    save_checkpoint(checkpoint_path, model->flow(), *adam, progress);
    last_checkpoint = std::chrono::steady_clock::now();
  }

  void prepare_output_folder() {
    make_dirs(out_dir);
    DIFFERNET_CHECK(is_writable_dir(out_dir), "the output folder '", out_dir, "' is not writable");
    checkpoint_path = out_dir + "/checkpoint.safetensors";
    DIFFERNET_CHECK(!o.resume || file_exists(checkpoint_path), "--resume: no checkpoint at ", checkpoint_path);
  }

  void load_images() {
    for (const auto& name : categories) {
      data::Category c = data::load_category(o.data_dir, name);
      std::vector<data::Sample> t = o.shots > 0 ? data::few_shot_subset(c.train, size_t(std::min<size_t>(o.shots, c.train.size())), o.seed)
                                                : c.train;
      DIFFERNET_CHECK(o.shots <= 0 || size_t(o.shots) <= c.train.size(), "--shots ", o.shots, ": category ", name,
                      " has only ", c.train.size(), " training images");
      train.insert(train.end(), t.begin(), t.end());
      int defects = 0;
      for (const auto& s : c.test) {
        test.push_back({s, name});
        defects += s.label;
      }
      DIFFERNET_CHECK(defects > 0 && defects < int(c.test.size()), "category ", name, " has ", defects,
                      " defective and ", c.test.size() - size_t(defects),
                      " good test images: the AUROC needs both (check ", o.data_dir, "/", name, "/test)");
      jitter = jitter || o.jitter_for(name);
    }
    data::ImageCacheOptions cache_options;
    cache_options.size = o.image_size;
    cache_options.device = device;
    cache_options.on_bad_image = o.on_bad_image == "skip" ? data::BadImagePolicy::Skip : data::BadImagePolicy::Stop;
    {
      StageTimer t(stages, "data", device);
      std::vector<data::Sample> test_samples;
      for (const auto& ti : test) test_samples.push_back(ti.sample);
      std::cerr << "[" << set_name << "] decoding " << train.size() << " training and " << test.size()
                << " test images at " << o.image_size << " px on " << device_name(device) << "\n";
      train_cache = data::ImageCache::load(train, cache_options);
      test_cache = data::ImageCache::load(test_samples, cache_options);
      std::vector<TestImage> kept;  // images left out by --on-bad-image skip
      for (size_t idx : test_cache.source_index()) kept.push_back(test[idx]);
      test = kept;
    }
    n_train = int(train_cache.count());
  }

  void build_model() {
    ModelConfig mc;
    mc.backbone = o.backbone;
    mc.image_size = o.image_size;
    mc.scales = o.scales;
    mc.blocks = o.blocks;
    mc.hidden = o.hidden;
    mc.alpha = o.alpha;
    mc.seed = o.seed;
    weights_path = o.weights.empty() ? default_weights_path(o.backbone) : o.weights;
    DIFFERNET_CHECK(file_exists(weights_path), "the ", o.backbone, " ImageNet weights are missing: expected ", weights_path,
                    " (run weights/fetch_alexnet.sh, or name a file with --weights)");
    g_stage = "model";  // the flow's parameters and Adam's state: their size depends on --hidden and --blocks
    model = std::make_unique<DifferNetModel>(mc, weights_path, device);
    adam = std::make_unique<Adam>(model->flow().parameters(), AdamOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay});
    if (o.resume) {
      progress = load_checkpoint(checkpoint_path, model->flow(), *adam);
      std::cerr << "[" << set_name << "] resumed from " << checkpoint_path << " after epoch " << progress.epoch << "\n";
    }
  }

  void fixed_features() {
    std::vector<int> test_rows(size_t(test_cache.count()));
    train_rows.resize(size_t(train_cache.count()));
    std::iota(test_rows.begin(), test_rows.end(), 0);
    std::iota(train_rows.begin(), train_rows.end(), 0);
    angles = test_angles(o.seed, T, o.rotate);
    {
      StageTimer t(stages, "features", device);
      test_features = features_of(*model, test_cache, with_angles(test_rows, angles), T, "test features");
      if (o.feature_pool > 0) {
        data::TransformOptions pool;
        pool.transforms_per_image = o.feature_pool;
        pool.color_jitter = jitter;
        if (!o.rotate) pool.rotation = data::RotationMode::None;
        auto rng = rng_for(o.seed, Purpose::FeaturePool, 0);
        pool_features = features_of(*model, train_cache, data::draw_transforms(train_rows, pool, rng), o.feature_pool,
                                    "train feature pool");
      }
    }
    for (const auto& ti : test) test_names.push_back(ti.sample.path);
  }

  void train_flow() {
    const int steps_per_epoch = (n_train + o.batch_size - 1) / o.batch_size;
    const int total_epochs = o.meta_epochs * o.sub_epochs;
    data::TransformOptions train_transform;
    train_transform.transforms_per_image = o.train_transforms;
    train_transform.color_jitter = jitter;
    if (!o.rotate) train_transform.rotation = data::RotationMode::None;
    int steps_this_run = 0;
    auto meta_start = std::chrono::steady_clock::now();
    last_checkpoint = meta_start;
    while (progress.epoch < total_epochs) {
      const int epoch = progress.epoch;
      auto rng = rng_for(o.seed, Purpose::TrainEpoch, uint64_t(epoch));
      // Plan the whole epoch first (cheap), so a resumed epoch draws the same batches.
      const std::vector<int> order = shuffled(n_train, rng);
      std::vector<std::vector<int>> batch_rows;
      std::vector<std::vector<data::SampleTransform>> batch_transforms;
      std::vector<std::vector<int64_t>> batch_pool_rows;
      for (int b = 0; b < steps_per_epoch; ++b) {
        std::vector<int> rows(order.begin() + b * o.batch_size,
                              order.begin() + std::min(n_train, (b + 1) * o.batch_size));
        if (o.feature_pool > 0) {
          std::vector<int64_t> pr;
          for (int r : rows)
            for (int k = 0; k < o.train_transforms; ++k)
              pr.push_back(int64_t(r) * o.feature_pool + int64_t(draw_below(rng, uint64_t(o.feature_pool))));
          batch_pool_rows.push_back(pr);
        } else {
          batch_transforms.push_back(data::draw_transforms(rows, train_transform, rng));
        }
        batch_rows.push_back(rows);
      }
      const int first = progress.step_in_epoch;
      const bool keep_features = o.feature_pool == 0 && epoch == total_epochs - 1;
      last_epoch_complete = keep_features && first == 0;
      ProgressBar bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(total_epochs), steps_per_epoch - first,
                      "step");
      std::unique_ptr<data::Prefetcher> prefetch;
      if (o.feature_pool == 0) {
        // On the CPU the batches (the current one and up to two prefetched)
        // stay uint8 until model->features normalises each piece: at 448 px
        // that is 3 x 173 MB less at the run's peak (docs/performance.md).
        const data::BatchForm form = model->batch_form();
        auto next = std::make_shared<int>(first);
        prefetch = std::make_unique<data::Prefetcher>([&, next, form]() -> std::optional<data::Batch> {
          if (*next >= steps_per_epoch) return std::nullopt;
          return data::make_batch(train_cache, batch_transforms[size_t((*next)++)], form);
        });
      }
      for (int b = first; b < steps_per_epoch; ++b) {
        Tensor feats;
        {
          StageTimer t(stages, o.feature_pool > 0 ? "flow" : "features", device);
          if (o.feature_pool > 0) {
            feats = index_select(pool_features, 0, batch_pool_rows[size_t(b)]);
          } else {  // the batch is freed here, before the flow step
            const data::Batch batch = *prefetch->next();
            training_batch_bytes = std::max(training_batch_bytes, double(batch.images.nbytes()));
            feats = model->features(batch.images);
          }
        }
        if (o.batch_hook) o.batch_hook(feats, long(epoch) * steps_per_epoch + b);
        double loss;
        std::string fault;
        {
          StageTimer t(stages, "flow", device);
          if (!all_finite({feats})) {
            fault = "the batch's features";
            loss = NAN;
          } else {
            loss = model->loss_and_gradients(feats, *adam).item();
            fault = find_nonfinite(loss, model->flow(), *adam);
          }
          if (fault.empty()) adam->step();
        }
        if (keep_features && fault.empty()) {
          last_epoch_features.push_back(feats.detach());
          for (int r : batch_rows[size_t(b)]) last_epoch_names.push_back(train_cache.paths().at(size_t(r)));
        }
        if (!fault.empty()) {
          std::string paths;
          for (int r : batch_rows[size_t(b)]) paths += "\n  " + train_cache.paths().at(size_t(r));
          const std::string where = "epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(b + 1);
          const std::string dump = out_dir + "/nonfinite-epoch" + std::to_string(epoch + 1) + "-step" +
                                   std::to_string(b + 1) + ".safetensors";
          write_fault_dump(dump, feats, fault, where, paths);
          if (o.on_nonfinite == "stop")
            throw Error("non-finite value in " + fault + " at " + where + " (dump: " + dump + "); the batch's images:" +
                        paths + "\n(--on-nonfinite skip skips such batches; a lower --lr may help)");
          std::fprintf(stderr, "\nwarning: skipped the batch at %s: non-finite value in %s (dump: %s)\n", where.c_str(),
                       fault.c_str(), dump.c_str());
          ++result.skipped_batches;
          last_epoch_complete = false;
          adam->zero_grad();
          loss = 0;  // a skipped batch adds nothing to the epoch's loss
        }
        progress.epoch_loss_sum += loss;
        progress.step_in_epoch = b + 1;
        bar.advance();
        ++steps_this_run;
        if (g_interrupted || steps_this_run == o.stop_after_steps) {
          bar.finish();
          checkpoint();
          throw Interrupted("interrupted at epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(b + 1) +
                            ": checkpoint written to " + checkpoint_path + "; continue with --resume");
        }
      }
      bar.finish();
      progress.meta_loss_sum += progress.epoch_loss_sum / steps_per_epoch;
      progress.epoch += 1;
      progress.step_in_epoch = 0;
      progress.epoch_loss_sum = 0;
      if (progress.epoch % o.sub_epochs == 0) {  // end of a meta epoch: evaluate, log, checkpoint
        const int meta = progress.epoch / o.sub_epochs;
        evaluate();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - meta_start).count();
        std::vector<double> row{double(meta), progress.meta_loss_sum / o.sub_epochs, seconds};
        std::string aurocs;
        for (const auto& c : evaluation) {
          row.push_back(c.auroc_last);
          char buf[64];
          std::snprintf(buf, sizeof buf, " %s %.2f", c.name.c_str(), 100 * c.auroc_last);
          aurocs += buf;
        }
        progress.history.push_back(row);
        progress.meta_loss_sum = 0;
        std::fprintf(stderr, "[%s] meta epoch %d/%d  loss %.4f  AUROC%s  (%.1f s)\n", set_name.c_str(), meta,
                     o.meta_epochs, row[1], aurocs.c_str(), seconds);
        const double minutes =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - last_checkpoint).count() / 60;
        if (progress.epoch < total_epochs && minutes >= o.checkpoint_minutes) checkpoint();
        meta_start = std::chrono::steady_clock::now();
      }
    }
    if (evaluation.empty()) evaluate();  // resumed after the last epoch
    if (o.keep_checkpoint) checkpoint();
  }

  void summarise_epochs() {
    for (size_t c = 0; c < evaluation.size(); ++c) {
      CategoryResult& r = evaluation[c];
      for (const auto& row : progress.history) {
        const double a = row[3 + c];
        r.auroc_per_epoch.push_back(a);
        if (a > r.auroc_max) r.auroc_max = a, r.auroc_max_epoch = int(row[0]);
      }
    }
    for (const auto& row : progress.history) {
      double mean_auroc = 0;
      for (size_t c = 3; c < row.size(); ++c) mean_auroc += row[c] / double(row.size() - 3);
      result.epochs.push_back({int(row[0]), row[1], mean_auroc, row[2]});
    }
  }

  void decision_threshold() {
    {
      StageTimer t(stages, "threshold", device);
      if (pool_features.defined()) {  // the pool's K random transforms per image: no new features needed
        result.threshold = quantile(scores_of(*model, pool_features, o.feature_pool, train_cache.paths()), 0.99);
        result.threshold_source = "feature pool: " + std::to_string(o.feature_pool) + " random transforms per training image";
      } else if (last_epoch_complete) {  // the last epoch's features, scored by the final flow: no backbone pass
        result.threshold = quantile(
            scores_of(*model, concat(last_epoch_features, 0), o.train_transforms, last_epoch_names), 0.99);
        result.threshold_source = "last training epoch's features: " + std::to_string(o.train_transforms) +
                                  " random transforms per training image, scored by the final flow";
      } else {  // the first (at most 8) of the test transforms: the score's scale is the same
        const std::vector<double> some(angles.begin(), angles.begin() + std::min<long>(long(angles.size()), 8));
        const Tensor f = features_of(*model, train_cache, with_angles(train_rows, some), int(some.size()), "training scores");
        result.threshold = quantile(scores_of(*model, f, int(some.size()), train_cache.paths()), 0.99);
        result.threshold_source = "the first " + std::to_string(some.size()) + " test transforms of every training image";
      }
      for (const Tensor& f : last_epoch_features) last_epoch_feature_bytes += double(f.nbytes());
      last_epoch_features.clear();
    }
  }

  void localise() {
    if (o.localize != "none") {
      StageTimer t(stages, "localisation", device);
      std::vector<int> rows;
      for (int i = 0; i < int(test.size()); ++i)
        if (o.localize == "all" || test[size_t(i)].sample.label == 1) rows.push_back(i);
      ProgressBar bar("defect maps", long(rows.size()), "img");
      int written = 0;
      for (int row : rows) {
        const TestImage& ti = test[size_t(row)];
        const Map map = defect_map_of(*model, test_cache, row, o.localize_transforms);
        if (!ti.sample.mask_path.empty() || ti.sample.label == 0) {
          auto& [s, l] = pixels[ti.category];
          const std::vector<uint8_t> mask = mask_at(ti.sample.mask_path, o.image_size);
          s.insert(s.end(), map.values.begin(), map.values.end());
          l.insert(l.end(), mask.begin(), mask.end());
        }
        if (written < o.max_maps) {
          const Map unit = display_map(map);
          const data::Image img = test_cache.image(row);
          const std::string dir = out_dir + "/maps/" + ti.category + "/" + ti.sample.defect_type;
          make_dirs(dir);
          const data::Image heat = heatmap_image(unit), over = overlay_image(img, unit);
          data::save_png(heat, dir + "/" + stem_of(ti.sample.path) + "_heat.png");
          data::save_png(over, dir + "/" + stem_of(ti.sample.path) + "_overlay.png");
          auto& shown = report_images[ti.category];
          if (int(shown.size()) < 3 * o.report_images) {  // image, map, overlay
            const std::string caption = ti.sample.defect_type + "/" + stem_of(ti.sample.path);
            shown.push_back({caption + " (image)", data::encode_png(img, caption)});
            shown.push_back({caption + " (defect map)", data::encode_png(heat, caption)});
            shown.push_back({caption + " (overlay)", data::encode_png(over, caption)});
          }
          ++written;
        }
        bar.advance();
      }
      bar.finish();
      for (auto& r : evaluation) {
        auto it = pixels.find(r.name);
        if (it == pixels.end()) continue;
        bool has_defect = false, has_good = false;
        for (uint8_t v : it->second.second) (v ? has_defect : has_good) = true;
        if (has_defect && has_good) r.pixel_auroc = auroc(it->second.first, it->second.second);
      }
    }
  }

  void write_outputs() {
    for (size_t i = 0; i < test.size(); ++i)
      result.scores.push_back({test[i].sample.path, test[i].category, test[i].sample.defect_type, test[i].sample.label,
                               last_scores[i]});
    result.categories = evaluation;
    {
      // The model file (688 MB for the paper's flow) is most of this stage.
      StageTimer t(stages, "outputs", device);
      // "%.17g" round-trips a double: differnet_score's default threshold is
      // exactly the one results.json reports (std::to_string keeps 6 decimals).
      char threshold[32];
      std::snprintf(threshold, sizeof threshold, "%.17g", result.threshold);
      weights::Metadata extra{{"threshold", threshold},
                              {"categories", set_name},
                              {"test_transforms", std::to_string(T)},
                              {"rotate", o.rotate ? "true" : "false"},
                              {"train_images", std::to_string(n_train)},
                              {"git_commit", git_commit()}};
      model->save(out_dir + "/model.safetensors", extra);
    }
    {
      std::ostringstream csv;
      csv << "path,category,label,defect_type,score\n";
      for (const auto& s : result.scores) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.9g", s.score);
        csv << '"' << s.path << "\"," << s.category << ',' << s.label << ',' << s.defect_type << ',' << buf << "\n";
      }
      weights::write_file_atomically(out_dir + "/scores.csv", csv.str());
    }
    Json config = Json::object();
    config["data"] = o.data_dir;
    config["categories"] = set_name;
    config["backbone"] = o.backbone;
    config["weights"] = weights_path;
    config["image_size"] = o.image_size;
    config["scales"] = o.scales;
    config["blocks"] = o.blocks;
    config["hidden"] = o.hidden;
    config["alpha"] = o.alpha;
    config["train_transforms"] = o.train_transforms;
    config["test_transforms"] = T;
    config["batch_size"] = o.batch_size;
    config["meta_epochs"] = o.meta_epochs;
    config["sub_epochs"] = o.sub_epochs;
    config["lr"] = o.lr;
    config["betas"] = Json::array();
    config["betas"].push_back(o.beta1);
    config["betas"].push_back(o.beta2);
    config["eps"] = o.eps;
    config["weight_decay"] = o.weight_decay;
    config["rotate"] = o.rotate;
    config["tf32"] = o.tf32;
    config["jitter"] = jitter;
    config["feature_pool"] = o.feature_pool;
    config["shots"] = o.shots;
    config["localize"] = o.localize;
    config["localize_transforms"] = o.localize_transforms;
    Json results = Json::object();
    results["config"] = config;
    results["seed"] = (long long)o.seed;
    results["git_commit"] = git_commit();
    results["device"] = device_name(device);
    results["train_images"] = n_train;
    results["test_images"] = int(test.size());
    results["threshold"] = result.threshold;
    results["threshold_source"] = "99th percentile of the training images' scores; " + result.threshold_source;
    results["skipped_batches"] = result.skipped_batches;
    Json epochs = Json::array();
    for (const auto& e : result.epochs) {
      Json j = Json::object();
      j["meta_epoch"] = e.meta_epoch;
      j["loss"] = e.loss;
      j["auroc"] = e.auroc;
      j["seconds"] = e.seconds;
      epochs.push_back(j);
    }
    results["epochs"] = epochs;
    Json cats = Json::array();
    for (const auto& r : evaluation) {
      Json j = Json::object();
      j["category"] = r.name;
      j["image_auroc_last"] = r.auroc_last;
      j["image_auroc_max"] = r.auroc_max;
      j["image_auroc_max_epoch"] = r.auroc_max_epoch;
      j["pixel_auroc"] = r.pixel_auroc >= 0 ? Json(r.pixel_auroc) : Json();
      j["pixel_auroc_images"] = o.localize;
      Json per_type = Json::object();
      for (const auto& [type, a] : r.auroc_per_type) per_type[type] = a;
      j["image_auroc_per_defect_type"] = per_type;
      Json per_epoch = Json::array();
      for (double a : r.auroc_per_epoch) per_epoch.push_back(a);
      j["image_auroc_per_epoch"] = per_epoch;
      cats.push_back(j);
    }
    results["results"] = cats;
    results["note"] = "image_auroc_last is the result (last meta epoch); image_auroc_max is the maximum over the "
                      "evaluations, a secondary figure";
    Json times = Json::object();
    for (const auto& [stage, s] : stages) times[stage] = s;
    results["seconds_per_stage"] = times;
    {
      const auto host = host::host_allocator_stats();
      const double flow_bytes = double(adam->flat_parameters().nbytes());
      result.memory_bytes = {
          {"flow parameters", flow_bytes},
          {"flow gradients", flow_bytes},  // one float per parameter (flat_gradients() would write pending zeros)
          {"Adam moments", 2 * flow_bytes},
          {"image caches (uint8)", double(train_cache.pixels().nbytes() + test_cache.pixels().nbytes())},
          {"feature caches", double(test_features.nbytes() + (pool_features.defined() ? pool_features.nbytes() : 0))},
          {"last epoch's features (threshold)", last_epoch_feature_bytes},
          {"training batch, each (current + 2 prefetched)", training_batch_bytes},
          {"host allocator: blocks in use now", double(host.bytes_in_use)},
          {"host allocator: freed blocks kept", double(host.bytes_cached)},
          {"host allocator: most held at once (in use + kept)", double(host.bytes_held_peak)},
          {"peak resident set (getrusage)", peak_resident_bytes()}};
    }
    Json memory = Json::object();
    for (const auto& [what, bytes] : result.memory_bytes) memory[what] = int64_t(bytes);  // whole bytes
    results["memory_bytes"] = memory;
    weights::write_file_atomically(out_dir + "/results.json", weights::dump_json(results));
  }

  void write_report() {
    Report& rep = result.report;
    rep.title = "DifferNet on " + set_name;
    rep.note = o.note;
    rep.settings = {{"device", device_name(device)},
                    {"backbone", o.backbone + " (" + weights_path + ")"},
                    {"image size / scales", std::to_string(o.image_size) + " px / " + std::to_string(o.scales)},
                    {"flow", std::to_string(o.blocks) + " blocks, hidden " + std::to_string(o.hidden)},
                    {"schedule", std::to_string(o.meta_epochs) + " meta epochs x " + std::to_string(o.sub_epochs) +
                                     " sub epochs, batch " + std::to_string(o.batch_size) + " x " +
                                     std::to_string(o.train_transforms) + " transforms"},
                    {"test transforms (T)", std::to_string(T)},
                    {"feature pool", o.feature_pool > 0 ? std::to_string(o.feature_pool) + " transforms per image"
                                                        : "off (fresh transforms every epoch, as the paper)"},
                    {"training images", std::to_string(n_train)},
                    {"decision threshold (99th percentile of training scores)", std::to_string(result.threshold)},
                    {"seed", std::to_string(o.seed)},
                    {"git commit", git_commit()}};
    for (const auto& r : evaluation) {
      ReportCategory rc;
      rc.name = r.name;
      rc.auroc_last = r.auroc_last;
      rc.auroc_max = r.auroc_max;
      rc.auroc_max_epoch = r.auroc_max_epoch;
      rc.pixel_auroc = r.pixel_auroc;
      rc.auroc_per_type = r.auroc_per_type;
      for (size_t i = 0; i < test.size(); ++i)
        if (test[i].category == r.name) rc.scores.push_back(last_scores[i]), rc.labels.push_back(test[i].sample.label);
      rc.epochs = result.epochs;
      rc.images = report_images[r.name];
      rep.categories.push_back(rc);
    }
    write_report_html(out_dir + "/report.html", rep);
  }

  const TrainOptions& o;
  const std::vector<std::string>& categories;
  const std::string out_dir;
  const Device device;
  ExperimentResult result;
  std::map<std::string, double>& stages;  // result.stage_seconds
  const int T;                            // test transforms per image
  std::string set_name, checkpoint_path, weights_path;
  // images
  std::vector<data::Sample> train;
  std::vector<TestImage> test;
  bool jitter = false;
  data::ImageCache train_cache, test_cache;
  // model and training state
  std::unique_ptr<DifferNetModel> model;
  std::unique_ptr<Adam> adam;
  Progress progress;
  std::chrono::steady_clock::time_point last_checkpoint;  // a checkpoint every --checkpoint-minutes
  // fixed features
  std::vector<int> train_rows;
  std::vector<double> angles;
  Tensor test_features, pool_features;
  std::vector<std::string> test_names;
  int n_train = 0;
  // evaluation
  std::vector<CategoryResult> evaluation;
  std::vector<double> last_scores;
  // The last epoch's training features (train_transforms random transforms
  // per image, grouped by image), kept for the decision threshold: scoring them
  // with the final flow costs no backbone pass. Incomplete (a resume inside the
  // last epoch, a skipped batch): the threshold computes its own features.
  std::vector<Tensor> last_epoch_features;
  std::vector<std::string> last_epoch_names;
  bool last_epoch_complete = false;
  double last_epoch_feature_bytes = 0;
  double training_batch_bytes = 0;  // one training batch's images (uint8 on the CPU), for the memory breakdown
  // localisation
  std::map<std::string, std::pair<std::vector<float>, std::vector<uint8_t>>> pixels;  // per category
  std::map<std::string, std::vector<ReportImage>> report_images;
};

ExperimentResult run_experiment_unguarded(const TrainOptions& o, const std::vector<std::string>& categories,
                                          const std::string& out_dir) {
  return ExperimentRun(o, categories, out_dir).run();
}

}  // namespace

}  // namespace differnet::app
