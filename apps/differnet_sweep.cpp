// differnet_sweep: the paper's experiment grids as many train_mvtec runs, on
// this machine or as a Slurm job array, collected into one table.
//
//   differnet_sweep plan GRID --out DIR        expand a grid file into DIR/manifest.json + DIR/runs/NNNN/
//   differnet_sweep run DIR --local [--jobs N] run what is not done yet here (one run per GPU, or N on the CPU)
//   differnet_sweep submit DIR --slurm [...]   one sbatch job array, one task per run (--dry-run: print it)
//   differnet_sweep status DIR                 done / running / failed (with its log) / not started, per run
//   differnet_sweep collect DIR                DIR/table.{md,csv,json,html}: mean and std over seeds per cell
//
// Every run is `train_mvtec --config DIR/runs/NNNN/options.cfg --out DIR/runs/NNNN`
// (with --resume when it has a checkpoint); see docs/reproduce.md.
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include "apps/common/options.h"
#include "apps/common/sweep.h"
#include "autograd/error.h"
#include "weights/file_io.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace differnet;
using namespace differnet::app;

namespace {

std::string self_path() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  DIFFERNET_CHECK(!ec, "cannot find this program's path (/proc/self/exe): ", ec.message());
  return p.string();
}

std::string default_train_mvtec() { return (fs::path(self_path()).parent_path() / "train_mvtec").string(); }

// The GPUs a local sweep may use: CUDA_VISIBLE_DEVICES when set, otherwise
// every GPU the NVIDIA driver lists (no CUDA call: this program only starts train_mvtec).
std::vector<std::string> visible_gpus() {
  std::vector<std::string> gpus;
  if (const char* env = std::getenv("CUDA_VISIBLE_DEVICES")) {
    std::string list = env;
    size_t start = 0;
    while (start <= list.size()) {
      const size_t comma = std::min(list.find(',', start), list.size());
      if (comma > start) gpus.push_back(list.substr(start, comma - start));
      start = comma + 1;
    }
    return gpus;
  }
  if (DIR* d = opendir("/proc/driver/nvidia/gpus")) {
    while (const dirent* e = readdir(d))
      if (e->d_name[0] != '.') gpus.push_back(std::to_string(gpus.size()));
    closedir(d);
  }
  return gpus;
}

bool all_runs_on_cpu(const SweepPlan& plan) {
  for (const auto& run : plan.runs) {
    bool cpu = false;
    for (const auto& [k, v] : run.options) cpu = cpu || (k == "device" && v == "cpu");
    if (!cpu) return false;
  }
  return true;
}

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

std::string describe(const SweepRun& run) { return run.row + ", " + run.column + ", seed " + run.seed; }

