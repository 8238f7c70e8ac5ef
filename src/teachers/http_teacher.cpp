#include "teachers/http_teacher.h"

#include <fmt/format.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <opencv2/imgcodecs.hpp>
#include <regex>
#include <thread>
#include <vector>

#include "teachers/base64.h"

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

// ${VAR} replaced by the environment variable VAR; `key` names the config key when it is unset.
std::string expand_environment(const std::string& text, const std::string& key) {
  static const std::regex kVariable(R"(\$\{([A-Za-z_][A-Za-z0-9_]*)\})");
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), kVariable);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const char* value = std::getenv((*it)[1].str().c_str());
    if (!value) throw Error(fmt::format("{}: environment variable {} is not set", key, (*it)[1].str()));
    out += text.substr(last, it->position() - last) + value;
    last = it->position() + it->length();
  }
  return out + text.substr(last);
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t p = text.find(from); p != std::string::npos; p = text.find(from, p + to.size()))
    text.replace(p, from.size(), to);
  return text;
}

// A vendor's Retry-After in seconds (the HTTP-date form falls back to the backoff); capped at 10 minutes.
int64_t retry_after_ms(const httplib::Response& response) {
  const std::string value = response.get_header_value("Retry-After");
  if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos || value.size() > 6) return -1;
  return std::min<int64_t>(std::stoll(value), 600) * 1000;
}

}  // namespace

HttpTeacher::HttpTeacher(const TeacherSpec& spec, AnswerFormat format)
    : Teacher(format.num_classes),
      url_shown_(spec.url),
      json_request_(spec.request == "json"),
      json_answer_(spec.answer == "json"),
      request_template_(spec.request_template),
      answer_field_(spec.answer_field),
      format_(std::move(format)),
      concurrency_(spec.concurrency),
      timeout_s_(spec.timeout_s),
      retries_(spec.retries),
      backoff_ms_(spec.backoff_ms),
      budget_(spec.budget) {
  static const std::regex kUrl(R"(^(https?://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:([0-9]{1,5}))?)(/[^\s#]*)?$)");
  std::smatch m;
  const std::string url = expand_environment(spec.url, "teacher.url");
  if (!std::regex_match(url, m, kUrl))
    throw Error(fmt::format("teacher.url: '{}' is not an http(s)://host[:port][/path] URL", spec.url));
  if (m[4].matched && (std::stoi(m[4].str()) < 1 || std::stoi(m[4].str()) > 65535))
    throw Error(fmt::format("teacher.url: port {} of '{}' is out of range", m[4].str(), spec.url));
  for (const auto& header : spec.headers) {
    const size_t colon = header.find(':');
    const std::string value = expand_environment(header.substr(colon + 1), "teacher.headers");
    headers_.emplace_back(header.substr(0, colon), value.substr(std::min(value.find_first_not_of(' '), value.size())));
  }
  scheme_host_port_ = m[1].str();
  path_ = m[5].matched ? m[5].str() : "/";
  if (!m[5].matched) url_shown_ += "/";
  if (concurrency_ < 1) throw Error("config key 'teacher.concurrency' must be at least 1");
  if (timeout_s_ < 1) throw Error("config key 'teacher.timeout_s' must be at least 1");
  if (retries_ < 0) throw Error("config key 'teacher.retries' must be at least 0");
  if (backoff_ms_ < 0) throw Error("config key 'teacher.backoff_ms' must be at least 0");
  if (budget_ < 0) throw Error("config key 'teacher.budget' must be at least 0 (0 = no limit)");
}

std::string HttpTeacher::request_body(const std::string& png, const std::string& stem) const {
  if (!json_request_) return png;
  // The stem is escaped as a JSON string's content; the template supplies the quotes.
  const std::string quoted = nlohmann::json(stem).dump();
  return replace_all(replace_all(request_template_, "${STEM}", quoted.substr(1, quoted.size() - 2)), "${IMAGE_BASE64}",
                     base64_encode(png));
}

