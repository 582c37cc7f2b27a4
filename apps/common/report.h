// report.html: one self-contained page (inline SVG plots, PNGs embedded as
// base64) with the results table, the ROC curve, the score histogram of good
// and defective images (the paper's Figure 6), the training curve and the
// localisation overlays. It needs no network to render.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace differnet::app {

struct ReportImage {
  std::string caption;
  std::vector<uint8_t> png;
};

struct ReportEpoch {
  int meta_epoch;
  double loss, auroc, seconds;
};

struct ReportCategory {
  std::string name;
  double auroc_last = 0, auroc_max = 0;
  int auroc_max_epoch = 0;
  double pixel_auroc = -1;  // < 0: no masks, not computed
  std::vector<std::pair<std::string, double>> auroc_per_type;
  std::vector<double> scores;
  std::vector<int> labels;
  std::vector<ReportEpoch> epochs;
  std::vector<ReportImage> images;
};

struct Report {
  std::string title;
  std::vector<std::pair<std::string, std::string>> settings;  // shown as a table
  std::vector<ReportCategory> categories;
  std::string note;  // e.g. "shortened CPU schedule"
};

std::string render_report_html(const Report& report);
void write_report_html(const std::string& path, const Report& report);  // atomic

std::string base64_encode(const std::vector<uint8_t>& bytes);
std::string html_escape(const std::string& s);

}  // namespace differnet::app