int run_local(const std::string& dir, int jobs, const std::string& train_mvtec) {
  const SweepPlan plan = read_manifest(dir);
  const auto queue = slurm_queue();
  std::vector<int> pending;
  for (const auto& run : plan.runs) {
    const RunStatus st = read_run_status(dir, run, queue);
    if (st.state == RunState::Running)  // elsewhere: a Slurm task or another `run`
      std::printf("run %d (%s) is running (%s): left to it\n", run.id, describe(run).c_str(), st.detail.c_str());
    else if (st.state != RunState::Done)
      pending.push_back(run.id);
  }
  if (pending.empty()) {
    std::printf("%s: all %zu runs are done\n", dir.c_str(), plan.runs.size());
    return 0;
  }
  const std::vector<std::string> gpus = all_runs_on_cpu(plan) ? std::vector<std::string>{} : visible_gpus();
  if (jobs <= 0) jobs = gpus.empty() ? 1 : int(gpus.size());
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::string threads = std::to_string(std::max(1u, cores / unsigned(jobs)));
  std::printf("%s: %zu of %zu runs to do, %d at a time, %s\n", dir.c_str(), pending.size(), plan.runs.size(), jobs,
              gpus.empty() ? ("on the CPU, OMP_NUM_THREADS=" + threads + " each").c_str() : "one GPU each");
  std::fflush(stdout);
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const std::string self = self_path();
  struct Slot {
    pid_t pid = 0;
    int run = -1;
    std::chrono::steady_clock::time_point start;
  };
  std::vector<Slot> slots(static_cast<size_t>(jobs));
  size_t next = 0, finished = 0;
  int failures = 0;
  while (finished < pending.size()) {
    for (size_t s = 0; s < slots.size() && next < pending.size() && !g_interrupted; ++s) {
      if (slots[s].pid) continue;
      const int id = pending[next++];
      const pid_t pid = fork();
      DIFFERNET_CHECK(pid >= 0, "fork failed: ", std::strerror(errno));
      if (pid == 0) {
        if (!gpus.empty()) setenv("CUDA_VISIBLE_DEVICES", gpus[s % gpus.size()].c_str(), 1);
        // Explicit thread counts: results depend on them, and N runs share the cores.
        else if (!std::getenv("OMP_NUM_THREADS")) setenv("OMP_NUM_THREADS", threads.c_str(), 1);
        const std::string id_text = std::to_string(id);
        execl(self.c_str(), self.c_str(), "task", dir.c_str(), id_text.c_str(), "--train-mvtec", train_mvtec.c_str(),
              (char*)nullptr);
        _exit(127);
      }
      slots[s] = {pid, id, std::chrono::steady_clock::now()};
    }
    int status = 0;
    const pid_t done = waitpid(-1, &status, 0);
    if (done < 0) {
      if (errno != EINTR) break;
      if (g_interrupted)  // children got the terminal's SIGINT too; a plain kill reaches only us
        for (const auto& slot : slots)
          if (slot.pid) kill(slot.pid, SIGTERM);
      continue;
    }
    for (auto& slot : slots) {
      if (slot.pid != done) continue;
      const SweepRun& run = plan.runs[size_t(slot.run)];
      const RunStatus st = read_run_status(dir, run);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - slot.start).count();
      ++finished;
      if (st.state == RunState::Done) {
        std::printf("[%zu/%zu] run %d (%s): done, AUROC %.1f, %.0f s\n", finished, pending.size(), run.id,
                    describe(run).c_str(), st.auroc, seconds);
      } else {
        ++failures;
        std::printf("[%zu/%zu] run %d (%s): %s, %s\n%s", finished, pending.size(), run.id, describe(run).c_str(),
                    run_state_name(st.state), st.detail.c_str(), st.log_tail.c_str());
      }
      std::fflush(stdout);
      slot = Slot{};
    }
    if (g_interrupted && next < pending.size()) pending.resize(next);  // start nothing new
  }
  if (g_interrupted) {
    std::fprintf(stderr, "differnet_sweep: interrupted; the same command continues the grid\n");
    return 130;
  }
  std::printf("%s: %d of %zu runs failed; `differnet_sweep status %s` shows them\n", dir.c_str(), failures,
              pending.size(), dir.c_str());
  return failures ? 1 : 0;
}

int print_status(const std::string& dir) {
  const SweepPlan plan = read_manifest(dir);
  const auto queue = slurm_queue();
  std::map<RunState, int> counts;
  std::printf("%-5s %-12s %-20s %-20s %-6s %s\n", "run", "state", "category", "column", "seed", "detail");
  for (const auto& run : plan.runs) {
    const RunStatus st = read_run_status(dir, run, queue);
    ++counts[st.state];
    char auroc[32] = "";
    if (st.state == RunState::Done) std::snprintf(auroc, sizeof auroc, "AUROC %.1f", st.auroc);
    std::printf("%-5d %-12s %-20s %-20s %-6s %s\n", run.id, run_state_name(st.state), run.row.c_str(), run.column.c_str(),
                run.seed.c_str(), st.state == RunState::Done ? auroc : st.detail.c_str());
    if (!st.log_tail.empty()) {
      std::string indented = "      | " + st.log_tail;
      for (size_t p = indented.find('\n'); p != std::string::npos && p + 1 < indented.size(); p = indented.find('\n', p + 1))
        indented.insert(p + 1, "      | ");
      std::printf("%s", indented.c_str());
    }
  }
  std::printf("%zu runs:", plan.runs.size());
  for (RunState s : {RunState::Done, RunState::Running, RunState::Interrupted, RunState::Failed, RunState::Broken,
                     RunState::NotStarted})
    std::printf(" %d %s%s", counts[s], run_state_name(s), s == RunState::NotStarted ? "\n" : ",");
  return 0;
}

