// Whole-file reads and atomic writes for the weight formats.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace differnet::weights {

// The bytes of `path`; throws differnet::Error naming the file when it cannot be read.
std::string read_file_bytes(const std::string& path);

// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over
// `path`, so readers see the old file or the complete new one, never a part.
void write_file_atomically(const std::string& path, std::string_view bytes);

// The same for a file produced in parts: `produce` passes the contents, in
// order, to the writer it is given, so a large file (a 2 GB checkpoint) never
// has to be in memory at once.
using PartWriter = std::function<void(std::string_view part)>;
void write_file_atomically(const std::string& path, const std::function<void(const PartWriter&)>& produce);

}  // namespace differnet::weights
