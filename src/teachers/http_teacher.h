// A black box behind an HTTP endpoint (a vendor's API): POST the PNG-encoded
// image (raw, or base64 inside a JSON template), receive .npy bytes
// (probabilities / logits) or a PNG label map (raw, or inside a JSON answer).
// Extra headers (API keys read from the environment), bounded concurrency,
// per-request timeout, retries with exponential backoff on connection errors, 5xx
// and 429 (a Retry-After in seconds is honoured), and a budget on the requests sent.
// The contract: docs/black_box.md.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "teachers/teacher.h"

namespace segtransfer {

class HttpTeacher : public Teacher {
 public:
  // spec.url: "http://host:port/path". Throws Error on a malformed URL.
  HttpTeacher(const TeacherSpec& spec, AnswerFormat format);
  TeacherAnswer ask(const cv::Mat& bgr, const std::string& stem) override;
  int max_concurrency() const override { return concurrency_; }
  std::string describe() const override;

 private:
  std::string request_body(const std::string& png, const std::string& stem) const;
  TeacherAnswer decode_json_answer(const std::string& body, cv::Size image_size, const std::string& what) const;

  std::string url_shown_;  // the configured URL, ${VAR} unexpanded: what logs, errors and the store see
  std::string scheme_host_port_, path_;
  std::vector<std::pair<std::string, std::string>> headers_;  // expanded: never printed
  bool json_request_, json_answer_;
  std::string request_template_, answer_field_;
  AnswerFormat format_;
  AnswerKinds answered_;
  int concurrency_, timeout_s_, retries_, backoff_ms_;
  int64_t budget_;
};

}  // namespace segtransfer
