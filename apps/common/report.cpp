#include "apps/common/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "apps/common/metrics.h"
#include "weights/file_io.h"

namespace differnet::app {
namespace {

std::string fmt(double v, int decimals = 1) {
  if (!std::isfinite(v)) return "&ndash;";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// The ROC curve in a 300x300 box: x = false-positive rate, y = true-positive rate.
std::string roc_svg(const ReportCategory& c) {
  std::ostringstream s;
  const double size = 300, m = 40;
  s << "<svg width='" << size + 2 * m << "' height='" << size + 2 * m
    << "' role='img' aria-label='ROC curve'>";
  s << "<rect x='" << m << "' y='" << m << "' width='" << size << "' height='" << size
    << "' fill='none' stroke='#888'/>";
  s << "<line x1='" << m << "' y1='" << m + size << "' x2='" << m + size << "' y2='" << m
    << "' stroke='#ccc' stroke-dasharray='4'/>";
  s << "<polyline fill='none' stroke='#c0392b' stroke-width='2' points='";
  for (const RocPoint& p : roc_curve(c.scores, c.labels))
    s << fmt(m + p.false_positive_rate * size, 2) << "," << fmt(m + size - p.true_positive_rate * size, 2) << " ";
  s << "'/>";
  s << "<text x='" << m + size / 2 << "' y='" << size + 2 * m - 8 << "' text-anchor='middle' font-size='12'>false-positive rate</text>";
  s << "<text x='12' y='" << m + size / 2 << "' text-anchor='middle' font-size='12' transform='rotate(-90 12 "
    << m + size / 2 << ")'>true-positive rate</text>";
  s << "<text x='" << m + size - 6 << "' y='" << m + size - 8 << "' text-anchor='end' font-size='13'>AUROC "
    << fmt(100 * c.auroc_last) << "</text></svg>";
  return s.str();
}

// Histograms of the anomaly scores of good (blue) and defective (red) test images.
std::string histogram_svg(const ReportCategory& c) {
  const int bins = 30;
  const double width = 420, height = 220, m = 40;
  double lo = INFINITY, hi = -INFINITY;
  for (double v : c.scores) lo = std::min(lo, v), hi = std::max(hi, v);
  // Scores spanning orders of magnitude (a missing piece can score 1e11) are binned by log10.
  const bool logarithmic = lo > 0 && hi / lo > 100;
  std::vector<double> values = c.scores;
  if (logarithmic) {
    for (double& v : values) v = std::log10(v);
    lo = std::log10(lo);
    hi = std::log10(hi);
  }
  if (!(hi > lo)) hi = lo + 1;
  std::vector<int> good(bins, 0), bad(bins, 0);
  for (size_t i = 0; i < values.size(); ++i) {
    const int b = std::min(bins - 1, int((values[i] - lo) / (hi - lo) * bins));
    (c.labels[i] ? bad : good)[size_t(b)]++;
  }
  const int peak = std::max(*std::max_element(good.begin(), good.end()), *std::max_element(bad.begin(), bad.end()));
  std::ostringstream s;
  s << "<svg width='" << width + 2 * m << "' height='" << height + 2 * m
    << "' role='img' aria-label='score histogram'>";
  const double bw = width / bins;
  for (int b = 0; b < bins; ++b) {
    for (int k = 0; k < 2; ++k) {
      const int count = (k ? bad : good)[size_t(b)];
      if (!count) continue;
      const double h = height * count / std::max(peak, 1);
      s << "<rect x='" << fmt(m + b * bw, 2) << "' y='" << fmt(m + height - h, 2) << "' width='" << fmt(bw, 2)
        << "' height='" << fmt(h, 2) << "' fill='" << (k ? "#c0392b" : "#2471a3") << "' fill-opacity='0.55'/>";
    }
  }
  s << "<line x1='" << m << "' y1='" << m + height << "' x2='" << m + width << "' y2='" << m + height
    << "' stroke='#444'/>";
  s << "<text x='" << m << "' y='" << height + m + 16 << "' font-size='11'>" << fmt(lo, 3) << "</text>";
  s << "<text x='" << m + width << "' y='" << height + m + 16 << "' font-size='11' text-anchor='end'>" << fmt(hi, 3)
    << "</text>";
  s << "<text x='" << m + width / 2 << "' y='" << height + 2 * m - 6
    << "' font-size='12' text-anchor='middle'>" << (logarithmic ? "log10 of the " : "")
    << "anomaly score (mean of z&#178;, paper eq. 5)</text>";
  s << "<rect x='" << m + 10 << "' y='" << m - 25 << "' width='12' height='12' fill='#2471a3'/><text x='" << m + 26
    << "' y='" << m - 15 << "' font-size='12'>good</text>";
  s << "<rect x='" << m + 80 << "' y='" << m - 25 << "' width='12' height='12' fill='#c0392b'/><text x='" << m + 96
    << "' y='" << m - 15 << "' font-size='12'>defective</text></svg>";
  return s.str();
}

// Loss and AUROC per meta epoch.
std::string training_svg(const ReportCategory& c) {
  if (c.epochs.size() < 2) return "";
  const double width = 420, height = 160, m = 40;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& e : c.epochs) lo = std::min(lo, e.loss), hi = std::max(hi, e.loss);
  if (!(hi > lo)) hi = lo + 1;
  std::ostringstream s, loss, auc;
  const double dx = width / double(c.epochs.size() - 1);
  for (size_t i = 0; i < c.epochs.size(); ++i) {
    loss << fmt(m + double(i) * dx, 2) << "," << fmt(m + height - (c.epochs[i].loss - lo) / (hi - lo) * height, 2) << " ";
    auc << fmt(m + double(i) * dx, 2) << "," << fmt(m + height - c.epochs[i].auroc * height, 2) << " ";
  }
  s << "<svg width='" << width + 2 * m << "' height='" << height + 2 * m
    << "' role='img' aria-label='training curve'><rect x='" << m << "' y='" << m << "' width='" << width
    << "' height='" << height << "' fill='none' stroke='#888'/>"
    << "<polyline fill='none' stroke='#7d3c98' stroke-width='2' points='" << loss.str() << "'/>"
    << "<polyline fill='none' stroke='#c0392b' stroke-width='2' points='" << auc.str() << "'/>"
    << "<text x='" << m << "' y='" << m - 8 << "' font-size='12'><tspan fill='#7d3c98'>training loss (scaled)</tspan>"
    << " <tspan fill='#c0392b'>image AUROC (0..1)</tspan></text>"
    << "<text x='" << m + width / 2 << "' y='" << height + 2 * m - 10
    << "' font-size='12' text-anchor='middle'>meta epoch</text></svg>";
  return s.str();
}

}  // namespace

std::string html_escape(const std::string& in) {
  std::string out;
  for (char c : in) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64_encode(const std::vector<uint8_t>& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t v = uint32_t(bytes[i]) << 16 | (i + 1 < bytes.size() ? uint32_t(bytes[i + 1]) << 8 : 0) |
                       (i + 2 < bytes.size() ? uint32_t(bytes[i + 2]) : 0);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? table[v & 63] : '=';
  }
  return out;
}

std::string render_report_html(const Report& r) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>" << html_escape(r.title)
    << "</title><style>body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}"
       "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
       "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:1em}"
       "figure{margin:0.5em;display:inline-block}figure img{width:224px;height:224px;image-rendering:pixelated}"
       "figcaption{font-size:12px;max-width:224px;word-break:break-all}.note{background:#fff8e1;padding:0.5em 1em}"
       "</style></head><body>\n";
  h << "<h1>" << html_escape(r.title) << "</h1>\n";
  if (!r.note.empty()) h << "<p class='note'>" << html_escape(r.note) << "</p>\n";
  h << "<h2>Results (image-level AUROC, %)</h2>\n<table><tr><th>category</th><th>AUROC, last epoch</th>"
       "<th>max over epochs (secondary)</th><th>pixel AUROC</th></tr>\n";
  double sum_last = 0;
  for (const auto& c : r.categories) {
    sum_last += c.auroc_last;
    h << "<tr><td>" << html_escape(c.name) << "</td><td>" << fmt(100 * c.auroc_last) << "</td><td>"
      << fmt(100 * c.auroc_max) << " (epoch " << c.auroc_max_epoch << ")</td><td>"
      << (c.pixel_auroc >= 0 ? fmt(100 * c.pixel_auroc) : "&ndash;") << "</td></tr>\n";
  }
  if (r.categories.size() > 1)
    h << "<tr><th>mean</th><th>" << fmt(100 * sum_last / double(r.categories.size())) << "</th><th></th><th></th></tr>\n";
  h << "</table>\n";
  for (const auto& c : r.categories) {
    h << "<h2>" << html_escape(c.name) << "</h2>\n";
    if (!c.auroc_per_type.empty()) {
      h << "<table><tr><th>defect type (vs good)</th><th>AUROC %</th></tr>";
      for (const auto& [type, a] : c.auroc_per_type)
        h << "<tr><td>" << html_escape(type) << "</td><td>" << fmt(100 * a) << "</td></tr>";
      h << "</table>\n";
    }
    h << "<div class='plots'>" << roc_svg(c) << histogram_svg(c) << training_svg(c) << "</div>\n";
    if (!c.epochs.empty()) {
      h << "<table><tr><th>meta epoch</th><th>loss</th><th>AUROC %</th><th>seconds</th></tr>";
      for (const auto& e : c.epochs)
        h << "<tr><td>" << e.meta_epoch << "</td><td>" << fmt(e.loss, 4) << "</td><td>" << fmt(100 * e.auroc)
          << "</td><td>" << fmt(e.seconds) << "</td></tr>";
      h << "</table>\n";
    }
    if (!c.images.empty()) {
      h << "<h3>Localisation (paper eq. 7): image, gradient map, overlay</h3>\n<div>";
      for (const auto& img : c.images)
        h << "<figure><img alt='" << html_escape(img.caption) << "' src='data:image/png;base64," << base64_encode(img.png)
          << "'><figcaption>" << html_escape(img.caption) << "</figcaption></figure>";
      h << "</div>\n";
    }
  }
  h << "<h2>Settings</h2>\n<table>";
  for (const auto& [k, v] : r.settings) h << "<tr><td>" << html_escape(k) << "</td><td>" << html_escape(v) << "</td></tr>";
  h << "</table>\n</body></html>\n";
  return h.str();
}

void write_report_html(const std::string& path, const Report& report) {
  weights::write_file_atomically(path, render_report_html(report));
}

}  // namespace differnet::app
