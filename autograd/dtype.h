// Element types and devices a tensor can have.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace differnet {

// float32 everywhere; float64 on the CPU (gradient checks); uint8 for images.
enum class DType : uint8_t { Float32, Float64, UInt8 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::UInt8: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::UInt8: return "uint8";
  }
  return "?";
}

enum class Device : uint8_t { CPU, CUDA };

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// Parses "cpu" or "cuda"; throws differnet::Error otherwise.
Device parse_device(const std::string& name);

// True when the library was built with CUDA and a CUDA device can be used.
bool cuda_available();
// Why cuda_available() is false ("built without CUDA", "no CUDA device: ..."), or "".
std::string cuda_unavailable_reason();

}  // namespace differnet