int submit(const std::string& dir, const SlurmOptions& options, bool dry_run, const std::string& train_mvtec_flag) {
  const SweepPlan plan = read_manifest(dir);
  const auto queue = slurm_queue();
  std::vector<int> ids;
  for (const auto& run : plan.runs) {
    const RunState s = read_run_status(dir, run, queue).state;
    DIFFERNET_CHECK(s != RunState::Running || dry_run, "run ", run.id, " (", dir, "/", run.dir,
                    ") is running; wait for it or check `differnet_sweep status ", dir, "`");
    if (s != RunState::Done) ids.push_back(run.id);
  }
  const std::string script = sbatch_script(dir, ids, options, self_path(),
                                           train_mvtec_flag.empty() ? "" : fs::absolute(train_mvtec_flag).string());
  if (dry_run) {
    std::cout << script;
    return 0;
  }
  std::error_code ec;
  fs::create_directories(dir + "/slurm", ec);
  DIFFERNET_CHECK(!ec, "cannot create ", dir, "/slurm: ", ec.message());
  const std::string script_path = fs::absolute(dir + "/slurm/array.sbatch").string();
  weights::write_file_atomically(script_path, script);
  const std::string command = "sbatch --parsable '" + script_path + "' 2>&1";
  FILE* p = popen(command.c_str(), "r");
  DIFFERNET_CHECK(p, "cannot run sbatch: ", std::strerror(errno));
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int status = pclose(p);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  DIFFERNET_CHECK(code != 127, "sbatch was not found on PATH: submit from a Slurm login node (or print the script "
                  "with --dry-run); the script is in ", script_path);
  DIFFERNET_CHECK(code == 0, "sbatch refused the job array (exit ", code, "): ", output, "\n  script: ", script_path);
  const std::string job = output.substr(0, output.find(';'));  // --parsable: "jobid[;cluster]"
  std::string jobs;
  try {
    jobs = weights::read_file_bytes(dir + "/slurm/jobs");
  } catch (const Error&) {
  }
  weights::write_file_atomically(dir + "/slurm/jobs", jobs + job + " " + array_ranges(ids) + "\n");
  std::printf("submitted job array %s: %zu tasks (runs %s); `differnet_sweep status %s` follows them\n", job.c_str(),
              ids.size(), array_ranges(ids).c_str(), dir.c_str());
  return 0;
}

const char* kUsage =
    "differnet_sweep: the paper's experiment grids as many train_mvtec runs, locally or as a Slurm job array.\n\n"
    "  differnet_sweep plan GRID --out DIR          expand a grid file into DIR/manifest.json and DIR/runs/NNNN/\n"
    "  differnet_sweep run DIR --local [--jobs N]   run the runs not done yet on this machine\n"
    "  differnet_sweep submit DIR --slurm [--partition P --gres gpu:1 --time T ...] [--dry-run]\n"
    "  differnet_sweep status DIR                   per run: done, running, failed (last log lines), not started\n"
    "  differnet_sweep collect DIR                  DIR/table.{md,csv,json,html}\n\n"
    "A grid file holds train_mvtec's `key = value` options (train_mvtec --help); comma lists are swept\n"
    "(category = bottle,cable; seed = 0,1,2), [name] sections are variants (table columns), and\n"
    "paper.ROW = AUROC lines give the paper's numbers. See docs/reproduce.md and experiments/.\n\n";

}  // namespace

