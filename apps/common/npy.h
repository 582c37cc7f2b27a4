// NumPy .npy files (format version 1.0, little-endian, C order) so anyone can
// inspect what differnet_score computed with numpy.load.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace differnet::app {

void write_npy(const std::string& path, const std::vector<float>& values, const std::vector<int64_t>& shape);  // atomic
std::string npy_bytes(const std::vector<float>& values, const std::vector<int64_t>& shape);

}  // namespace differnet::app
