// A folder that appears all at once: files are written into
// PARENT/NAME.tmp-<pid>-<n> and the folder is renamed to PARENT/NAME by
// commit(). If commit() is never reached (an error), the temporary folder is
// removed, so a data-set tool never leaves a half-written output behind.
#pragma once
#include <filesystem>
#include <string>

namespace differnet::data {

class StagingDir {
 public:
  // Throws when PARENT/NAME exists, unless `replace` (then commit() swaps it out).
  StagingDir(const std::filesystem::path& parent, const std::string& name, bool replace);
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  const std::filesystem::path& path() const { return tmp_; }
  const std::filesystem::path& final_path() const { return final_; }
  void commit();

 private:
  std::filesystem::path final_, tmp_;
  bool replace_ = false, committed_ = false;
};

}  // namespace differnet::data
