// Experiment grids for differnet_sweep: a grid file (train_mvtec's `key = value`
// config format, comma lists for swept keys, [variant] sections, paper.ROW
// numbers) is expanded into numbered runs, each a complete train_mvtec option
// set with its own folder, recorded in DIR/manifest.json. The run folders say
// how each run went (results.json from train_mvtec, sweep-state from the task
// that ran it), so status and collect work the same for local and Slurm runs.
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace differnet::app {

using KeyValues = std::vector<std::pair<std::string, std::string>>;  // in file order

struct SweepRun {
  int id = 0;
  std::string dir;      // relative to the sweep folder: runs/0007
  std::string row;      // the category (the table's row)
  std::string column;   // the variant and the other swept values ("AUROC" when nothing else varies)
  std::string seed;
  KeyValues options;    // train_mvtec's options, without --out and --resume
};

struct PaperNumber {
  std::string row, column;
  double auroc;  // percent
};

struct SweepPlan {
  std::string grid;  // the grid file it came from
  std::vector<std::string> rows, columns;  // table order
  std::vector<SweepRun> runs;
  std::vector<PaperNumber> paper;
};

// Reads and expands a grid file. Errors name the file, the line and the key.
SweepPlan expand_grid(const std::string& grid_path);

// The text of DIR/runs/NNNN/options.cfg for `run` (train_mvtec --config).
std::string run_config_text(const SweepRun& run);

std::string manifest_json(const SweepPlan& plan);
// Reads DIR/manifest.json; errors name the file and the field.
SweepPlan read_manifest(const std::string& sweep_dir);

// Writes the run folders' options.cfg and then the manifest (each atomically);
// checks every run's options with train_mvtec's parser first. Refuses a folder
// that already holds a different plan.
void write_plan(const SweepPlan& plan, const std::string& sweep_dir);

// ---- the state of one run, from its folder ----

enum class RunState { NotStarted, Running, Interrupted, Failed, Done, Broken };
const char* run_state_name(RunState s);

struct RunStatus {
  RunState state = RunState::NotStarted;
  double auroc = 0;     // Done: mean last-epoch image AUROC over the run's categories, percent
  int exit_code = 0;    // Failed / Interrupted
  std::string detail;   // where it runs, the error of a broken results.json, ...
  std::string log_tail; // Failed / Interrupted: the last lines of log.txt
};

// `slurm_queue`: the array tasks Slurm still holds ("12_3"), from slurm_queue();
// a run recorded as running in a task that left the queue was stopped without
// recording it (time limit, node failure, scancel): Interrupted.
RunStatus read_run_status(const std::string& sweep_dir, const SweepRun& run,
                          const std::optional<std::set<std::string>>& slurm_queue = std::nullopt);

// The job ids Slurm's queue holds, array tasks one by one (squeue -h -r -o %i);
// nullopt where squeue is missing or fails (no Slurm here).
std::optional<std::set<std::string>> slurm_queue();

// Runs one run's train_mvtec (the body of a local slot and of a Slurm array
// task): skips a finished run, adds --resume when a checkpoint exists, appends
// the output to RUN/log.txt and records the state in RUN/sweep-state.
// `where` describes the process for status ("local pid 12", "slurm job 8_3").
// Returns train_mvtec's exit status (0 for a run already done).
int run_one(const std::string& sweep_dir, int run_id, const std::string& train_mvtec, const std::string& where);

// ---- Slurm ----

struct SlurmOptions {
  std::string partition, gres, time, mem, job_name = "differnet-sweep";
  int cpus_per_task = 0;  // 0: leave to the cluster's default
  int max_parallel = 0;   // the array's % throttle; 0: none
  std::vector<std::string> extra;  // more #SBATCH lines (--sbatch-arg)
};

// The job-array script: one task per not-yet-done run (`run_ids`), each
// running `sweep_program task DIR ID [--train-mvtec PATH]` (no PATH: the one beside sweep_program).
std::string sbatch_script(const std::string& sweep_dir, const std::vector<int>& run_ids, const SlurmOptions& options,
                          const std::string& sweep_program, const std::string& train_mvtec);

// "0-3,7,9-10": Slurm's --array list of sorted ids.
std::string array_ranges(const std::vector<int>& ids);

// ---- the table ----

// Writes DIR/table.{md,csv,json,html} (each atomically) and returns the
// Markdown text. `complete` says whether every run was done.
std::string collect_table(const std::string& sweep_dir, bool& complete);

}  // namespace differnet::app
