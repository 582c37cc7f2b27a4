// A read-only view of a zip archive held in memory, enough for PyTorch's zip
// checkpoints: the central directory (zip64 included) is parsed with bounds
// checks, and only stored (uncompressed) entries can be read, with their CRC-32
// checked. torch.save writes every entry stored.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace differnet::weights {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 = stored, 8 = deflate
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_header_offset = 0;
};

class ZipArchive {
 public:
  // Keeps a view of `bytes`: they must outlive the archive. Errors name `what`.
  ZipArchive(std::string_view bytes, std::string what);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;
  // The contents of a stored entry; throws for a missing or compressed entry.
  std::string_view read(std::string_view name) const;

 private:
  std::string_view bytes_;
  std::string what_;
  std::vector<ZipEntry> entries_;
};

uint32_t crc32(std::string_view bytes);

}  // namespace differnet::weights
