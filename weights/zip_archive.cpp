#include "weights/zip_archive.h"

#include <array>
#include <cstring>
#include <set>

#include "autograd/error.h"

namespace differnet::weights {

namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndOfCentralDirSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEndOfCentralDirSize = 22;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kLocalHeaderSize = 30;

// Little-endian reads at `pos`; the caller has checked the range.
template <class T>
T load(std::string_view bytes, uint64_t pos) {
  T v;
  std::memcpy(&v, bytes.data() + pos, sizeof(T));
  return v;
}

bool fits(std::string_view bytes, uint64_t pos, uint64_t len) { return pos <= bytes.size() && len <= bytes.size() - pos; }

}  // namespace

uint32_t crc32(std::string_view bytes) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (const char ch : bytes) c = table[(c ^ static_cast<uint8_t>(ch)) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

ZipArchive::ZipArchive(std::string_view bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  DIFFERNET_CHECK(bytes.size() >= kEndOfCentralDirSize, what_, ": not a zip archive (too short)");
  uint64_t eocd = bytes.size();
  const uint64_t lowest = bytes.size() > kEndOfCentralDirSize + 0xffff ? bytes.size() - kEndOfCentralDirSize - 0xffff : 0;
  for (uint64_t pos = bytes.size() - kEndOfCentralDirSize + 1; pos-- > lowest;) {
    if (load<uint32_t>(bytes, pos) == kEndOfCentralDirSig &&
        pos + kEndOfCentralDirSize + load<uint16_t>(bytes, pos + 20) == bytes.size()) {
      eocd = pos;
      break;
    }
  }
  DIFFERNET_CHECK(eocd != bytes.size(), what_, ": zip end-of-central-directory record not found");
  uint64_t count = load<uint16_t>(bytes, eocd + 10);
  uint64_t dir_size = load<uint32_t>(bytes, eocd + 12);
  uint64_t dir_offset = load<uint32_t>(bytes, eocd + 16);
  DIFFERNET_CHECK(load<uint16_t>(bytes, eocd + 4) == 0 && load<uint16_t>(bytes, eocd + 6) == 0, what_,
                  ": multi-disk zip archives are not supported");

  if (count == 0xffff || dir_size == 0xffffffffu || dir_offset == 0xffffffffu) {
    DIFFERNET_CHECK(eocd >= 20 && load<uint32_t>(bytes, eocd - 20) == kZip64LocatorSig, what_,
                    ": zip64 end-of-central-directory locator missing");
    const uint64_t z64 = load<uint64_t>(bytes, eocd - 20 + 8);
    DIFFERNET_CHECK(fits(bytes, z64, 56) && z64 + 56 <= eocd - 20 && load<uint32_t>(bytes, z64) == kZip64EndSig, what_,
                    ": zip64 end-of-central-directory record at ", z64, " is invalid");
    count = load<uint64_t>(bytes, z64 + 32);
    dir_size = load<uint64_t>(bytes, z64 + 40);
    dir_offset = load<uint64_t>(bytes, z64 + 48);
  }
  DIFFERNET_CHECK(fits(bytes, dir_offset, dir_size) && dir_offset + dir_size <= eocd, what_, ": central directory [",
                  dir_offset, ", +", dir_size, ") lies outside the archive");
  DIFFERNET_CHECK(count <= dir_size / kCentralHeaderSize, what_, ": central directory claims ", count,
                  " entries in ", dir_size, " bytes");

  std::set<std::string_view> names;
  uint64_t pos = dir_offset;
  const uint64_t dir_end = dir_offset + dir_size;
  for (uint64_t i = 0; i < count; ++i) {
    DIFFERNET_CHECK(pos + kCentralHeaderSize <= dir_end && load<uint32_t>(bytes, pos) == kCentralHeaderSig, what_,
                    ": central directory entry ", i, " at byte ", pos, " is corrupt");
    ZipEntry e;
    const uint16_t flags = load<uint16_t>(bytes, pos + 8);
    e.method = load<uint16_t>(bytes, pos + 10);
    e.crc32 = load<uint32_t>(bytes, pos + 16);
    e.compressed_size = load<uint32_t>(bytes, pos + 20);
    e.size = load<uint32_t>(bytes, pos + 24);
    const uint16_t name_len = load<uint16_t>(bytes, pos + 28);
    const uint16_t extra_len = load<uint16_t>(bytes, pos + 30);
    const uint16_t comment_len = load<uint16_t>(bytes, pos + 32);
    e.local_header_offset = load<uint32_t>(bytes, pos + 42);
    const uint64_t next = pos + kCentralHeaderSize + name_len + extra_len + comment_len;
    DIFFERNET_CHECK(next <= dir_end, what_, ": central directory entry ", i, " runs past the directory");
    e.name.assign(bytes.substr(pos + kCentralHeaderSize, name_len));
    DIFFERNET_CHECK((flags & 1) == 0, what_, ": entry ", e.name, " is encrypted");

    // zip64 extended information: the 64-bit values of the fields saturated above, in this order.
    uint64_t extra = pos + kCentralHeaderSize + name_len;
    const uint64_t extra_end = extra + extra_len;
    while (extra + 4 <= extra_end) {
      const uint16_t id = load<uint16_t>(bytes, extra);
      const uint16_t len = load<uint16_t>(bytes, extra + 2);
      DIFFERNET_CHECK(extra + 4 + len <= extra_end, what_, ": entry ", e.name, " has a corrupt extra field");
      if (id == 0x0001) {
        uint64_t field = extra + 4;
        for (uint64_t* value : {&e.size, &e.compressed_size, &e.local_header_offset}) {
          if (*value != 0xffffffffu) continue;
          DIFFERNET_CHECK(field + 8 <= extra + 4 + len, what_, ": entry ", e.name, " has a short zip64 extra field");
          *value = load<uint64_t>(bytes, field);
          field += 8;
        }
      }
      extra += 4 + len;
    }
    DIFFERNET_CHECK(fits(bytes, e.local_header_offset, kLocalHeaderSize) && e.local_header_offset < dir_offset, what_,
                    ": entry ", e.name, " has its local header offset ", e.local_header_offset, " outside the archive");
    DIFFERNET_CHECK(names.insert(bytes.substr(pos + kCentralHeaderSize, name_len)).second, what_, ": duplicate entry ", e.name);
    entries_.push_back(std::move(e));
    pos = next;
  }
}

const ZipEntry* ZipArchive::find(std::string_view name) const {
  for (const ZipEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::string_view ZipArchive::read(std::string_view name) const {
  const ZipEntry* e = find(name);
  DIFFERNET_CHECK(e, what_, ": zip entry ", name, " is missing");
  DIFFERNET_CHECK(e->method == 0, what_, ": zip entry ", e->name, " is compressed (method ", e->method,
                  "); only stored entries are supported, as torch.save writes them");
  DIFFERNET_CHECK(e->compressed_size == e->size, what_, ": stored zip entry ", e->name, " has different sizes");
  const uint64_t local = e->local_header_offset;
  DIFFERNET_CHECK(load<uint32_t>(bytes_, local) == kLocalHeaderSig, what_, ": zip entry ", e->name,
                  " has a corrupt local header at byte ", local);
  const uint64_t data = local + kLocalHeaderSize + load<uint16_t>(bytes_, local + 26) + load<uint16_t>(bytes_, local + 28);
  DIFFERNET_CHECK(fits(bytes_, data, e->size), what_, ": zip entry ", e->name, " data [", data, ", +", e->size,
                  ") runs past the end of the archive");
  const std::string_view contents = bytes_.substr(data, e->size);
  DIFFERNET_CHECK(crc32(contents) == e->crc32, what_, ": zip entry ", e->name, " fails its CRC-32 check");
  return contents;
}

}  // namespace differnet::weights
