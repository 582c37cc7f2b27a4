// One DifferNet experiment: train a model on the training images of one or
// more categories, evaluate it after every meta epoch, localise defects, and
// write the outputs (results.json, model.safetensors, scores.csv, maps/,
// report.html) into a folder.
#pragma once
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/options.h"
#include "apps/common/report.h"

namespace differnet::app {

struct ScoredImage {
  std::string path, category, defect_type;
  int label;
  double score;
};

struct CategoryResult {
  std::string name;
  double auroc_last = 0, auroc_max = 0;
  int auroc_max_epoch = 0;
  double pixel_auroc = -1;  // < 0: not computed
  std::vector<std::pair<std::string, double>> auroc_per_type;
  std::vector<double> auroc_per_epoch;
};

struct ExperimentResult {
  std::vector<CategoryResult> categories;  // one per evaluated category
  std::vector<ScoredImage> scores;         // the last evaluation
  std::vector<ReportEpoch> epochs;         // loss and mean AUROC per meta epoch
  std::map<std::string, double> stage_seconds;
  // Where the memory goes (bytes, in order): the large long-lived buffers, the
  // host allocator's kept blocks and the process's peak resident set so far
  // (results.json "memory_bytes"; train_mvtec --profile prints it).
  std::vector<std::pair<std::string, double>> memory_bytes;
  double threshold = 0;
  std::string threshold_source;  // how the threshold was obtained (results.json)
  int skipped_batches = 0;  // --on-nonfinite skip
  std::string out_dir;
  Report report;
};

// Trains one model on the union of `categories` (all from options.data_dir)
// and writes into `out_dir`. Throws differnet::Error on bad data, options or
// an unwritable folder (checked before any training).
ExperimentResult run_experiment(const TrainOptions& options, const std::vector<std::string>& categories,
                                const std::string& out_dir);

// Set by SIGINT/SIGTERM: training stops after the current step, writes its
// checkpoint and run_experiment throws Interrupted.
void install_interrupt_handlers();
struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace differnet::app
