// Shared by the libFuzzer targets: the one rule every target checks. A
// differnet::Error is the expected answer to a bad input; anything else that
// escapes (another exception type) is a bug, reported as a crash by abort().
#pragma once
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <typeinfo>

#include "autograd/error.h"

namespace differnet::fuzz {

template <class F>
void expect_only_differnet_errors(F&& body) {
  try {
    body();
  } catch (const differnet::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "escaped exception %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "escaped a non-std exception\n");
    std::abort();
  }
}

}  // namespace differnet::fuzz