int main(int argc, char** argv) {
  std::string command, target, out, train_mvtec;
  int jobs = 0;
  bool local = false, slurm = false, dry_run = false;
  SlurmOptions slurm_options;
  po::options_description opts("options");
  opts.add_options()("help,h", "show this help")
      ("out", po::value(&out), "plan: the sweep folder to write")
      ("local", po::bool_switch(&local), "run: on this machine")
      ("jobs", po::value(&jobs), "run: runs at a time (default: one per visible GPU, else 1)")
      ("train-mvtec", po::value(&train_mvtec), "run/submit/task: the train_mvtec program (default: beside this one)")
      ("slurm", po::bool_switch(&slurm), "submit: as a Slurm job array (sbatch)")
      ("partition", po::value(&slurm_options.partition), "submit: sbatch --partition")
      ("gres", po::value(&slurm_options.gres), "submit: sbatch --gres, e.g. gpu:1")
      ("time", po::value(&slurm_options.time), "submit: sbatch --time per task, e.g. 04:00:00")
      ("mem", po::value(&slurm_options.mem), "submit: sbatch --mem per task, e.g. 32G")
      ("cpus-per-task", po::value(&slurm_options.cpus_per_task), "submit: sbatch --cpus-per-task (also the task's OMP_NUM_THREADS)")
      ("max-parallel", po::value(&slurm_options.max_parallel), "submit: at most N tasks at once (the array's % throttle)")
      ("job-name", po::value(&slurm_options.job_name)->default_value(slurm_options.job_name), "submit: sbatch --job-name")
      ("sbatch-arg", po::value(&slurm_options.extra)->composing(), "submit: one more sbatch option, e.g. --account=NAME (repeatable)")
      ("dry-run", po::bool_switch(&dry_run), "submit: print the job script instead of submitting it");
  po::options_description hidden;
  hidden.add_options()("command", po::value(&command))("target", po::value(&target))("extra", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description positional;
  positional.add("command", 1).add("target", 1).add("extra", -1);
  try {
    po::variables_map vm;
    check_command_line(argc, argv);
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
    if (vm.count("help") || command.empty()) {
      std::cout << kUsage << opts << "\n";
      return vm.count("help") ? 0 : 2;
    }
    const auto extra = vm.count("extra") ? vm["extra"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (extra.size() > (command == "task" ? 1u : 0u)) throw po::error("unexpected argument '" + extra.back() + "'");
    if (target.empty()) throw po::error(command + ": give the " + (command == "plan" ? "grid file" : "sweep folder"));
    if (train_mvtec.empty()) train_mvtec = default_train_mvtec();
    if (command == "plan") {
      if (out.empty()) throw po::error("plan: --out DIR is required");
      const SweepPlan plan = expand_grid(target);
      write_plan(plan, out);
      std::printf("%s: %zu runs (%zu rows x %zu columns, seeds as repeats) in %s/manifest.json\n", target.c_str(),
                  plan.runs.size(), plan.rows.size(), plan.columns.size(), out.c_str());
      return 0;
    }
    if (command == "run") {
      if (!local) throw po::error("run: say where: --local (for a cluster: differnet_sweep submit DIR --slurm)");
      if (vm.count("jobs") && jobs <= 0) throw po::error("--jobs must be positive");
      DIFFERNET_CHECK(access(train_mvtec.c_str(), X_OK) == 0, "train_mvtec not found at ", train_mvtec,
                      " (build it, or give --train-mvtec PATH)");
      return run_local(target, jobs, train_mvtec);
    }
    if (command == "submit") {
      if (!slurm) throw po::error("submit: say how: --slurm");
      if (vm.count("max-parallel") && slurm_options.max_parallel <= 0) throw po::error("--max-parallel must be positive");
      if (vm.count("cpus-per-task") && slurm_options.cpus_per_task <= 0) throw po::error("--cpus-per-task must be positive");
      return submit(target, slurm_options, dry_run, vm.count("train-mvtec") ? train_mvtec : "");
    }
    if (command == "status") return print_status(target);
    if (command == "collect") {
      bool complete = false;
      std::cout << collect_table(target, complete);
      std::printf("written: %s/table.{md,csv,json,html}%s\n", target.c_str(),
                  complete ? "" : " (incomplete: some runs are not done; see above)");
      return complete ? 0 : 1;
    }
    if (command == "task") {  // one run: what a local slot and a Slurm array task execute
      if (extra.empty() || extra[0].find_first_not_of("0123456789") != std::string::npos)
        throw po::error("task DIR ID: ID is a run number");
      const char* array_job = std::getenv("SLURM_ARRAY_JOB_ID");
      const char* array_task = std::getenv("SLURM_ARRAY_TASK_ID");
      const std::string where = array_job && array_task ? std::string("slurm job ") + array_job + "_" + array_task
                                                        : "local pid " + std::to_string(getpid());
      return run_one(target, std::atoi(extra[0].c_str()), train_mvtec, where);
    }
    throw po::error("unknown command '" + command + "' (plan, run, submit, status, collect)");
  } catch (const po::error& e) {
    std::cerr << "differnet_sweep: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "differnet_sweep: " << e.what() << "\n";
    return 1;
  }
}
