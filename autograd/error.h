// Errors: every failure the framework detects becomes a differnet::Error whose
// message names what went wrong (the op, the tensor, the file, the flag).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace differnet {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Raised when a device allocation fails even after the cache was emptied.
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace differnet

// DIFFERNET_CHECK(cond, "message parts", ...) throws differnet::Error when cond is false.
#define DIFFERNET_CHECK(cond, ...)                                        \
  do {                                                                    \
    if (!(cond)) throw ::differnet::Error(::differnet::detail::concat(__VA_ARGS__)); \
  } while (0)
