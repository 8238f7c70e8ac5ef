#include "core/progress.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace segtransfer {

std::string format_duration(double seconds) {
  int s = static_cast<int>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

ProgressLine::ProgressLine(std::string what, std::string unit, int64_t total, double every_seconds)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      every_(every_seconds),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void ProgressLine::update(int64_t done) {
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && std::chrono::duration<double>(now - last_).count() < every_) return;
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = done / std::max(elapsed, 1e-9);
  spdlog::info("{} {}/{} ({:.0f}%) | {:.2f} {}/s | elapsed {} | ETA {}", what_, done, total_,
               total_ ? 100.0 * done / total_ : 100.0, rate, unit_, format_duration(elapsed),
               format_duration((total_ - done) / std::max(rate, 1e-9)));
}

}  // namespace segtransfer
