// The gate of the `gpu` tests (test_support.h, gpu_test_main): without a CUDA
// device they report "skipped", and with DIFFERNET_REQUIRE_GPU=1 they fail
// naming the CUDA error instead, so a GPU check cannot pass without running
// them. Runs a GPU test executable with no device visible (CUDA_VISIBLE_DEVICES=).
#define BOOST_TEST_MODULE require_gpu
#include <boost/test/unit_test.hpp>

#include "test_support.h"

using namespace differnet::testing;

namespace {
const std::string kGpuTest = std::string(DIFFERNET_BINARY_DIR) + "/tests/test_gpu_parity --run_test=all_finite_flag";

// True when the child still found a device: an emulated one (DIFFERNET_CUDA=EMULATE)
// ignores CUDA_VISIBLE_DEVICES, and then there is no gate to test.
bool device_despite_hiding(const CommandResult& r) {
  return r.status == 0 && r.output.find("SKIPPED") == std::string::npos;
}
}  // namespace

BOOST_AUTO_TEST_CASE(without_a_device_gpu_tests_skip) {
  const CommandResult r = run_command("CUDA_VISIBLE_DEVICES= DIFFERNET_REQUIRE_GPU= " + kGpuTest);
  if (device_despite_hiding(r)) {
    BOOST_TEST_MESSAGE("a device is visible despite CUDA_VISIBLE_DEVICES=: nothing to check");
    return;
  }
  BOOST_CHECK_EQUAL(r.status, 77);
  BOOST_CHECK_MESSAGE(r.output.find("SKIPPED: the CUDA parity tests need a CUDA device: ") != std::string::npos, r.output);
}

BOOST_AUTO_TEST_CASE(with_require_gpu_they_fail_naming_the_error) {
  const CommandResult r = run_command("CUDA_VISIBLE_DEVICES= DIFFERNET_REQUIRE_GPU=1 " + kGpuTest);
  if (device_despite_hiding(r)) {
    BOOST_TEST_MESSAGE("a device is visible despite CUDA_VISIBLE_DEVICES=: nothing to check");
    return;
  }
  BOOST_CHECK_EQUAL(r.status, 1);
  BOOST_CHECK_MESSAGE(r.output.find("FAILED: DIFFERNET_REQUIRE_GPU=1 but the CUDA parity tests cannot run: ") !=
                          std::string::npos, r.output);
  // The reason follows: the CUDA error, or that the build has no CUDA backend.
  BOOST_CHECK_MESSAGE(r.output.find("cannot run: no CUDA device") != std::string::npos ||
                          r.output.find("cannot run: this build of DifferNet has no CUDA backend") != std::string::npos,
                      r.output);
}