// teacher.answer: json. The value at answer_field is a base64 string (of .npy or PNG
// bytes, decoded as a binary answer) or a nested array: [C][H][W] scores or [H][W] ids.
TeacherAnswer HttpTeacher::decode_json_answer(const std::string& body, cv::Size image_size,
                                              const std::string& what) const {
  nlohmann::json answer;
  try {
    answer = nlohmann::json::parse(body).at(nlohmann::json::json_pointer(answer_field_));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: no answer at teacher.answer_field {} ({})", what, answer_field_, e.what()));
  }
  if (answer.is_string())
    return decode_answer_bytes(base64_decode(answer.get<std::string>(), what), format_, image_size, what);
  try {
    if (answer.is_array() && !answer.empty() && answer[0].is_array() && !answer[0].empty() && answer[0][0].is_array()) {
      const auto scores = answer.get<std::vector<std::vector<std::vector<float>>>>();
      const int64_t c = scores.size(), h = scores[0].size(), w = h ? scores[0][0].size() : 0;
      torch::Tensor raw = torch::empty({c, h, w});
      auto a = raw.accessor<float, 3>();
      for (int64_t k = 0; k < c; ++k)
        for (int64_t y = 0; y < h; ++y) {
          if (static_cast<int64_t>(scores[k].size()) != h || static_cast<int64_t>(scores[k][y].size()) != w)
            throw Error(fmt::format("{}: the answer array is ragged", what));
          for (int64_t x = 0; x < w; ++x) a[k][y][x] = scores[k][y][x];
        }
      return decode_answer(raw, format_, image_size, what);
    }
    const auto ids = answer.get<std::vector<std::vector<int>>>();
    cv::Mat labels(static_cast<int>(ids.size()), ids.empty() ? 0 : static_cast<int>(ids[0].size()), CV_8UC1);
    for (int y = 0; y < labels.rows; ++y) {
      if (static_cast<int>(ids[y].size()) != labels.cols)
        throw Error(fmt::format("{}: the answer array is ragged", what));
      for (int x = 0; x < labels.cols; ++x) {
        if (ids[y][x] < 0 || ids[y][x] > 255)
          throw Error(fmt::format("{}: class id {} in the answer", what, ids[y][x]));
        labels.at<uint8_t>(y, x) = static_cast<uint8_t>(ids[y][x]);
      }
    }
    std::vector<uchar> png;
    cv::imencode(".png", labels, png);
    return decode_answer_bytes(std::string(png.begin(), png.end()), format_, image_size, what);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: the answer at {} is neither a base64 string nor a number array ({})", what,
                            answer_field_, e.what()));
  }
}

TeacherAnswer HttpTeacher::ask(const cv::Mat& bgr, const std::string& stem) {
  const std::string& url = url_shown_;
  std::vector<uchar> png;
  if (bgr.empty() || !cv::imencode(".png", bgr, png))
    throw Error(fmt::format("{}: cannot PNG-encode image {} ({}x{}, type {})", url, stem, bgr.cols, bgr.rows,
                            cv::typeToString(bgr.type())));
  const std::string body = request_body(std::string(png.begin(), png.end()), stem);
  httplib::Headers headers{{"X-Image-Stem", stem},
                           {"Accept", json_answer_ ? "application/json" : "application/octet-stream, image/png"}};
  for (const auto& [name, value] : headers_) headers.emplace(name, value);

  // A client per call: httplib clients are not safe to share between threads.
  httplib::Client client(scheme_host_port_);
  client.set_connection_timeout(timeout_s_);
  client.set_read_timeout(timeout_s_);
  client.set_write_timeout(timeout_s_);

  std::string last_cause;
  int64_t asked_delay_ms = -1;  // the server's Retry-After, when it gave one
  const int attempts = retries_ + 1;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1) {
      // The server's Retry-After, else doubling from backoff_ms (the shift capped so that it cannot overflow).
      const int64_t delay_ms =
          asked_delay_ms >= 0 ? asked_delay_ms : static_cast<int64_t>(backoff_ms_) << std::min(attempt - 2, 20);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      asked_delay_ms = -1;
    }
    // Reserve the request before sending it, so that concurrent callers never exceed the budget together.
    int64_t sent = requests_.load();
    do {
      if (budget_ > 0 && sent >= budget_)
        throw TeacherUnavailable(fmt::format("{}: query budget of {} requests used up (teacher.budget) before image {}",
                                             url, budget_, stem));
    } while (!requests_.compare_exchange_weak(sent, sent + 1));

    const httplib::Result result = client.Post(path_, headers, body, json_request_ ? "application/json" : "image/png");
    if (!result) {
      last_cause = describe_failure(result.error());
      continue;
    }
    const int status = result->status;
    if (status >= 200 && status < 300) {
      const std::string what = fmt::format("{} (image {})", url, stem);
      return answered_.count(json_answer_ ? decode_json_answer(result->body, bgr.size(), what)
                                          : decode_answer_bytes(result->body, format_, bgr.size(), what));
    }
    last_cause = fmt::format("HTTP {}{}", status, body_excerpt(result->body));
    if (retryable(status)) {
      asked_delay_ms = retry_after_ms(*result);
      continue;
    }
    const std::string message = fmt::format("{}: image {} refused with {}", url, stem, last_cause);
    if (endpoint_refuses(status)) throw TeacherUnavailable(message);
    throw Error(message);
  }
  throw TeacherUnavailable(fmt::format("{}: image {} failed after {} attempt{} (teacher.retries = {}); last: {}", url,
                                       stem, attempts, attempts == 1 ? "" : "s", retries_, last_cause));
}

std::string HttpTeacher::describe() const {
  return fmt::format("HTTP black box at {} ({} classes, {}{})", url_shown_, format_.num_classes,
                     answered_.describe(format_), json_request_ || json_answer_ ? ", JSON" : "");
}

}  // namespace segtransfer
