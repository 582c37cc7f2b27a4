// differnet_sweep's grid files, manifests, run states and tables, without
// running train_mvtec (tests/sweep_slurm.sh runs it, through Slurm and locally):
// bad grids and hand-edited manifests give errors naming the file, line, key or
// run; collect marks failed, broken and missing runs and never averages them away.
#define BOOST_TEST_MODULE app_sweep
#include <boost/test/unit_test.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "apps/common/sweep.h"
#include "test_support.h"
#include "weights/file_io.h"

namespace fs = std::filesystem;
using namespace differnet;
using namespace differnet::app;
using differnet::testing::expect_error;

namespace {

fs::path temp_root() { return fs::temp_directory_path() / ("sweep_test_" + std::to_string(::getpid())); }

// Removes the test's folders when the module ends.
struct RemoveTempRoot {
  ~RemoveTempRoot() {
    std::error_code ignored;
    fs::remove_all(temp_root(), ignored);
  }
};

std::string temp_dir(const std::string& name) {
  const fs::path dir = temp_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string write(const std::string& path, const std::string& text) {
  weights::write_file_atomically(path, text);
  return path;
}

const std::string kBase = "data = /d\ncategory = a, b\nseed = 0,1\n";

std::string option(const SweepRun& run, const std::string& key) {
  for (const auto& [k, v] : run.options)
    if (k == key) return v;
  return "<none>";
}

// A finished run as train_mvtec leaves it: results.json with the last-epoch AUROC.
void finish(const std::string& sweep, const SweepRun& run, double auroc) {
  write(sweep + "/" + run.dir + "/results.json",
        "{\"results\": [{\"category\": \"x\", \"image_auroc_last\": " + std::to_string(auroc) + "}]}\n");
}

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(RemoveTempRoot);

BOOST_AUTO_TEST_CASE(grid_expands_lists_and_variants) {
  const std::string dir = temp_dir("expand");
  const std::string grid = write(dir + "/g.cfg",
                                 "# Table 3-like\n" + kBase +
                                     "hidden = 64   # a comment\n"
                                     "[A]\nscales = 1\npaper.a = 84.5\npaper.mean = 84.4\n"
                                     "[B]\ncategory = a+b\ntest-transforms = 1, 4\n");
  const SweepPlan plan = expand_grid(grid);
  BOOST_TEST(plan.runs.size() == 2u * 2u + 1u * 2u * 2u);  // A: 2 categories x 2 seeds; B: 1 x 2 x 2
  BOOST_TEST(plan.rows == (std::vector<std::string>{"a", "b", "a+b"}), boost::test_tools::per_element());
  BOOST_TEST(plan.columns == (std::vector<std::string>{"A", "B test-transforms=1", "B test-transforms=4"}),
             boost::test_tools::per_element());
  const SweepRun& first = plan.runs[0];
  BOOST_TEST(first.dir == "runs/0000");
  BOOST_TEST(option(first, "scales") == "1");
  BOOST_TEST(option(first, "hidden") == "64");
  BOOST_TEST(option(first, "seed") == "0");
  BOOST_TEST(plan.runs[1].seed == "1");  // the last key varies fastest
  const SweepRun& b = plan.runs[4];
  BOOST_TEST(option(b, "category") == "a,b");  // one model on both: train_mvtec's a,b
  BOOST_TEST(b.row == "a+b");
  BOOST_TEST(option(b, "scales") == "<none>");
  BOOST_REQUIRE(plan.paper.size() == 2u);
  BOOST_TEST(plan.paper[1].row == "mean");
  BOOST_TEST(plan.paper[1].column == "A");
  BOOST_TEST(plan.paper[1].auroc == 84.4);
  BOOST_TEST(run_config_text(b).find("\ncategory = a,b\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_grids_name_the_file_line_and_key) {
  const std::string dir = temp_dir("bad");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {kBase + "hiden = 3\n", "g.cfg:4: unknown key 'hiden'"},
      {kBase + "hidden =\n", "g.cfg:4: 'hidden' has no value"},
      {kBase + "hidden = 1,,2\n", "g.cfg:4: 'hidden' has an empty item"},
      {kBase + "hidden = 8, 8\n", "'hidden' lists '8' twice"},
      {kBase + "out = x\n", "g.cfg:4: 'out' cannot be set in a grid"},
      {kBase + "resume = true\n", "'resume' cannot be set"},
      {kBase + "seed = 3\n", "g.cfg:4: 'seed' given twice (line 3)"},
      {"data = /d\ncategory = all\n", "g.cfg:2: 'category = all' is not a list"},
      {kBase + "just text\n", "g.cfg:4: expected 'key = value'"},
      {kBase + "[A\n", "g.cfg:4: a section line must look like [name]"},
      {kBase + "[A]\n[A]\n", "g.cfg:5: variant [A] given twice"},
      {kBase + "paper.a = 101\n", "g.cfg:4: 'paper.a' must be an AUROC in percent"},
      {kBase + "paper.c = 90\n", "g.cfg:4: 'paper.c' names no row"},
      {kBase + "shots = 2,4\npaper.a = 90\n", "paper numbers need one column per grid, but it sweeps 'shots'"},
      {"category = a\n", "g.cfg: the grid has no 'data'"},
      {"data = /d\n[A]\nscales = 1\n", "variant [A] has no 'category'"},
      {kBase + "hidden = 1,2,3,4,5,6,7,8,9,10\nblocks = 1,2,3,4,5,6,7,8,9,10\nlr = 1,2,3,4,5,6,7,8,9,10\n"
               "eps = 1,2,3,4,5,6,7,8,9,10\nalpha = 1,2,3,4,5,6,7,8,9,10\n", "the grid would make more than 100000 runs"},
  };
  for (const auto& [text, message] : cases) {
    BOOST_TEST_CONTEXT(text) { expect_error([&] { expand_grid(write(dir + "/g.cfg", text)); }, message); }
  }
  expect_error([&] { expand_grid(dir + "/missing.cfg"); }, "cannot read the grid file '" + dir + "/missing.cfg'");
}

BOOST_AUTO_TEST_CASE(plan_checks_every_run_with_train_mvtec_and_writes_nothing_on_error) {
  const std::string dir = temp_dir("plan");
  const std::string bad = write(dir + "/bad.cfg", kBase + "batch-size = 4, 0\n");
  expect_error([&] { write_plan(expand_grid(bad), dir + "/out-bad"); }, "(a, batch-size=0, seed 0): --batch-size must be positive");
  BOOST_TEST(!fs::exists(dir + "/out-bad"));

  const SweepPlan plan = expand_grid(write(dir + "/g.cfg", kBase));
  write_plan(plan, dir + "/out");
  BOOST_TEST(fs::exists(dir + "/out/runs/0003/options.cfg"));
  write_plan(plan, dir + "/out");  // the same plan again: accepted
  expect_error([&] { write_plan(expand_grid(write(dir + "/g2.cfg", kBase + "hidden = 8\n")), dir + "/out"); },
               "already holds a different plan");
  const SweepPlan back = read_manifest(dir + "/out");
  BOOST_TEST(manifest_json(back) == manifest_json(plan));
}

BOOST_AUTO_TEST_CASE(hand_edited_manifests_give_errors_naming_the_field) {
  const std::string dir = temp_dir("manifest");
  const SweepPlan plan = expand_grid(write(dir + "/g.cfg", kBase));
  write_plan(plan, dir + "/s");
  const std::string good = manifest_json(plan);
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const size_t at = text.find(from);
    BOOST_REQUIRE(at != std::string::npos);
    write(dir + "/s/manifest.json", text.replace(at, from.size(), to));
  };
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"\"dir\": \"runs/0001\"", "\"dir\": \"../../etc\"", "runs[1]: 'dir' must be runs/0001"},
      {"\"id\": 2", "\"id\": 7", "runs[2]: 'id' is 7, expected 2"},
      {"\"seed\": \"0\"", "\"seed\": 0", "runs[0]: 'seed' must be a string, not integer"},
      {"\"data\": \"/d\"", "\"out\": \"/x\"", "runs[0]: 'out' is not an option a run may set"},
      {"\"row\": \"b\"", "\"row\": \"z\"", "row 'z' is not in 'rows'"},
      {"\"runs\": [", "\"runs\": 3, \"x\": [", "'runs' must be an array, not integer"},
      {"{", "[", "bad JSON at byte"},
  };
  for (const auto& [from, to, message] : cases) {
    BOOST_TEST_CONTEXT(to) {
      edited(from, to);
      expect_error([&] { read_manifest(dir + "/s"); }, message);
    }
  }
  fs::remove(dir + "/s/manifest.json");
  expect_error([&] { read_manifest(dir + "/s"); }, "no plan in '" + dir + "/s'");
}

