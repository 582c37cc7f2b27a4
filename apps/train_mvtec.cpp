// train_mvtec: DifferNet's experiment end to end on MVTec-layout data.
//
//   train_mvtec --data DIR --category bottle            one category
//   train_mvtec --data DIR --category all               one model per category, Table 1
//   train_mvtec --data DIR --category a,b,c --blocks 12 one model on several categories
//
// Defaults are the paper's (448 px, 3 scales, AlexNet, 8 blocks, 4 train and
// 64 test transforms, batch 24, 24 x 8 epochs, Adam 2e-4 / (0.8, 0.8) / 1e-4 /
// 1e-5, seed 0). See --help and docs/reproduce.md.
#include <cstdio>
#include <map>
#include <iostream>

#include "apps/common/experiment.h"
#include "weights/json.h"
#include "apps/common/options.h"
#include "apps/common/report.h"
#include "apps/common/blas_setup.h"
#include "autograd/error.h"
#include "data/dataset.h"
#include "weights/file_io.h"

using namespace differnet;
using namespace differnet::app;
using differnet::weights::Json;

namespace {

void print_stage_times(const std::string& name, const std::map<std::string, double>& stages) {
  double total = 0;
  for (const auto& [stage, s] : stages) total += s;
  std::printf("\n%s: seconds per stage\n", name.c_str());
  for (const auto& [stage, s] : stages) std::printf("  %-14s %9.2f  %5.1f %%\n", stage.c_str(), s, total > 0 ? 100 * s / total : 0);
  std::printf("  %-14s %9.2f\n", "total", total);
}

void print_memory(const std::string& name, const std::vector<std::pair<std::string, double>>& memory) {
  std::printf("\n%s: memory (MB)\n", name.c_str());
  for (const auto& [what, bytes] : memory) std::printf("  %-50s %9.1f\n", what.c_str(), bytes / 1e6);
}

void print_table(const std::vector<CategoryResult>& rows) {
  std::printf("\n%-16s %12s %14s %12s\n", "category", "AUROC last", "AUROC max*", "pixel AUROC");
  double sum = 0;
  for (const auto& r : rows) {
    sum += r.auroc_last;
    char pixel[16] = "-";
    if (r.pixel_auroc >= 0) std::snprintf(pixel, sizeof pixel, "%.1f", 100 * r.pixel_auroc);
    std::printf("%-16s %12.1f %10.1f (%d) %12s\n", r.name.c_str(), 100 * r.auroc_last, 100 * r.auroc_max,
                r.auroc_max_epoch, pixel);
  }
  if (rows.size() > 1) std::printf("%-16s %12.1f\n", "mean", 100 * sum / double(rows.size()));
  std::printf("(image-level AUROC %%, last meta epoch; *max over the evaluations, a secondary figure)\n");
}

}  // namespace

int main(int argc, char** argv) {
  differnet::app::use_fast_blas_kernels(argc, argv);
  TrainOptions options;
  try {
    if (!parse_train_options(argc, argv, options)) return 0;
  } catch (const std::exception& e) {
    std::cerr << "train_mvtec: " << e.what() << "\n";
    return 2;
  }
  install_interrupt_handlers();
  try {
    std::vector<CategoryResult> table;
    if (options.category == "all") {
      const std::vector<std::string> names = data::list_categories(options.data_dir);
      DIFFERNET_CHECK(!names.empty(), "--category all: no category (folder with train/good) under ", options.data_dir);
      Report combined;
      combined.title = "DifferNet on " + options.data_dir + " (one model per category)";
      combined.note = options.note;
      for (const auto& name : names) {
        ExperimentResult r = run_experiment(options, {name}, options.out_dir + "/" + name);
        if (options.profile) print_stage_times(name, r.stage_seconds), print_memory(name, r.memory_bytes);
        table.insert(table.end(), r.categories.begin(), r.categories.end());
        combined.settings = r.report.settings;
        combined.categories.insert(combined.categories.end(), r.report.categories.begin(), r.report.categories.end());
      }
      Json summary = Json::object();
      Json rows = Json::array();
      double mean = 0;
      for (const auto& r : table) {
        Json j = Json::object();
        j["category"] = r.name;
        j["image_auroc_last"] = r.auroc_last;
        j["image_auroc_max"] = r.auroc_max;
        j["pixel_auroc"] = r.pixel_auroc >= 0 ? Json(r.pixel_auroc) : Json();
        rows.push_back(j);
        mean += r.auroc_last / double(table.size());
      }
      summary["results"] = rows;
      summary["mean_image_auroc_last"] = mean;
      weights::write_file_atomically(options.out_dir + "/summary.json", weights::dump_json(summary));
      write_report_html(options.out_dir + "/report.html", combined);
    } else {
      const auto names = split_list(options.category, "--category");
      ExperimentResult r = run_experiment(options, names, options.out_dir);
      if (options.profile) print_stage_times(options.category, r.stage_seconds), print_memory(options.category, r.memory_bytes);
      table = r.categories;
    }
    print_table(table);
    std::printf("outputs: %s\n", options.out_dir.c_str());
    return 0;
  } catch (const Interrupted& e) {
    std::cerr << "\ntrain_mvtec: " << e.what() << "\n";
    return 130;
  } catch (const std::exception& e) {
    std::cerr << "train_mvtec: " << e.what() << "\n";
    return 1;
  }
}
