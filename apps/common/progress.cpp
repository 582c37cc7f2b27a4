#include "apps/common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace differnet::app {

std::string format_seconds(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "?";
  const long s = long(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

ProgressBar::ProgressBar(std::string label, long total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total > 0 ? total : 1), tty_(isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void ProgressBar::advance(long n) {
  done_ += n;
  draw(false);
}

void ProgressBar::draw(bool force) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int decile = int(10 * done_ / total_);
  if (!force) {
    if (tty_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1 && done_ < total_) return;
    // Logs get a line per tenth of the work, at most one every 10 s.
    if (!tty_ && (decile == last_decile_ || std::chrono::duration<double>(now - last_draw_).count() < 10.0)) return;
  }
  last_draw_ = now;
  last_decile_ = decile;
  const double rate = elapsed > 0 ? double(done_) / elapsed : 0;
  const double eta = rate > 0 ? double(total_ - done_) / rate : -1;
  const int width = 24, filled = int(width * done_ / total_);
  std::string bar(size_t(filled), '#');
  bar += std::string(size_t(width - filled), '.');
  std::fprintf(stderr, "%s%s [%s] %ld/%ld %.1f %s/s elapsed %s eta %s%s", tty_ ? "\r" : "", label_.c_str(),
               bar.c_str(), done_, total_, rate, unit_.c_str(), format_seconds(elapsed).c_str(),
               format_seconds(eta).c_str(), tty_ ? "\033[K" : "\n");
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (tty_) {
    draw(true);
    std::fprintf(stderr, "\n");
  } else if (last_decile_ != 10) {
    draw(true);
  }
}

}  // namespace differnet::app
