// prepare_dataset: writes data sets in the MVTec AD layout (docs/data.md).
//   prepare_dataset --synthetic --out DIR [--seed N] [--size PX] [--train N]
//                   [--test-good N] [--test-defect N]
//   prepare_dataset --mtd RAW --out DIR [--split FILE | --seed N]
// The category folder (DIR/synthetic or DIR/mtd) appears only when complete.
#include <boost/program_options.hpp>

#include <cstdint>
#include <iostream>
#include <string>

#include "apps/common/options.h"
#include "autograd/error.h"
#include "data/mtd.h"
#include "data/synthetic.h"

namespace po = boost::program_options;
using namespace differnet::data;

int main(int argc, char** argv) {
  po::options_description opts("prepare_dataset: write a data set in the MVTec AD layout");
  SyntheticOptions syn;
  std::string out, mtd_raw, split;
  uint64_t seed = 0;
  // clang-format off
  opts.add_options()
    ("help,h", "show this help")
    ("synthetic", "generate the procedural category DIR/synthetic")
    ("mtd", po::value<std::string>(&mtd_raw), "convert the raw Magnetic Tile Defects folder RAW into DIR/mtd")
    ("out", po::value<std::string>(&out), "output root folder DIR")
    ("seed", po::value<uint64_t>(&seed)->default_value(0), "seed (synthetic images; MTD split without --split)")
    ("size", po::value<int>(&syn.size)->default_value(syn.size), "synthetic: pixels a side")
    ("train", po::value<int>(&syn.train)->default_value(syn.train), "synthetic: training images")
    ("test-good", po::value<int>(&syn.test_good)->default_value(syn.test_good), "synthetic: good test images")
    ("test-defect", po::value<int>(&syn.test_defect)->default_value(syn.test_defect),
     "synthetic: defective test images (round-robin over scratch, spot, crack, hole, color)")
    ("split", po::value<std::string>(&split), "mtd: file listing the MT_Free training images, one name a line")
    ("overwrite", "replace an existing output category");
  // clang-format on
  try {
    po::variables_map vm;
    differnet::app::check_command_line(argc, argv);
    po::store(po::parse_command_line(argc, argv, opts), vm);
    if (vm.count("help") || argc == 1) {
      std::cout << opts << "\n";
      return vm.count("help") ? 0 : 2;
    }
    po::notify(vm);
    const bool synthetic = vm.count("synthetic") > 0, mtd = vm.count("mtd") > 0;
    if (synthetic == mtd) throw po::error("give exactly one of --synthetic and --mtd");
    if (out.empty()) throw po::error("--out DIR is required");
    if (synthetic && vm.count("split")) throw po::error("--split applies to --mtd only");
    if (mtd && vm.count("split") && !vm["seed"].defaulted()) throw po::error("give --split or --seed, not both");
    const bool overwrite = vm.count("overwrite") > 0;
    if (synthetic) {
      syn.seed = seed;
      const std::string dir = write_synthetic_category(out, syn, overwrite);
      std::cout << "wrote " << dir << ": " << syn.train << " train, "
                << syn.test_good << " good test, " << syn.test_defect << " defective test images\n";
    } else {
      const MtdSummary s = convert_mtd({mtd_raw, out, split, seed, overwrite});
      std::cout << "wrote " << s.category_dir << ": " << s.train << " train, " << s.test_good << " good test, "
                << s.test_defect << " defective test images\n";
    }
    return 0;
  } catch (const po::error& e) {
    std::cerr << "prepare_dataset: " << e.what() << "\n(see --help)\n";
    return 2;
  } catch (const differnet::Error& e) {
    std::cerr << "prepare_dataset: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "prepare_dataset: " << e.what() << "\n";
    return 1;
  }
}
