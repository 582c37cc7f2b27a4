// Training checkpoints: one safetensors file (written atomically) with the
// flow, Adam's state and the progress, so that --resume continues to the same
// final scores as an uninterrupted run. Random choices are functions of
// (seed, epoch), so the progress needs no generator state beyond counters.
#pragma once
#include <string>
#include <vector>

#include "flow/flow.h"
#include "layers/adam.h"

namespace differnet::app {

struct Progress {
  int epoch = 0;              // epochs finished, counted over all meta and sub epochs
  int step_in_epoch = 0;      // batches finished in the current epoch
  double epoch_loss_sum = 0;  // sum of those batches' losses
  double meta_loss_sum = 0;   // sum of the finished epochs' mean losses in the current meta epoch
  // One row per finished meta epoch: meta epoch, mean loss, seconds, then the
  // image AUROC of each evaluated category.
  std::vector<std::vector<double>> history;
};

void save_checkpoint(const std::string& path, const DifferNetFlow& flow, const Adam& adam, const Progress& progress);
// Restores flow parameters, Adam state and progress; throws naming the file
// when it does not match the flow's configuration.
Progress load_checkpoint(const std::string& path, DifferNetFlow& flow, Adam& adam);

}  // namespace differnet::app
