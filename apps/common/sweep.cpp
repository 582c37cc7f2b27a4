#include "apps/common/sweep.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "apps/common/options.h"
#include "apps/common/report.h"
#include "autograd/error.h"
#include "weights/file_io.h"
#include "weights/json.h"

namespace fs = std::filesystem;
using differnet::weights::JsonNumbers;
using differnet::weights::Json;

namespace differnet::app {
namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  const fs::path p = fs::absolute(path, ec);
  DIFFERNET_CHECK(!ec, "cannot make '", path, "' an absolute path: ", ec.message());
  return p.lexically_normal().string();
}

bool exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

// ---- grid files ----

struct GridEntry {
  int line;
  std::string key;
  std::vector<std::string> values;
};

struct GridSection {
  std::string name;  // "" for the part before the first [section]
  std::vector<GridEntry> entries;
  std::vector<std::pair<int, std::pair<std::string, double>>> paper;  // line, (row, AUROC %)
};

// Keys a grid may not set: differnet_sweep decides them for every run.
const std::map<std::string, std::string> kSweepOwnedKeys = {
    {"out", "each run writes to DIR/runs/NNNN"},
    {"resume", "differnet_sweep adds --resume itself when a run has a checkpoint"},
    {"config", "a grid is the config"},
    {"help", "not an option of a run"}};

bool valid_section_name(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '+')) return false;
  return true;
}

std::vector<std::string> split_values(const std::string& where, const std::string& key, const std::string& value) {
  DIFFERNET_CHECK(!value.empty(), where, ": '", key, "' has no value (an empty list)");
  if (key == "note") return {value};  // free text: its commas are not a list
  std::vector<std::string> items;
  std::set<std::string> seen;
  std::stringstream ss(value + ",");
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    DIFFERNET_CHECK(!item.empty(), where, ": '", key, "' has an empty item in '", value, "'");
    DIFFERNET_CHECK(seen.insert(item).second, where, ": '", key, "' lists '", item, "' twice");
    items.push_back(item);
  }
  return items;
}

std::vector<GridSection> read_grid_sections(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DIFFERNET_CHECK(in, "cannot read the grid file '", path, "'");
  static const std::vector<std::string> known = train_option_names();
  std::vector<GridSection> sections(1);
  std::string text;
  int line_no = 0;
  while (std::getline(in, text)) {
    ++line_no;
    const std::string where = path + ":" + std::to_string(line_no);
    const size_t hash = text.find('#');  // as train_mvtec --config (Boost): '#' starts a comment
    const std::string line = trim(hash == std::string::npos ? text : text.substr(0, hash));
    if (line.empty()) continue;
    if (line.front() == '[') {
      DIFFERNET_CHECK(line.back() == ']', where, ": a section line must look like [name], got '", line, "'");
      const std::string name = trim(line.substr(1, line.size() - 2));
      DIFFERNET_CHECK(valid_section_name(name), where, ": bad variant name '", name,
                      "' (letters, digits, _ - . + only)");
      for (const auto& s : sections)
        DIFFERNET_CHECK(s.name != name, where, ": variant [", name, "] given twice");
      sections.push_back({name, {}, {}});
      continue;
    }
    const size_t eq = line.find('=');
    DIFFERNET_CHECK(eq != std::string::npos, where, ": expected 'key = value', got '", line, "'");
    const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    DIFFERNET_CHECK(!key.empty(), where, ": a line without a key");
    GridSection& section = sections.back();
    if (key.rfind("paper.", 0) == 0) {
      const std::string row = key.substr(6);
      DIFFERNET_CHECK(!row.empty(), where, ": 'paper.' needs a row name (a category or 'mean')");
      char* end = nullptr;
      const double auroc = std::strtod(value.c_str(), &end);
      DIFFERNET_CHECK(!value.empty() && end && *end == 0 && auroc >= 0 && auroc <= 100, where, ": '", key,
                      "' must be an AUROC in percent (0 to 100), got '", value, "'");
      for (const auto& p : section.paper)
        DIFFERNET_CHECK(p.second.first != row, where, ": '", key, "' given twice");
      section.paper.push_back({line_no, {row, auroc}});
      continue;
    }
    const auto owned = kSweepOwnedKeys.find(key);
    DIFFERNET_CHECK(owned == kSweepOwnedKeys.end(), where, ": '", key, "' cannot be set in a grid (",
                    owned == kSweepOwnedKeys.end() ? "" : owned->second, ")");
    DIFFERNET_CHECK(std::find(known.begin(), known.end(), key) != known.end(), where, ": unknown key '", key,
                    "' (not a train_mvtec option; see train_mvtec --help)");
    for (const auto& e : section.entries)
      DIFFERNET_CHECK(e.key != key, where, ": '", key, "' given twice (line ", e.line, ")");
    std::vector<std::string> values = split_values(where, key, value);
    for (auto& v : values) {
      if (key == "category") {
        DIFFERNET_CHECK(v != "all", where, ": 'category = all' is not a list: name the categories (one run each)");
        std::replace(v.begin(), v.end(), '+', ',');  // a+b: one model on both (train_mvtec's a,b)
      }
      // Paths are taken relative to where `plan` runs, so runs find them from any folder.
      if ((key == "data" || key == "weights") && v.front() != '/') v = absolute_path(v);
    }
    section.entries.push_back({line_no, key, std::move(values)});
  }
  return sections;
}