BOOST_AUTO_TEST_CASE(collect_marks_failed_broken_and_missing_runs) {
  const std::string dir = temp_dir("collect");
  const SweepPlan plan = expand_grid(write(dir + "/g.cfg", kBase + "paper.a = 99.0\npaper.mean = 94.9\n"));
  const std::string s = dir + "/s";
  write_plan(plan, s);
  // runs: 0 (a, 0), 1 (a, 1), 2 (b, 0), 3 (b, 1)
  finish(s, plan.runs[0], 0.80);
  finish(s, plan.runs[1], 0.90);
  write(s + "/runs/0002/results.json", "{\"results\": [{\"image_auroc_last\": null}]}");  // broken
  write(s + "/runs/0003/sweep-state", "state = exited\nwhere = slurm job 5_3\nhost = n1\nexit_code = 1\n");
  write(s + "/runs/0003/log.txt", "line\ntrain_mvtec: out of memory\n");

  BOOST_TEST(run_state_name(read_run_status(s, plan.runs[0]).state) == std::string("done"));
  const RunStatus broken = read_run_status(s, plan.runs[2]);
  BOOST_TEST(run_state_name(broken.state) == std::string("broken"));
  BOOST_TEST(broken.detail.find(s + "/runs/0002/results.json") != std::string::npos, broken.detail);
  const RunStatus failed = read_run_status(s, plan.runs[3]);
  BOOST_TEST(run_state_name(failed.state) == std::string("failed"));
  BOOST_TEST(failed.exit_code == 1);
  BOOST_TEST(failed.log_tail.find("out of memory") != std::string::npos);

  bool complete = true;
  const std::string md = collect_table(s, complete);
  BOOST_TEST(!complete);
  BOOST_TEST(md.find("| a | 85.0 ± 7.1 | 99.0 |") != std::string::npos, md);
  BOOST_TEST(md.find("| b | (0 of 2 runs, 2 FAILED) |") != std::string::npos, md);
  BOOST_TEST(md.find("| **mean** | **(incomplete: 2 failed, 0 missing)** | 94.9 |") != std::string::npos, md);
  BOOST_TEST(md.find("- run 3 (b, AUROC, seed 1): failed, exit status 1 (slurm job 5_3 on n1") != std::string::npos, md);
  for (const char* f : {"table.md", "table.csv", "table.json", "table.html"}) BOOST_TEST(fs::exists(s + "/" + f));

  // Every run done: the mean row averages the categories per seed, then over seeds.
  finish(s, plan.runs[2], 0.70);
  fs::remove(s + "/runs/0003/sweep-state");
  finish(s, plan.runs[3], 1.00);
  collect_table(s, complete);
  BOOST_TEST(complete);
  std::ifstream csv(s + "/table.csv");
  std::stringstream text;
  text << csv.rdbuf();
  // per seed: (80 + 70) / 2 = 75 and (90 + 100) / 2 = 95 -> 85 +- 14.1421
  BOOST_TEST(text.str().find("mean,AUROC,85.0000,14.1421,4,4,0,0,94.9\n") != std::string::npos, text.str());
  BOOST_TEST(text.str().find("b,AUROC,85.0000,21.2132,2,2,0,0,\n") != std::string::npos, text.str());

  // A swept column key (shots): table.html plots each row across the columns.
  const SweepPlan shots = expand_grid(write(dir + "/shots.cfg", kBase + "shots = 2, 4\n"));
  write_plan(shots, dir + "/shots");
  for (const SweepRun& run : shots.runs) finish(dir + "/shots", run, 0.5 + 0.01 * run.id);
  collect_table(dir + "/shots", complete);
  const std::string html = weights::read_file_bytes(dir + "/shots/table.html");
  BOOST_TEST(html.find("<th>shots=2</th><th>shots=4</th>") != std::string::npos, html);
  BOOST_TEST(html.find("<polyline") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_slurm_task_that_left_the_queue_is_interrupted) {
  const std::string dir = temp_dir("queue");
  const SweepPlan plan = expand_grid(write(dir + "/g.cfg", kBase));
  write_plan(plan, dir + "/s");
  write(dir + "/s/runs/0001/sweep-state", "state = running\nwhere = slurm job 5_1\nhost = node7\npid = 1\n");
  auto state = [&](const std::optional<std::set<std::string>>& queue) {
    return std::string(run_state_name(read_run_status(dir + "/s", plan.runs[1], queue).state));
  };
  BOOST_TEST(state(std::nullopt) == "running");  // no squeue here: the folder's word
  BOOST_TEST(state(std::set<std::string>{"5_1", "5_2"}) == "running");
  BOOST_TEST(state(std::set<std::string>{"5_2"}) == "interrupted");
  BOOST_TEST(read_run_status(dir + "/s", plan.runs[1], std::set<std::string>{}).detail.find("left Slurm's queue") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_job_array_script) {
  BOOST_TEST(array_ranges({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8");
  SlurmOptions o;
  o.gres = "gpu:1";
  o.time = "04:00:00";
  o.max_parallel = 3;
  o.extra = {"--account=lab"};
  const std::string script = sbatch_script("/s", {0, 1, 2, 5}, o, "/b/differnet_sweep", "");
  for (const char* line : {"#SBATCH --array=0-2,5%3\n", "#SBATCH --gres=gpu:1\n", "#SBATCH --time=04:00:00\n",
                           "#SBATCH --requeue\n", "#SBATCH --account=lab\n",
                           "exec '/b/differnet_sweep' task '/s' \"$SLURM_ARRAY_TASK_ID\"\n"})
    BOOST_TEST(script.find(line) != std::string::npos, line);
  o.extra = {"--x\nrm -rf /"};
  expect_error([&] { sbatch_script("/s", {0}, o, "/b/differnet_sweep", ""); }, "expected one sbatch option");
  expect_error([&] { sbatch_script("/s", {}, SlurmOptions{}, "/b/differnet_sweep", ""); }, "every run is done");
}

BOOST_AUTO_TEST_CASE(the_command_line) {
  const std::string dir = temp_dir("cli");
  const std::string sweep = std::string(DIFFERNET_BINARY_DIR) + "/apps/differnet_sweep";
  auto run = [&](const std::string& args) { return differnet::testing::run_command(sweep + " " + args); };
  auto check = [&](const std::string& args, int status, const std::string& part) {
    const auto r = run(args);
    BOOST_TEST_CONTEXT(args << " -> " << r.output) {
      BOOST_TEST(r.status == status);
      BOOST_TEST(r.output.find(part) != std::string::npos);
    }
  };
  check("--help", 0, "differnet_sweep plan GRID --out DIR");
  check("", 2, "differnet_sweep status DIR");
  check("frobnicate " + dir, 2, "unknown command 'frobnicate'");
  check("plan " + write(dir + "/g.cfg", kBase), 2, "plan: --out DIR is required");
  check("plan " + dir + "/g.cfg --out " + dir + "/s extra", 2, "unexpected argument 'extra'");
  check("run " + dir + "/s", 2, "run: say where: --local");
  check("status " + dir + "/nowhere", 1, "no plan in '" + dir + "/nowhere'");
  check("plan " + dir + "/g.cfg --out " + dir + "/s", 0, "4 runs (2 rows x 1 columns");
  check("status " + dir + "/s", 0, "4 runs: 0 done, 0 running, 0 interrupted, 0 failed, 0 broken, 4 not started");
  check("submit " + dir + "/s --slurm --dry-run --gres gpu:1", 0, "#SBATCH --array=0-3\n#SBATCH");
  check("submit " + dir + "/s --slurm --max-parallel 0", 2, "--max-parallel must be positive");
  // Without sbatch on PATH: a clear error, nothing recorded.
  const auto r = differnet::testing::run_command("PATH=/nonexistent " + sweep + " submit " + dir + "/s --slurm");
  BOOST_TEST(r.status == 1);
  BOOST_TEST(r.output.find("sbatch was not found on PATH") != std::string::npos, r.output);
  BOOST_TEST(!fs::exists(dir + "/s/slurm/jobs"));
  check("collect " + dir + "/s", 1, "incomplete");
}
