// The progress line of a long step (query, train, eval, export): done/total,
// rate and ETA, logged at most every few seconds.
#pragma once
#include <chrono>
#include <string>

namespace segtransfer {

std::string format_duration(double seconds);  // "42s", "3m05s", "1h02m"

class ProgressLine {
 public:
  ProgressLine(std::string what, std::string unit, int64_t total, double every_seconds = 5.0);
  // Logs when `every_seconds` passed since the last line, and at done == total.
  void update(int64_t done);

 private:
  std::string what_, unit_;
  int64_t total_;
  double every_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace segtransfer