std::string pad_id(int id) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d", id);
  return buf;
}

void add_unique(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

std::string row_label(const std::string& category) {
  std::string r = category;
  std::replace(r.begin(), r.end(), ',', '+');
  return r;
}

// ---- JSON field access with errors that say where ----

// `kind` number_float accepts any number, number_integer any integer (parse_json keeps them within int64).
const Json& field(const Json& obj, const std::string& key, Json::value_t kind, const std::string& where) {
  DIFFERNET_CHECK(obj.is_object(), where, " must be an object");
  const auto v = obj.find(key);
  DIFFERNET_CHECK(v != obj.end(), where, ": no '", key, "'");
  const bool ok = kind == Json::value_t::number_float     ? v->is_number()
                  : kind == Json::value_t::number_integer ? v->is_number_integer()
                                                          : v->type() == kind;
  const std::string wanted = weights::json_kind_name(kind);
  DIFFERNET_CHECK(ok, where, ": '", key, "' must be ", std::strchr("aeiou", wanted[0]) ? "an " : "a ", wanted, ", not ",
                  weights::json_kind_name(v->type()));
  return *v;
}

const std::string& string_field(const Json& obj, const std::string& key, const std::string& where) {
  return field(obj, key, Json::value_t::string, where).get_ref<const std::string&>();
}

std::vector<std::string> string_list(const Json& obj, const std::string& key, const std::string& where) {
  std::vector<std::string> out;
  for (const Json& v : field(obj, key, Json::value_t::array, where)) {
    DIFFERNET_CHECK(v.is_string(), where, ": '", key, "' must hold strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

KeyValues read_state_file(const std::string& path) {
  KeyValues out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) out.emplace_back(trim(line.substr(0, eq)), trim(line.substr(eq + 1)));
  }
  return out;
}

std::string lookup(const KeyValues& kv, const std::string& key) {
  for (const auto& [k, v] : kv)
    if (k == key) return v;
  return "";
}

std::string last_lines(const std::string& path, int n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (int(lines.size()) > n) lines.erase(lines.begin());
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

SweepPlan expand_grid(const std::string& grid_path) {
  const std::vector<GridSection> sections = read_grid_sections(grid_path);
  SweepPlan plan;
  plan.grid = absolute_path(grid_path);
  const GridSection& base = sections[0];
  // No [variant] sections: the base is the one variant.
  std::vector<const GridSection*> variants;
  for (size_t i = 1; i < sections.size(); ++i) variants.push_back(&sections[i]);
  const GridSection none;
  if (variants.empty()) variants.push_back(&none);
  for (const GridSection* variant : variants) {
    const std::string vname = variant->name.empty() ? "" : "[" + variant->name + "]";
    // The base's keys, overridden by the variant's, in file order.
    std::vector<GridEntry> merged = base.entries;
    for (const GridEntry& e : variant->entries) {
      auto it = std::find_if(merged.begin(), merged.end(), [&](const GridEntry& m) { return m.key == e.key; });
      if (it != merged.end()) *it = e;
      else merged.push_back(e);
    }
    for (const char* required : {"data", "category"})
      DIFFERNET_CHECK(std::any_of(merged.begin(), merged.end(), [&](const GridEntry& e) { return e.key == required; }),
                      grid_path, ": ", vname.empty() ? "the grid" : "variant " + vname, " has no '", required, "'");
    std::vector<std::string> column_keys;  // swept keys other than the rows (category) and the repeats (seed)
    for (const GridEntry& e : merged)
      if (e.values.size() > 1 && e.key != "category" && e.key != "seed") column_keys.push_back(e.key);
    const auto& paper = variant->paper.empty() ? base.paper : variant->paper;
    if (!paper.empty())
      DIFFERNET_CHECK(column_keys.empty(), grid_path, ":", paper[0].first, ": paper numbers need one column per ",
                      vname.empty() ? "grid" : "variant " + vname, ", but it sweeps '", column_keys[0],
                      "': make each value a [variant] with its own paper.ROW lines");
    double product = 1;
    for (const GridEntry& e : merged) product *= double(e.values.size());
    DIFFERNET_CHECK(double(plan.runs.size()) + product <= 100000, grid_path, ": ",
                    vname.empty() ? "the grid" : "variant " + vname, " would make more than 100000 runs");
    // The cartesian product, the last key varying fastest.
    std::vector<size_t> index(merged.size(), 0);
    for (bool more = true; more;) {
      SweepRun run;
      run.id = int(plan.runs.size());
      run.dir = "runs/" + pad_id(run.id);
      run.seed = "0";
      std::string column = variant->name;
      for (size_t k = 0; k < merged.size(); ++k) {
        const std::string& value = merged[k].values[index[k]];
        run.options.emplace_back(merged[k].key, value);
        if (merged[k].key == "category") run.row = row_label(value);
        if (merged[k].key == "seed") run.seed = value;
        if (std::find(column_keys.begin(), column_keys.end(), merged[k].key) != column_keys.end())
          column += (column.empty() ? "" : " ") + merged[k].key + "=" + value;
      }
      run.column = column.empty() ? "AUROC" : column;
      add_unique(plan.rows, run.row);
      add_unique(plan.columns, run.column);
      plan.runs.push_back(std::move(run));
      more = false;
      for (size_t k = merged.size(); k-- > 0;) {
        if (++index[k] < merged[k].values.size()) {
          more = true;
          break;
        }
        index[k] = 0;
      }
    }
    const std::string column = plan.runs.back().column;
    for (const auto& line_number : paper) {
      const std::string& row = line_number.second.first;
      const bool known_row = row == "mean" || std::any_of(plan.runs.begin(), plan.runs.end(), [&](const SweepRun& r) {
                               return r.column == column && r.row == row;
                             });
      DIFFERNET_CHECK(known_row, grid_path, ":", line_number.first, ": 'paper.", row,
                      "' names no row of the table (a category of the grid, or 'mean')");
      plan.paper.push_back({row, column, line_number.second.second});
    }
  }
  return plan;
}

std::string run_config_text(const SweepRun& run) {
  std::string text = "# differnet_sweep run " + std::to_string(run.id) + ": " + run.row + ", " + run.column +
                     ", seed " + run.seed + " (train_mvtec --config)\n";
  for (const auto& [key, value] : run.options) text += key + " = " + value + "\n";
  return text;
}

std::string manifest_json(const SweepPlan& plan) {
  Json j = Json::object();
  j["format"] = "differnet-sweep-manifest-1";
  j["grid"] = plan.grid;
  Json rows = Json::array(), columns = Json::array(), paper = Json::array(), runs = Json::array();
  for (const auto& r : plan.rows) rows.push_back(r);
  for (const auto& c : plan.columns) columns.push_back(c);
  for (const auto& p : plan.paper) {
    Json e = Json::object();
    e["row"] = p.row;
    e["column"] = p.column;
    e["auroc"] = p.auroc;
    paper.push_back(e);
  }
  for (const auto& run : plan.runs) {
    Json e = Json::object();
    e["id"] = run.id;
    e["dir"] = run.dir;
    e["row"] = run.row;
    e["column"] = run.column;
    e["seed"] = run.seed;
    Json options = Json::object();
    for (const auto& [k, v] : run.options) options[k] = v;
    e["options"] = options;
    runs.push_back(e);
  }
  j["rows"] = rows;
  j["columns"] = columns;
  j["paper"] = paper;
  j["runs"] = runs;
  return weights::dump_json(j);
}

SweepPlan read_manifest(const std::string& sweep_dir) {
  const std::string path = sweep_dir + "/manifest.json";
  DIFFERNET_CHECK(exists(path), "no plan in '", sweep_dir, "' (", path, " is missing; run differnet_sweep plan GRID --out ",
                  sweep_dir, ")");
  const Json root = weights::parse_json(weights::read_file_bytes(path), path, JsonNumbers::Any);
  SweepPlan plan;
  DIFFERNET_CHECK(root.is_object() && string_field(root, "format", path) == "differnet-sweep-manifest-1",
                  path, ": not a differnet_sweep manifest (format differnet-sweep-manifest-1)");
  plan.grid = string_field(root, "grid", path);
  plan.rows = string_list(root, "rows", path);
  plan.columns = string_list(root, "columns", path);
  auto known = [](const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
  };
  const Json& paper = field(root, "paper", Json::value_t::array, path);
  for (size_t i = 0; i < paper.size(); ++i) {
    const std::string where = path + ": paper[" + std::to_string(i) + "]";
    PaperNumber p{string_field(paper[i], "row", where), string_field(paper[i], "column", where),
                  field(paper[i], "auroc", Json::value_t::number_float, where).get<double>()};
    DIFFERNET_CHECK((known(plan.rows, p.row) || p.row == "mean") && known(plan.columns, p.column), where,
                    ": row or column not in the table");
    plan.paper.push_back(p);
  }
  static const std::vector<std::string> option_names = train_option_names();
  const Json& runs = field(root, "runs", Json::value_t::array, path);
  DIFFERNET_CHECK(!runs.empty(), path, ": no runs");
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string where = path + ": runs[" + std::to_string(i) + "]";
    SweepRun run;
    const int64_t id = field(runs[i], "id", Json::value_t::number_integer, where).get<int64_t>();
    DIFFERNET_CHECK(id == int64_t(i), where, ": 'id' is ", id, ", expected ", i, " (runs in order)");
    run.id = int(i);
    run.dir = string_field(runs[i], "dir", where);
    DIFFERNET_CHECK(run.dir == "runs/" + pad_id(run.id), where, ": 'dir' must be runs/", pad_id(run.id), ", got '",
                    run.dir, "'");
    run.row = string_field(runs[i], "row", where);
    run.column = string_field(runs[i], "column", where);
    run.seed = string_field(runs[i], "seed", where);
    DIFFERNET_CHECK(known(plan.rows, run.row), where, ": row '", run.row, "' is not in 'rows'");
    DIFFERNET_CHECK(known(plan.columns, run.column), where, ": column '", run.column, "' is not in 'columns'");
    for (const auto& [key, value] : field(runs[i], "options", Json::value_t::object, where).items()) {
      DIFFERNET_CHECK(value.is_string(), where, ": option '", key, "' must be a string");
      const std::string& text = value.get_ref<const std::string&>();
      DIFFERNET_CHECK(known(option_names, key) && !kSweepOwnedKeys.count(key), where, ": '", key,
                      "' is not an option a run may set");
      DIFFERNET_CHECK(text.find_first_of("#\n\r") == std::string::npos, where, ": option '", key,
                      "' holds '#' or a line break");
      run.options.emplace_back(key, text);
    }
    plan.runs.push_back(std::move(run));
  }
  return plan;
}

void write_plan(const SweepPlan& plan, const std::string& sweep_dir) {
  const std::string manifest_path = sweep_dir + "/manifest.json";
  const std::string manifest = manifest_json(plan);
  if (exists(manifest_path)) {
    DIFFERNET_CHECK(weights::read_file_bytes(manifest_path) == manifest, sweep_dir,
                    " already holds a different plan (manifest.json): choose another --out or remove it");
    return;  // the same plan again: nothing to do
  }
  // Each run's options through train_mvtec's own parser and checks, before anything is written.
  char scratch[] = "/tmp/differnet-sweep-XXXXXX";
  DIFFERNET_CHECK(mkdtemp(scratch), "cannot create a temporary folder: ", std::strerror(errno));
  const std::string check_cfg = std::string(scratch) + "/options.cfg";
  try {
    for (const SweepRun& run : plan.runs) {
      weights::write_file_atomically(check_cfg, run_config_text(run));
      std::vector<std::string> args = {"train_mvtec", "--config", check_cfg, "--out", sweep_dir + "/" + run.dir};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      TrainOptions parsed;
      try {
        parse_train_options(int(argv.size()), argv.data(), parsed);
      } catch (const std::exception& e) {
        throw Error(detail::concat(plan.grid, ": run ", run.id, " (", run.row, ", ", run.column, ", seed ", run.seed,
                                   "): ", e.what()));
      }
    }
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(scratch, ignored);
    throw;
  }
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
  std::error_code ec;
  for (const SweepRun& run : plan.runs) {
    const std::string dir = sweep_dir + "/" + run.dir;
    fs::create_directories(dir, ec);
    DIFFERNET_CHECK(!ec, "cannot create '", dir, "': ", ec.message());
    weights::write_file_atomically(dir + "/options.cfg", run_config_text(run));
  }
  weights::write_file_atomically(sweep_dir + "/grid.cfg", weights::read_file_bytes(plan.grid));
  weights::write_file_atomically(manifest_path, manifest);  // last: the plan exists once this is in place
}

const char* run_state_name(RunState s) {
  switch (s) {
    case RunState::NotStarted: return "not started";
    case RunState::Running: return "running";
    case RunState::Interrupted: return "interrupted";
    case RunState::Failed: return "failed";
    case RunState::Done: return "done";
    case RunState::Broken: return "broken";
  }
  return "?";
}

std::optional<std::set<std::string>> slurm_queue() {
  FILE* p = popen("squeue -h -r -o %i 2>/dev/null", "r");
  if (!p) return std::nullopt;
  std::set<std::string> jobs;
  char line[256];
  while (std::fgets(line, sizeof line, p)) jobs.insert(trim(std::string(line).substr(0, std::strcspn(line, "\n"))));
  if (pclose(p) != 0) return std::nullopt;
  return jobs;
}

RunStatus read_run_status(const std::string& sweep_dir, const SweepRun& run,
                          const std::optional<std::set<std::string>>& slurm_queue) {
  const std::string dir = sweep_dir + "/" + run.dir;
  RunStatus st;
  const std::string results = dir + "/results.json";
  if (exists(results)) {
    try {
      const Json root = weights::parse_json(weights::read_file_bytes(results), results, JsonNumbers::Any);
      const Json& cats = field(root, "results", Json::value_t::array, results);
      DIFFERNET_CHECK(!cats.empty(), results, ": 'results' is empty");
      double sum = 0;
      for (size_t i = 0; i < cats.size(); ++i)
        sum += field(cats[i], "image_auroc_last", Json::value_t::number_float,
                     results + ": results[" + std::to_string(i) + "]")
                   .get<double>();
      st.state = RunState::Done;
      st.auroc = 100 * sum / double(cats.size());
    } catch (const Error& e) {
      st.state = RunState::Broken;
      st.detail = e.what();
    }
    return st;
  }
  const std::string state_path = dir + "/sweep-state";
  if (!exists(state_path)) return st;
  const KeyValues state = read_state_file(state_path);
  st.detail = lookup(state, "where") + " on " + lookup(state, "host") + ", since " + lookup(state, "started");
  if (lookup(state, "state") == "running") {
    st.state = RunState::Running;
    // A local run whose process is gone was killed without recording it.
    const std::string pid = lookup(state, "pid");
    if (lookup(state, "host") == host_name() && lookup(state, "where").rfind("local", 0) == 0 && !pid.empty() &&
        kill(pid_t(std::atol(pid.c_str())), 0) != 0 && errno == ESRCH) {
      st.state = RunState::Interrupted;
      st.detail += "; its process is gone";
    }
    const std::string where = lookup(state, "where"), slurm_prefix = "slurm job ";
    if (slurm_queue && where.rfind(slurm_prefix, 0) == 0 && !slurm_queue->count(where.substr(slurm_prefix.size()))) {
      st.state = RunState::Interrupted;
      st.detail += "; the task left Slurm's queue without finishing (time limit, node failure or scancel)";
    }
  } else {
    st.exit_code = std::atoi(lookup(state, "exit_code").c_str());
    // 130: train_mvtec stopped on SIGINT/SIGTERM after writing its checkpoint.
    st.state = st.exit_code == 130 ? RunState::Interrupted : RunState::Failed;
    st.detail = "exit status " + lookup(state, "exit_code") + " (" + lookup(state, "where") + " on " +
                lookup(state, "host") + ", " + lookup(state, "finished") + ")";
  }
  if (st.state != RunState::Running) st.log_tail = last_lines(dir + "/log.txt", 5);
  return st;
}

namespace {
volatile sig_atomic_t g_child = 0;
void forward_signal(int sig) {
  if (g_child > 0) kill(pid_t(g_child), sig);
}

void write_state(const std::string& dir, const KeyValues& kv) {
  std::string text;
  for (const auto& [k, v] : kv) text += k + " = " + v + "\n";
  weights::write_file_atomically(dir + "/sweep-state", text);
}
}  // namespace

int run_one(const std::string& sweep_dir, int run_id, const std::string& train_mvtec, const std::string& where) {
  const SweepPlan plan = read_manifest(sweep_dir);
  DIFFERNET_CHECK(run_id >= 0 && run_id < int(plan.runs.size()), sweep_dir, ": no run ", run_id, " (the plan has runs 0-",
                  plan.runs.size() - 1, ")");
  const SweepRun& run = plan.runs[size_t(run_id)];
  const std::string dir = sweep_dir + "/" + run.dir;
  if (read_run_status(sweep_dir, run).state == RunState::Done) {
    std::printf("run %d (%s): already done\n", run_id, run.dir.c_str());
    return 0;
  }
  std::vector<std::string> args = {train_mvtec, "--config", dir + "/options.cfg", "--out", dir};
  if (exists(dir + "/checkpoint.safetensors")) args.push_back("--resume");
  std::string command;
  for (const auto& a : args) command += (command.empty() ? "" : " ") + a;
  const KeyValues started = {{"state", "running"}, {"where", where}, {"host", host_name()},
                             {"pid", std::to_string(getpid())}, {"started", now_text()}};
  write_state(dir, started);
  const int log = open((dir + "/log.txt").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  DIFFERNET_CHECK(log >= 0, "cannot open ", dir, "/log.txt: ", std::strerror(errno));
  const std::string header = "==== differnet_sweep (" + where + ", " + now_text() + "): " + command + "\n";
  (void)!write(log, header.data(), header.size());
  const pid_t child = fork();
  if (child < 0) {
    close(log);
    throw Error(detail::concat("fork failed: ", std::strerror(errno)));
  }
  if (child == 0) {
    dup2(log, 1);
    dup2(log, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::fprintf(stderr, "differnet_sweep: cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  close(log);
  g_child = child;
  // Ctrl-C, scancel and Slurm's time limit reach train_mvtec, which checkpoints and exits 130.
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
  g_child = 0;
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  KeyValues finished = started;
  finished[0].second = "exited";
  finished.emplace_back("finished", now_text());
  finished.emplace_back("exit_code", std::to_string(code));
  write_state(dir, finished);
  return code;
}

std::string array_ranges(const std::vector<int>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(ids[i]) + (j > i ? "-" + std::to_string(ids[j]) : "");
    i = j + 1;
  }
  return out;
}

namespace {
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

std::string sbatch_script(const std::string& sweep_dir, const std::vector<int>& run_ids, const SlurmOptions& o,
                          const std::string& sweep_program, const std::string& train_mvtec) {
  DIFFERNET_CHECK(!run_ids.empty(), sweep_dir, ": every run is done; nothing to submit");
  const std::string dir = absolute_path(sweep_dir);
  std::vector<std::string> lines = {"--job-name=" + o.job_name,
                                    "--array=" + array_ranges(run_ids) +
                                        (o.max_parallel > 0 ? "%" + std::to_string(o.max_parallel) : ""),
                                    "--output=" + dir + "/slurm/%A_%a.out", "--open-mode=append", "--requeue"};
  if (!o.partition.empty()) lines.push_back("--partition=" + o.partition);
  if (!o.gres.empty()) lines.push_back("--gres=" + o.gres);
  if (!o.time.empty()) lines.push_back("--time=" + o.time);
  if (!o.mem.empty()) lines.push_back("--mem=" + o.mem);
  if (o.cpus_per_task > 0) lines.push_back("--cpus-per-task=" + std::to_string(o.cpus_per_task));
  for (const auto& extra : o.extra) {
    DIFFERNET_CHECK(extra.rfind("-", 0) == 0 && extra.find_first_of("\n\r") == std::string::npos,
                    "--sbatch-arg '", extra, "': expected one sbatch option such as --account=NAME");
    lines.push_back(extra);
  }
  std::string s = "#!/bin/bash\n";
  for (const auto& l : lines) s += "#SBATCH " + l + "\n";
  s += "# Written by differnet_sweep submit: one array task per run of " + dir +
       "/manifest.json.\n"
       "# A task skips a finished run and continues a requeued or preempted one from its\n"
       "# checkpoint (train_mvtec --resume); see differnet_sweep status.\n"
       "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK; fi\n"
       "exec " +
       shell_quote(sweep_program) + " task " + shell_quote(dir) + " \"$SLURM_ARRAY_TASK_ID\"" +
       (train_mvtec.empty() ? "" : " --train-mvtec " + shell_quote(train_mvtec)) + "\n";
  return s;
}

// ---- collect ----

namespace {

struct Cell {
  std::vector<const SweepRun*> runs;
  std::vector<RunStatus> status;
};

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

double std_of(const std::vector<double>& v) {  // sample standard deviation (n - 1)
  if (v.size() < 2) return NAN;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

std::string fmt(double v, const char* format = "%.1f") {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct CellSummary {
  std::vector<double> values;  // done runs, percent, in seed order
  std::vector<std::string> seeds;
  int done = 0, total = 0, failed = 0, missing = 0;  // failed: failed or broken; missing: not started/running/interrupted
  double mean = NAN, stdev = NAN;
  std::string text;  // "93.1 ± 0.4", with what is missing
};

CellSummary summarize(const Cell& cell) {
  CellSummary s;
  s.total = int(cell.runs.size());
  for (size_t i = 0; i < cell.runs.size(); ++i) {
    const RunState st = cell.status[i].state;
    if (st == RunState::Done) {
      s.values.push_back(cell.status[i].auroc);
      s.seeds.push_back(cell.runs[i]->seed);
    } else if (st == RunState::Failed || st == RunState::Broken) {
      ++s.failed;
    } else {
      ++s.missing;
    }
  }
  s.done = int(s.values.size());
  if (!s.values.empty()) {
    s.mean = mean_of(s.values);
    s.stdev = std_of(s.values);
    s.text = fmt(s.mean) + (std::isfinite(s.stdev) ? " ± " + fmt(s.stdev) : "");
  }
  if (s.total == 0) return s;
  if (int(s.values.size()) < s.total) {
    std::string what = std::to_string(s.values.size()) + " of " + std::to_string(s.total) + " runs";
    if (s.failed) what += ", " + std::to_string(s.failed) + " FAILED";
    if (s.missing) what += ", " + std::to_string(s.missing) + " missing";
    s.text = s.values.empty() ? "(" + what + ")" : s.text + " (" + what + ")";
  }
  return s;
}

std::string plot_svg(const SweepPlan& plan, const std::map<std::pair<std::string, std::string>, CellSummary>& cells) {
  const double w = 560, h = 300, m = 50;
  const size_t n = plan.columns.size();
  std::ostringstream s;
  s << "<svg width='" << w + 2 * m + 160 << "' height='" << h + 2 * m + 40 << "' role='img' aria-label='AUROC per column'>";
  s << "<rect x='" << m << "' y='" << m << "' width='" << w << "' height='" << h << "' fill='none' stroke='#888'/>";
  double lo = 100, hi = 0;
  for (const auto& [key, c] : cells)
    if (std::isfinite(c.mean)) {
      lo = std::min(lo, c.mean - (std::isfinite(c.stdev) ? c.stdev : 0));
      hi = std::max(hi, c.mean + (std::isfinite(c.stdev) ? c.stdev : 0));
    }
  lo = std::max(0.0, std::floor(lo / 5) * 5 - 5);
  hi = std::min(100.0, std::ceil(hi / 5) * 5 + 5);
  if (hi <= lo) hi = lo + 10;
  auto x = [&](size_t i) { return m + (n == 1 ? w / 2 : w * double(i) / double(n - 1)); };
  auto y = [&](double v) { return m + h - h * (v - lo) / (hi - lo); };
  for (size_t i = 0; i < n; ++i)
    s << "<text x='" << x(i) << "' y='" << m + h + 16 << "' text-anchor='middle' font-size='11'>"
      << html_escape(plan.columns[i]) << "</text>";
  for (double v : {lo, (lo + hi) / 2, hi})
    s << "<text x='" << m - 6 << "' y='" << y(v) + 4 << "' text-anchor='end' font-size='11'>" << fmt(v, "%.0f") << "</text>";
  s << "<text x='14' y='" << m + h / 2 << "' text-anchor='middle' font-size='12' transform='rotate(-90 14 " << m + h / 2
    << ")'>image AUROC % (mean ± std over seeds)</text>";
  static const char* colors[] = {"#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#2c3e50", "#f39c12"};
  for (size_t r = 0; r < plan.rows.size(); ++r) {
    const char* color = colors[r % 8];
    std::string points;
    for (size_t i = 0; i < n; ++i) {
      const auto it = cells.find({plan.rows[r], plan.columns[i]});
      if (it == cells.end() || !std::isfinite(it->second.mean)) continue;
      const CellSummary& c = it->second;
      points += fmt(x(i), "%.1f") + "," + fmt(y(c.mean), "%.1f") + " ";
      if (std::isfinite(c.stdev))
        s << "<line x1='" << x(i) << "' x2='" << x(i) << "' y1='" << y(c.mean - c.stdev) << "' y2='" << y(c.mean + c.stdev)
          << "' stroke='" << color << "'/>";
      s << "<circle cx='" << x(i) << "' cy='" << y(c.mean) << "' r='3' fill='" << color << "'/>";
    }
    s << "<polyline fill='none' stroke='" << color << "' stroke-width='1.5' points='" << points << "'/>";
    s << "<text x='" << m + w + 10 << "' y='" << m + 14 * double(r + 1) << "' font-size='11' fill='" << color << "'>"
      << html_escape(plan.rows[r]) << "</text>";
  }
  s << "</svg>";
  return s.str();
}

}  // namespace

std::string collect_table(const std::string& sweep_dir, bool& complete) {
  const SweepPlan plan = read_manifest(sweep_dir);
  const auto queue = slurm_queue();
  std::map<std::pair<std::string, std::string>, Cell> cells;
  std::vector<std::pair<const SweepRun*, RunStatus>> problems;
  complete = true;
  for (const SweepRun& run : plan.runs) {
    Cell& c = cells[{run.row, run.column}];
    c.runs.push_back(&run);
    c.status.push_back(read_run_status(sweep_dir, run, queue));
    if (c.status.back().state != RunState::Done) {
      complete = false;
      if (c.status.back().state == RunState::Failed || c.status.back().state == RunState::Broken)
        problems.emplace_back(&run, c.status.back());
    }
  }
  std::map<std::pair<std::string, std::string>, CellSummary> summary;
  for (const auto& [key, cell] : cells) summary[key] = summarize(cell);
  auto paper_number = [&](const std::string& row, const std::string& column) {
    for (const auto& p : plan.paper)
      if (p.row == row && p.column == column) return p.auroc;
    return double(NAN);
  };
  std::set<std::string> columns_with_paper;
  for (const auto& p : plan.paper) columns_with_paper.insert(p.column);

  // The mean row: per seed, the average over the rows; then mean and std over
  // seeds. Only where every run of the column is done: a missing run is never averaged away.
  std::map<std::string, CellSummary> mean_row;
  if (plan.rows.size() > 1) {
    for (const auto& column : plan.columns) {
      CellSummary m;
      std::map<std::string, std::vector<double>> per_seed;
      bool whole = true;
      for (const auto& row : plan.rows) {
        const auto it = cells.find({row, column});
        if (it == cells.end()) continue;
        const CellSummary& s = summary[{row, column}];
        m.done += s.done;
        m.total += s.total;
        m.failed += s.failed;
        m.missing += s.missing;
        whole = whole && int(s.values.size()) == s.total;
        for (size_t i = 0; i < s.values.size(); ++i) per_seed[s.seeds[i]].push_back(s.values[i]);
      }
      if (whole) {
        for (const auto& [seed, v] : per_seed) m.values.push_back(mean_of(v));
        m.mean = mean_of(m.values);
        m.stdev = std_of(m.values);
        m.text = fmt(m.mean) + (std::isfinite(m.stdev) ? " ± " + fmt(m.stdev) : "");
      } else {
        m.text = "(incomplete: " + std::to_string(m.failed) + " failed, " + std::to_string(m.missing) + " missing)";
      }
      mean_row[column] = m;
    }
  }

  // Markdown
  std::ostringstream md;
  md << "# " << fs::path(plan.grid).filename().string() << ": image AUROC % (last meta epoch), mean ± std over seeds\n\n";
  md << "| category |";
  for (const auto& c : plan.columns) md << " " << c << " |" << (columns_with_paper.count(c) ? " paper |" : "");
  md << "\n|---|";
  for (const auto& c : plan.columns) md << "---|" << (columns_with_paper.count(c) ? "---|" : "");
  md << "\n";
  auto md_row = [&](const std::string& label, const std::string& row, auto&& cell_text) {
    md << "| " << label << " |";
    for (const auto& c : plan.columns) {
      md << " " << cell_text(c) << " |";
      if (columns_with_paper.count(c)) md << " " << fmt(paper_number(row, c)) << " |";
    }
    md << "\n";
  };
  for (const auto& row : plan.rows)
    md_row(row, row, [&](const std::string& c) {
      const auto it = summary.find({row, c});
      return it == summary.end() ? std::string("") : it->second.text;
    });
  if (!mean_row.empty()) md_row("**mean**", "mean", [&](const std::string& c) { return "**" + mean_row[c].text + "**"; });
  md << "\n" << plan.runs.size() << " runs; each run's AUROC and state are in table.json.";
  if (!problems.empty()) {
    md << "\n\nFailed runs:\n";
    for (const auto& [run, st] : problems)
      md << "- run " << run->id << " (" << run->row << ", " << run->column << ", seed " << run->seed
         << "): " << run_state_name(st.state) << ", " << st.detail << "\n";
  }
  md << "\n";

  // CSV: one line per cell
  std::ostringstream csv;
  csv << "row,column,mean,std,done,runs,failed,missing,paper\n";
  auto csv_line = [&](const std::string& row, const std::string& column, const CellSummary& s) {
    csv << csv_field(row) << "," << csv_field(column) << "," << fmt(s.mean, "%.4f") << "," << fmt(s.stdev, "%.4f") << ","
        << s.done << "," << s.total << "," << s.failed << "," << s.missing << ","
        << fmt(paper_number(row, column)) << "\n";
  };
  for (const auto& row : plan.rows)
    for (const auto& column : plan.columns)
      if (summary.count({row, column})) csv_line(row, column, summary[{row, column}]);
  for (const auto& [column, s] : mean_row) csv_line("mean", column, s);

  // JSON: every cell with its runs
  Json j = Json::object();
  j["grid"] = plan.grid;
  j["metric"] = "image AUROC % after the last meta epoch";
  Json jcells = Json::array();
  for (const auto& row : plan.rows)
    for (const auto& column : plan.columns) {
      const auto it = cells.find({row, column});
      if (it == cells.end()) continue;
      const CellSummary& s = summary[{row, column}];
      Json e = Json::object();
      e["row"] = row;
      e["column"] = column;
      e["mean"] = s.values.empty() ? Json() : Json(s.mean);
      e["std"] = s.stdev;
      e["paper"] = paper_number(row, column);
      Json runs = Json::array();
      for (size_t i = 0; i < it->second.runs.size(); ++i) {
        const RunStatus& st = it->second.status[i];
        Json r = Json::object();
        r["id"] = it->second.runs[i]->id;
        r["seed"] = it->second.runs[i]->seed;
        r["state"] = run_state_name(st.state);
        r["auroc"] = st.state == RunState::Done ? Json(st.auroc) : Json();
        if (!st.detail.empty()) r["detail"] = st.detail;
        runs.push_back(r);
      }
      e["runs"] = runs;
      jcells.push_back(e);
    }
  j["cells"] = jcells;
  Json jmean = Json::array();
  for (const auto& column : plan.columns) {
    if (!mean_row.count(column)) continue;
    Json e = Json::object();
    e["column"] = column;
    e["mean"] = mean_row[column].mean;
    e["std"] = mean_row[column].stdev;
    e["paper"] = paper_number("mean", column);
    e["complete"] = std::isfinite(mean_row[column].mean);
    jmean.push_back(e);
  }
  j["mean_row"] = jmean;
  j["complete"] = complete;

  // HTML: the table, and a plot when there is more than one column (shots, flags, variants)
  std::ostringstream html;
  html << "<!doctype html><html><head><meta charset='utf-8'><title>" << html_escape(fs::path(plan.grid).filename().string())
       << "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid "
          "#ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.paper{color:#777}"
          ".bad{color:#c0392b}</style></head><body>";
  html << "<h1>" << html_escape(fs::path(plan.grid).filename().string()) << "</h1><p>Image AUROC % after the last meta "
       << "epoch, mean ± standard deviation over seeds; grey: the paper's number.</p><table><tr><th>category</th>";
  for (const auto& c : plan.columns)
    html << "<th>" << html_escape(c) << "</th>" << (columns_with_paper.count(c) ? "<th class='paper'>paper</th>" : "");
  html << "</tr>";
  auto html_row = [&](const std::string& label, const std::string& row, auto&& cell_of) {
    html << "<tr><td>" << html_escape(label) << "</td>";
    for (const auto& c : plan.columns) {
      const CellSummary* s = cell_of(c);
      const bool bad = s && int(s->values.size()) < s->total;
      html << "<td" << (bad ? " class='bad'" : "") << ">" << (s ? html_escape(s->text) : "") << "</td>";
      if (columns_with_paper.count(c)) html << "<td class='paper'>" << fmt(paper_number(row, c)) << "</td>";
    }
    html << "</tr>";
  };
  for (const auto& row : plan.rows)
    html_row(row, row, [&](const std::string& c) -> const CellSummary* {
      const auto it = summary.find({row, c});
      return it == summary.end() ? nullptr : &it->second;
    });
  if (!mean_row.empty())
    html_row("mean", "mean", [&](const std::string& c) -> const CellSummary* { return &mean_row[c]; });
  html << "</table>";
  if (plan.columns.size() > 1) html << "<h2>Per column</h2>" << plot_svg(plan, summary);
  if (!problems.empty()) {
    html << "<h2 class='bad'>Failed runs</h2><ul>";
    for (const auto& [run, st] : problems)
      html << "<li>run " << run->id << " (" << html_escape(run->row + ", " + run->column + ", seed " + run->seed)
           << "): " << html_escape(std::string(run_state_name(st.state)) + ", " + st.detail) << "<pre>"
           << html_escape(st.log_tail) << "</pre></li>";
    html << "</ul>";
  }
  html << "</body></html>\n";

  weights::write_file_atomically(sweep_dir + "/table.csv", csv.str());
  weights::write_file_atomically(sweep_dir + "/table.json", weights::dump_json(j));
  weights::write_file_atomically(sweep_dir + "/table.html", html.str());
  weights::write_file_atomically(sweep_dir + "/table.md", md.str());
  return md.str();
}

}  // namespace differnet::app
