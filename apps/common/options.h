// train_mvtec's settings. The defaults are the paper's (implementation facts,
// "Training"); every option can also be set in a config file (key = value).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <functional>

#include "autograd/tensor.h"

namespace differnet::app {

struct TrainOptions {
  // data
  std::string data_dir;
  std::string category;  // one name, "a,b,c" (one model on several), or "all" (one model each)
  int shots = 0;         // > 0: a seeded subset of that many training images (few-shot)
  std::string on_bad_image = "stop";  // stop | skip
  // model
  std::string backbone = "alexnet";
  std::string weights;  // backbone ImageNet weights; default: weights/ beside the program's source
  int image_size = 448;
  int scales = 3;
  int blocks = 8;
  int hidden = 2048;
  double alpha = 3.0;
  // training
  int train_transforms = 4;
  int test_transforms = 64;
  int batch_size = 24;  // images; a step sees batch_size * train_transforms samples
  int meta_epochs = 24;
  int sub_epochs = 8;
  double lr = 2e-4, beta1 = 0.8, beta2 = 0.8, eps = 1e-4, weight_decay = 1e-5;
  bool rotate = true;  // random rotations of training and test images (off: the ablation "no transforms")
  std::string jitter = "auto";  // auto (on for MTD) | on | off
  int feature_pool = 0;  // 0: fresh transforms every epoch (the paper); K: K fixed random transforms per image
  uint64_t seed = 0;
  std::string device;  // cpu | cuda; default cuda when present
  // localisation and outputs
  std::string localize = "defective";  // none | defective | all
  int localize_transforms = 64;
  int max_maps = 1000000;  // PNG pairs written (the pixel AUROC uses every localised image)
  int report_images = 12;   // overlays embedded in report.html
  std::string out_dir = "runs/differnet";
  bool resume = false;
  // A checkpoint at the end of a meta epoch only when this many minutes have
  // passed since the last one (0: after every meta epoch); interruptions always write one.
  double checkpoint_minutes = 30;
  bool keep_checkpoint = false;  // keep OUT/checkpoint.safetensors after a completed run
  int stop_after_steps = 0;  // > 0: stop as an interruption would after this many steps (split a long run)
  bool profile = false;
  bool tf32 = false;  // allow TF32 tensor cores in cuBLAS and cuDNN (GPU)
  bool cudnn_benchmark = false;  // any cuDNN algorithm, non-deterministic ones included (GPU)
  std::string note;  // printed in the report (e.g. "shortened CPU schedule")
  std::string on_nonfinite = "stop";  // a non-finite loss or gradient: stop, or skip the batch (with a warning)
  // For tests: called with each training batch's features and the global step
  // number before the step (to inject faults). Not settable from the command line.
  std::function<void(Tensor& features, long step)> batch_hook;

  Device resolved_device() const;
  bool jitter_for(const std::string& category_name) const;
};

// Parses the command line (and --config FILE). Returns false when --help was shown.
// Throws differnet::Error naming the flag for a bad value.
bool parse_train_options(int argc, char** argv, TrainOptions& options);

// Boost.Program_options substitutes %option%, %value%, ... in its error
// messages until none is left, so such a token in an argument or a config file
// makes what() loop forever. Every program calls check_command_line before
// Boost parses argv; both throw differnet::Error naming `where` and the token.
void check_no_message_placeholders(const std::string& text, const std::string& where);
void check_command_line(int argc, const char* const* argv);

// The long names of the options above (without "--"): the keys a --config file may hold.
std::vector<std::string> train_option_names();

// Checks ranges and combinations; throws differnet::Error naming the flag.
void validate(const TrainOptions& options);

// Comma-separated list -> items (empty items are an error naming the flag).
std::vector<std::string> split_list(const std::string& text, const std::string& flag);

// The AlexNet weights' default place: weights/ in the source tree.
std::string default_weights_path(const std::string& backbone);

}  // namespace differnet::app
