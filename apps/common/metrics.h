// Detection metrics: the area under the ROC curve, computed exactly.
#pragma once
#include <cstdint>
#include <vector>

namespace differnet::app {

// AUROC of scores for labels (0 = good, 1 = defect): the probability that a
// random defective sample scores higher than a random good one, ties counting
// one half (the Mann-Whitney U statistic; equals sklearn's roc_auc_score).
// Throws when either class is empty or a score is not finite.
double auroc(const std::vector<double>& scores, const std::vector<int>& labels);

// The same over many pixels with float scores and uint8 labels (pixel AUROC).
double auroc(const std::vector<float>& scores, const std::vector<uint8_t>& labels);

struct RocPoint {
  double false_positive_rate, true_positive_rate, threshold;
};
// The ROC curve's corner points, from (0, 0) to (1, 1), tied scores merged.
std::vector<RocPoint> roc_curve(const std::vector<double>& scores, const std::vector<int>& labels);

// The q-quantile (0..1) of values, linear interpolation between order statistics (NumPy's default).
double quantile(std::vector<double> values, double q);

}  // namespace differnet::app
