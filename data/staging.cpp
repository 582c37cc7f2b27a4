#include "data/staging.h"

#include <unistd.h>

#include <atomic>

#include "autograd/error.h"

namespace fs = std::filesystem;

namespace differnet::data {

StagingDir::StagingDir(const fs::path& parent, const std::string& name, bool replace)
    : final_(parent / name), replace_(replace) {
  static std::atomic<unsigned> counter{0};
  DIFFERNET_CHECK(replace || !fs::exists(final_), final_.string(), ": already exists; remove it or pass --overwrite");
  std::error_code ec;
  fs::create_directories(parent, ec);
  DIFFERNET_CHECK(!ec, parent.string(), ": cannot create output folder: ", ec.message());
  tmp_ = parent / (name + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(tmp_, ec);
  fs::create_directory(tmp_, ec);
  DIFFERNET_CHECK(!ec, tmp_.string(), ": cannot create staging folder: ", ec.message());
}

StagingDir::~StagingDir() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

void StagingDir::commit() {
  std::error_code ec;
  if (replace_ && fs::exists(final_)) {
    fs::remove_all(final_, ec);
    DIFFERNET_CHECK(!ec, final_.string(), ": cannot remove the old output: ", ec.message());
  }
  fs::rename(tmp_, final_, ec);
  DIFFERNET_CHECK(!ec, final_.string(), ": cannot move ", tmp_.string(), " into place: ", ec.message());
  committed_ = true;
}

}  // namespace differnet::data
