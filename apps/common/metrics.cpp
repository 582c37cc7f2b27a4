#include "apps/common/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/error.h"

namespace differnet::app {
namespace {

// Sorts by score and sums the ranks of the positives, giving tied scores their
// average rank: U = R_pos - n_pos (n_pos + 1) / 2, AUROC = U / (n_pos n_neg).
template <class Score, class Label>
double auroc_impl(const std::vector<Score>& scores, const std::vector<Label>& labels) {
  DIFFERNET_CHECK(scores.size() == labels.size(), "auroc: ", scores.size(), " scores but ", labels.size(), " labels");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t(0));
  for (size_t i = 0; i < scores.size(); ++i)
    DIFFERNET_CHECK(std::isfinite(double(scores[i])), "auroc: score ", i, " is not finite (", double(scores[i]), ")");
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double positive_rank_sum = 0, n_pos = 0, n_neg = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double average_rank = 0.5 * double(i + 1 + j);  // ranks i+1 .. j
    for (size_t k = i; k < j; ++k) {
      if (labels[order[k]]) {
        positive_rank_sum += average_rank;
        ++n_pos;
      } else {
        ++n_neg;
      }
    }
    i = j;
  }
  DIFFERNET_CHECK(n_pos > 0 && n_neg > 0, "auroc needs both classes: got ", n_pos, " defective and ", n_neg,
                  " good samples");
  return (positive_rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

}  // namespace

double auroc(const std::vector<double>& scores, const std::vector<int>& labels) { return auroc_impl(scores, labels); }
double auroc(const std::vector<float>& scores, const std::vector<uint8_t>& labels) {
  return auroc_impl(scores, labels);
}

std::vector<RocPoint> roc_curve(const std::vector<double>& scores, const std::vector<int>& labels) {
  DIFFERNET_CHECK(scores.size() == labels.size(), "roc_curve: sizes differ");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  double n_pos = 0, n_neg = 0;
  for (int l : labels) (l ? n_pos : n_neg) += 1;
  DIFFERNET_CHECK(n_pos > 0 && n_neg > 0, "roc_curve needs both classes");
  std::vector<RocPoint> curve{{0.0, 0.0, INFINITY}};
  double tp = 0, fp = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) {
      (labels[order[j]] ? tp : fp) += 1;
      ++j;
    }
    curve.push_back({fp / n_neg, tp / n_pos, scores[order[i]]});
    i = j;
  }
  return curve;
}

double quantile(std::vector<double> values, double q) {
  DIFFERNET_CHECK(!values.empty(), "quantile of no values");
  DIFFERNET_CHECK(q >= 0 && q <= 1, "quantile: q = ", q, " is outside [0, 1]");
  std::sort(values.begin(), values.end());
  const double pos = q * double(values.size() - 1);
  const size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - double(lo)) * (values[hi] - values[lo]);
}

}  // namespace differnet::app
