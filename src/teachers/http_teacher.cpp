#include "teachers/http_teacher.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <opencv2/imgcodecs.hpp>
#include <regex>
#include <thread>
#include <vector>

namespace segtransfer {
namespace {

// Endpoint-wide refusals: every other image would get the same answer, so the
// query stops instead of spending one request per image on them.
bool endpoint_refuses(int status) { return status == 401 || status == 403 || status == 404 || status == 405; }

bool retryable(int status) { return status >= 500 || status == 429; }

std::string describe_failure(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "no complete answer (connection closed, truncated body or read timeout)";
    case httplib::Error::Write:
      return "sending the image failed";
    default:
      return "request failed (httplib error " + httplib::to_string(error) + ")";
  }
}

// A vendor's error body often says what went wrong: its start, on one line.
std::string body_excerpt(const std::string& body) {
  constexpr size_t kMax = 120;
  std::string s = body.substr(0, kMax);
  for (char& c : s)
    if (c < 0x20 || c == 0x7f) c = ' ';
  if (s.find_first_not_of(' ') == std::string::npos) return "";
  return ": " + s + (body.size() > kMax ? "..." : "");
}

}  // namespace

HttpTeacher::HttpTeacher(const TeacherSpec& spec, AnswerFormat format)
    : Teacher(format.num_classes),
      format_(std::move(format)),
      concurrency_(spec.concurrency),
      timeout_s_(spec.timeout_s),
      retries_(spec.retries),
      backoff_ms_(spec.backoff_ms),
      budget_(spec.budget) {
  static const std::regex kUrl(R"(^(https?://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:([0-9]{1,5}))?)(/[^\s#]*)?$)");
  std::smatch m;
  if (!std::regex_match(spec.url, m, kUrl))
    throw Error(fmt::format("teacher.url: '{}' is not an http(s)://host[:port][/path] URL", spec.url));
  if (m[4].matched && (std::stoi(m[4].str()) < 1 || std::stoi(m[4].str()) > 65535))
    throw Error(fmt::format("teacher.url: port {} of '{}' is out of range", m[4].str(), spec.url));
  scheme_host_port_ = m[1].str();
  path_ = m[5].matched ? m[5].str() : "/";
  if (concurrency_ < 1) throw Error("config key 'teacher.concurrency' must be at least 1");
  if (timeout_s_ < 1) throw Error("config key 'teacher.timeout_s' must be at least 1");
  if (retries_ < 0) throw Error("config key 'teacher.retries' must be at least 0");
  if (backoff_ms_ < 0) throw Error("config key 'teacher.backoff_ms' must be at least 0");
  if (budget_ < 0) throw Error("config key 'teacher.budget' must be at least 0 (0 = no limit)");
}

TeacherAnswer HttpTeacher::ask(const cv::Mat& bgr, const std::string& stem) {
  const std::string url = scheme_host_port_ + path_;
  std::vector<uchar> png;
  if (bgr.empty() || !cv::imencode(".png", bgr, png))
    throw Error(fmt::format("{}: cannot PNG-encode image {} ({}x{}, type {})", url, stem, bgr.cols, bgr.rows,
                            cv::typeToString(bgr.type())));
  const std::string body(png.begin(), png.end());
  const httplib::Headers headers{{"X-Image-Stem", stem}, {"Accept", "application/octet-stream, image/png"}};

  // A client per call: httplib clients are not safe to share between threads.
  httplib::Client client(scheme_host_port_);
  client.set_connection_timeout(timeout_s_);
  client.set_read_timeout(timeout_s_);
  client.set_write_timeout(timeout_s_);

  std::string last_cause;
  const int attempts = retries_ + 1;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1) {
      // Doubling from backoff_ms; the shift is capped so that it cannot overflow.
      const int64_t delay_ms = static_cast<int64_t>(backoff_ms_) << std::min(attempt - 2, 20);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    }
    // Reserve the request before sending it, so that concurrent callers never exceed the budget together.
    int64_t sent = requests_.load();
    do {
      if (budget_ > 0 && sent >= budget_)
        throw TeacherUnavailable(fmt::format("{}: query budget of {} requests used up (teacher.budget) before image {}",
                                             url, budget_, stem));
    } while (!requests_.compare_exchange_weak(sent, sent + 1));

    const httplib::Result result = client.Post(path_, headers, body, "image/png");
    if (!result) {
      last_cause = describe_failure(result.error());
      continue;
    }
    const int status = result->status;
    if (status >= 200 && status < 300) {
      return decode_answer_bytes(result->body, format_, bgr.size(), fmt::format("{} (image {})", url, stem));
    }
    last_cause = fmt::format("HTTP {}{}", status, body_excerpt(result->body));
    if (retryable(status)) continue;
    const std::string message = fmt::format("{}: image {} refused with {}", url, stem, last_cause);
    if (endpoint_refuses(status)) throw TeacherUnavailable(message);
    throw Error(message);
  }
  throw TeacherUnavailable(fmt::format("{}: image {} failed after {} attempt{} (teacher.retries = {}); last: {}", url,
                                       stem, attempts, attempts == 1 ? "" : "s", retries_, last_cause));
}

std::string HttpTeacher::describe() const {
  return fmt::format("HTTP black box at {}{} ({} classes, {})", scheme_host_port_, path_, format_.num_classes,
                     format_.output);
}

}  // namespace segtransfer
