// End to end on the emulated device: train_mvtec --device cuda on a tiny
// synthetic category (random AlexNet weights, 64-pixel images, hidden width
// 32, defect maps on) gives the per-image anomaly scores of the same run with
// --device cpu, within kTolerance.
//
// Both runs resume from one checkpoint, written by a CPU run stopped after its
// first training step: until initialisation is device-independent (issue 13:
// the GPU draws the initial flow with cuRAND, the CPU with its counter hash),
// the same --seed gives the two devices different starting flows. From the
// checkpoint on, each device runs the remaining training steps, the
// evaluation and the defect maps itself.
#define BOOST_TEST_MODULE simt_train
#include <boost/test/unit_test.hpp>
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "data/synthetic.h"
#include "layers/backbone.h"
#include "tests/test_support.h"
#include "weights/safetensors.h"
#include "weights/tensor_convert.h"

using namespace differnet;

namespace {

// Relative difference allowed between the devices' scores: the CUDA path sums
// in other orders (cuBLAS, cuDNN, block reductions), and training steps compound
// float rounding. Observed under the emulator: about 1e-7.
constexpr double kTolerance = 1e-5;

std::vector<double> read_scores(const std::string& csv_path) {
  std::ifstream in(csv_path);
  BOOST_REQUIRE_MESSAGE(in.good(), "no " << csv_path);
  std::string line;
  std::getline(in, line);  // header
  std::vector<double> scores;
  while (std::getline(in, line)) scores.push_back(std::stod(line.substr(line.rfind(',') + 1)));
  return scores;
}

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(train_mvtec_on_cuda_matches_cpu) {
  char tmpl[] = "/tmp/differnet-simt-XXXXXX";
  BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string root = tmpl, data = root + "/data", weights = root + "/alexnet-random.safetensors";
  data::SyntheticOptions so;
  so.size = 80;
  so.train = 8;
  so.test_good = 3;
  so.test_defect = 3;
  data::write_synthetic_category(data, so, false);
  weights::RawTensorMap tensors;
  for (const auto& [name, t] : make_backbone("alexnet", 7)->named_parameters())
    tensors.emplace_back(name, weights::to_raw(t));
  weights::write_safetensors(weights, tensors);

  const std::string train_mvtec = std::string(DIFFERNET_BINARY_DIR) + "/apps/train_mvtec --data " + data +
                                  " --category synthetic --weights " + weights +
                                  " --image-size 64 --scales 1 --blocks 2 --hidden 32 --train-transforms 2"
                                  " --test-transforms 2 --batch-size 4 --meta-epochs 1 --sub-epochs 2"
                                  " --localize defective --localize-transforms 2 --max-maps 1 --report-images 1"
                                  " --seed 3 --out ";
  const auto run = [](const std::string& command, int expected_status = 0) {
    const auto [status, output] = testing::run_command(command);
    BOOST_TEST_MESSAGE(output);
    BOOST_REQUIRE_EQUAL(status, expected_status);
  };
  run(train_mvtec + root + "/cpu --device cpu --stop-after-steps 1", 130);  // 130: interrupted, as by Ctrl-C
  BOOST_REQUIRE(exists(root + "/cpu/checkpoint.safetensors"));
  mkdir((root + "/cuda").c_str(), 0755);
  run("cp " + root + "/cpu/checkpoint.safetensors " + root + "/cuda/");
  std::vector<double> scores[2];
  const char* devices[2] = {"cpu", "cuda"};
  for (int d = 0; d < 2; ++d) {
    const std::string out = root + "/" + devices[d];
    run(train_mvtec + out + " --device " + devices[d] + " --resume");
    BOOST_CHECK(exists(out + "/results.json"));
    BOOST_CHECK(exists(out + "/report.html"));
    scores[d] = read_scores(out + "/scores.csv");
  }
  run("rm -rf " + root);
  BOOST_REQUIRE_EQUAL(scores[0].size(), 6u);
  BOOST_REQUIRE_EQUAL(scores[1].size(), scores[0].size());
  for (size_t i = 0; i < scores[0].size(); ++i)
    BOOST_TEST_CONTEXT("image " << i << ": cpu " << scores[0][i] << ", cuda " << scores[1][i]) {
      BOOST_CHECK(std::isfinite(scores[1][i]));
      BOOST_CHECK_LE(std::abs(scores[1][i] - scores[0][i]), kTolerance * std::abs(scores[0][i]));
    }
}
