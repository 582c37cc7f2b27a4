// The programs' command lines: --help, bad flags and bad inputs give a clear
// message and a non-zero exit, and differnet_score scores what train_mvtec trained.
#define BOOST_TEST_MODULE app_cli
#include <boost/test/unit_test.hpp>
#include <string>

#include "test_support.h"

namespace {

using Run = differnet::testing::CommandResult;

// Runs a program of the build.
Run run(const std::string& args) { return differnet::testing::run_command(std::string(DIFFERNET_BINARY_DIR) + "/apps/" + args); }

bool has(const Run& r, const std::string& text) { return r.output.find(text) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(help_lists_the_options) {
  const Run r = run("train_mvtec --help");
  BOOST_CHECK_EQUAL(r.status, 0);
  for (const char* flag : {"--data", "--category", "--device", "--backbone", "--weights", "--shots", "--jitter", "--out",
                           "--resume", "--blocks", "--test-transforms", "--config", "--tf32", "--profile"})
    BOOST_CHECK_MESSAGE(has(r, flag), "--help does not mention " << flag);
  // Defaults as written, not Boost's round-trip digits (0.00020000000000000001).
  for (const char* text : {"--lr arg (=2e-4)", "--weight-decay arg (=1e-5)", "--beta1 arg (=0.8)", "--alpha arg (=3)",
                           "--checkpoint-minutes arg (=30)", "--keep-checkpoint"})
    BOOST_CHECK_MESSAGE(has(r, text), "--help does not show " << text);
  BOOST_CHECK_EQUAL(run("differnet_score --help").status, 0);
  BOOST_CHECK_EQUAL(run("differnet_bench --list").status, 0);
  BOOST_CHECK_EQUAL(run("prepare_dataset --help").status, 0);
  BOOST_CHECK_EQUAL(run("weights_tool --help").status, 0);
}

BOOST_AUTO_TEST_CASE(bad_flags_are_named) {
  Run r = run("train_mvtec --data /nonexistent --category x --batch-size 0");
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(has(r, "--batch-size"));
  r = run("train_mvtec --data /nonexistent --category x --jitter maybe");
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(has(r, "--jitter"));
  r = run("train_mvtec --category x");
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(has(r, "data"));
  r = run("train_mvtec --data /nonexistent-differnet --category x --device cpu --out /tmp/differnet-cli-test");
  BOOST_CHECK_EQUAL(r.status, 1);
  BOOST_CHECK(has(r, "/nonexistent-differnet"));
  r = run("differnet_score --model /nonexistent/model.safetensors /tmp");
  BOOST_CHECK_EQUAL(r.status, 1);
  BOOST_CHECK(has(r, "/nonexistent/model.safetensors"));
  r = run("differnet_bench --device tpu");
  BOOST_CHECK_NE(r.status, 0);
  BOOST_CHECK(has(r, "tpu"));
}

// Boost.Program_options substitutes %value%-style tokens in its messages until
// none is left: such an argument must be refused by every program, not make it
// loop forever (timeout's status 124 would say it hung).
BOOST_AUTO_TEST_CASE(message_placeholders_are_refused_by_every_program) {
  for (const char* program : {"train_mvtec --data d --category c --image-size", "differnet_score --transforms",
                              "differnet_bench --repeats", "prepare_dataset --synthetic --seed", "weights_tool inspect",
                              "differnet_sweep plan"}) {
    const Run r = differnet::testing::run_command("timeout 20 " + std::string(DIFFERNET_BINARY_DIR) + "/apps/" +
                                                  program + " '%value%'");
    BOOST_CHECK_MESSAGE(r.status != 0 && r.status != 124 && has(r, "'%value%' is not allowed in options"),
                        program << ": status " << r.status << ", output: " << r.output);
  }
}

BOOST_AUTO_TEST_CASE(config_file_sets_options) {
  const std::string cfg = "/tmp/differnet-cli-test.cfg";
  FILE* f = std::fopen(cfg.c_str(), "w");
  BOOST_REQUIRE(f);
  std::fputs("data = /nonexistent-from-config\ncategory = y\nbatch-size = -3\n", f);
  std::fclose(f);
  const Run r = run("train_mvtec --config " + cfg);
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(has(r, "--batch-size"));
  std::remove(cfg.c_str());
}
