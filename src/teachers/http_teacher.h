// A black box behind an HTTP endpoint (a vendor's API): POST the PNG-encoded
// image, receive .npy bytes (probabilities / logits) or a PNG label map.
// Bounded concurrency, per-request timeout, retries with exponential backoff on
// connection errors, 5xx and 429, and a budget on the requests sent.
#pragma once
#include <string>

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
  std::string scheme_host_port_, path_;
  AnswerFormat format_;
  int concurrency_, timeout_s_, retries_, backoff_ms_;
  int64_t budget_;
};

}  // namespace segtransfer
