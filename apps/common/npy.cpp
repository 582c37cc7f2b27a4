#include "apps/common/npy.h"

#include <cstring>

#include "autograd/error.h"
#include "weights/file_io.h"

namespace differnet::app {

std::string npy_bytes(const std::vector<float>& values, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  std::string dims;  // Python tuple syntax: "()", "(a,)", "(a, b)"
  for (size_t i = 0; i < shape.size(); ++i) {
    n *= shape[i];
    dims += (i ? ", " : "") + std::to_string(shape[i]);
  }
  if (shape.size() == 1) dims += ",";
  DIFFERNET_CHECK(n == int64_t(values.size()), "npy: ", values.size(), " values for a shape of ", n, " elements");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64.
  const size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  std::string out("\x93NUMPY\x01\x00", 8);
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  out += header;
  const size_t start = out.size();
  out.resize(start + values.size() * sizeof(float));
  std::memcpy(&out[start], values.data(), values.size() * sizeof(float));  // x86/ARM: little-endian
  return out;
}

void write_npy(const std::string& path, const std::vector<float>& values, const std::vector<int64_t>& shape) {
  weights::write_file_atomically(path, npy_bytes(values, shape));
}

}  // namespace differnet::app
