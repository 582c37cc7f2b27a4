// A progress bar on stderr with rate and ETA. On a terminal it redraws one
// line; otherwise (logs, CI) it prints a line at a tenth of the work at most
// every 10 seconds, and the final state.
#pragma once
#include <chrono>
#include <string>

namespace differnet::app {

class ProgressBar {
 public:
  ProgressBar(std::string label, long total, std::string unit = "it");
  void advance(long n = 1);
  void finish();  // prints the final state and a newline (idempotent)
  ~ProgressBar() { finish(); }

 private:
  void draw(bool force);
  std::string label_, unit_;
  long total_, done_ = 0;
  int last_decile_ = -1;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_seconds(double seconds);  // "1:23" or "1:02:03"

}  // namespace differnet::app
