// Magnetic Tile Defects (raw release: RAW/MT_<Class>/Imgs/<name>.jpg with the
// pixel mask <name>.png beside it) -> MVTec layout, category "mtd":
//   train/good        MT_Free images of the split (paper: 761)
//   test/good         the other MT_Free images (191)
//   test/<class>      every image of blowhole, break, crack, fray, uneven (392)
//   ground_truth/<class>/<name>_mask.png
// JPEG bytes are copied unchanged; masks are copied (PNG) or re-encoded as PNG.
#pragma once
#include <cstdint>
#include <string>

namespace differnet::data {

struct MtdOptions {
  std::string raw_dir;     // the folder holding MT_Free, MT_Blowhole, ...
  std::string out_dir;     // MVTec root; the category folder is out_dir/mtd
  std::string split_file;  // one MT_Free file name per line; empty: seeded split
  uint64_t seed = 0;       // for the seeded 80/20 split of MT_Free
  bool overwrite = false;
};

struct MtdSummary {
  std::string category_dir;
  int train = 0, test_good = 0, test_defect = 0;
};

MtdSummary convert_mtd(const MtdOptions& options);

}  // namespace differnet::data
