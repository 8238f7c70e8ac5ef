// How a source model is reached. Every adapter (a folder of prediction files, a
// TorchScript file run as a black box, an HTTP endpoint) answers the same
// question: per-pixel class probabilities (or hard labels) for one image, at the
// image's size, in the target's label space.
#pragma once
#include <torch/types.h>

#include <atomic>
#include <memory>
#include <opencv2/core.hpp>
#include <string>

#include "core/config.h"
#include "core/error.h"

namespace segtransfer {

struct LabelSpace;

// The source model cannot be reached any more (query budget used up, retries
// exhausted): a query stops at once instead of failing image after image.
// Other Errors (a malformed answer for one image) fail that image only.
class TeacherUnavailable : public Error {
 public:
  using Error::Error;
};

struct TeacherAnswer {
  torch::Tensor
      probabilities;  // (C, H, W) float32 on the CPU, at the image's size; undefined for a label-only black box
  cv::Mat labels;     // CV_8UC1 train ids (255 = ignore) at the image's size; only from a label-only black box
  bool has_probabilities() const { return probabilities.defined(); }
};

class Teacher {
 public:
  virtual ~Teacher() = default;
  // The answer for one image (BGR uint8). Thread-safe when max_concurrency() > 1.
  // Throws Error naming the image's stem and the cause.
  virtual TeacherAnswer ask(const cv::Mat& bgr, const std::string& stem) = 0;
  virtual int max_concurrency() const { return 1; }
  virtual std::string describe() const = 0;
  int num_classes() const { return num_classes_; }
  // Requests sent to the source model so far (an HTTP retry counts as a request).
  // Virtual so that a wrapper (a class mapping on top) reports its adapter's.
  virtual int64_t requests() const { return requests_.load(); }

 protected:
  explicit Teacher(int num_classes) : num_classes_(num_classes) {}
  int num_classes_;
  std::atomic<int64_t> requests_{0};
};

// How to read a raw answer.
struct AnswerFormat {
  std::string output = "probabilities";  // probabilities | logits | labels
  int num_classes = 0;                   // expected C of the answer
};

// What a prediction folder or an HTTP box has answered so far: an array is read as
// AnswerFormat::output, a PNG is always a label map, so the kind is known only from
// the answers themselves. Thread-safe.
class AnswerKinds {
 public:
  TeacherAnswer count(TeacherAnswer answer) {
    ++(answer.has_probabilities() ? arrays_ : label_maps_);
    return answer;
  }
  // "logits", "label PNGs", "logits and label PNGs"; before any answer "logits or label PNGs".
  std::string describe(const AnswerFormat& format) const;

 private:
  std::atomic<int64_t> arrays_{0}, label_maps_{0};
};

// Checks and normalises a raw (C, H, W) answer: rank 3, C == format.num_classes,
// every value finite, probabilities in [0, 1] (up to 1e-3) or softmax of logits;
// resized bilinearly to `image_size` when smaller or larger. `what` names the
// source (file, URL + stem) in errors.
TeacherAnswer decode_answer(torch::Tensor raw, const AnswerFormat& format, cv::Size image_size,
                            const std::string& what);

// Decodes an answer's bytes: a NumPy .npy array (probabilities / logits) or a PNG
// label map (by magic bytes). Errors name `what`.
TeacherAnswer decode_answer_bytes(const std::string& bytes, const AnswerFormat& format, cv::Size image_size,
                                  const std::string& what);

// The adapter of `spec.type`, with the class mapping of `spec.mapping` applied on
// top when set. `target` is the label space the answers must end up in; `data`
// gives the normalisation a TorchScript model is fed with.
std::unique_ptr<Teacher> make_teacher(const TeacherSpec& spec, const LabelSpace& target, const DataSpec& data,
                                      torch::Device device);

}  // namespace segtransfer
