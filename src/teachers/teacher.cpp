#include "teachers/teacher.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cstring>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "data/class_mapping.h"
#include "teachers/augmented_teacher.h"
#include "data/label_space.h"
#include "teachers/http_teacher.h"
#include "teachers/npy.h"
#include "teachers/prediction_folder.h"
#include "teachers/torchscript_teacher.h"

namespace segtransfer {
namespace {

constexpr char kPngMagic[] = "\x89PNG\r\n\x1a\n";
constexpr size_t kPngMagicLen = 8;
constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr size_t kNpyMagicLen = 6;
constexpr double kProbabilityTolerance = 1e-3;

bool starts_with(const std::string& bytes, const char* magic, size_t n) {
  return bytes.size() >= n && std::memcmp(bytes.data(), magic, n) == 0;
}

// A label-only answer: train ids, 255 = ignore.
TeacherAnswer decode_label_png(const std::string& bytes, const AnswerFormat& format, cv::Size image_size,
                               const std::string& what) {
  cv::Mat labels;
  try {
    labels = cv::imdecode(cv::_InputArray(reinterpret_cast<const uchar*>(bytes.data()), static_cast<int>(bytes.size())),
                          cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception&) {
    labels.release();
  }
  if (labels.empty()) throw Error(fmt::format("{}: corrupt PNG label map", what));
  if (labels.type() != CV_8UC1)
    throw Error(fmt::format("{}: a label map must be a single-channel 8-bit PNG, got {}", what,
                            cv::typeToString(labels.type())));
  const cv::Mat bad = (labels >= format.num_classes) & (labels != kIgnoreIndex);
  if (cv::countNonZero(bad) > 0) {
    double bad_value = 0;
    cv::minMaxLoc(labels, nullptr, &bad_value, nullptr, nullptr, bad);
    throw Error(fmt::format("{}: class id {} in a label map of {} classes (255 = ignore)", what, bad_value,
                            format.num_classes));
  }
  if (!image_size.empty() && labels.size() != image_size)
    cv::resize(labels, labels, image_size, 0, 0, cv::INTER_NEAREST);
  TeacherAnswer answer;
  answer.labels = labels;
  return answer;
}

// A class mapping on top of an adapter: answers come back in the target's label space.
class MappedTeacher : public Teacher {
 public:
  MappedTeacher(std::unique_ptr<Teacher> inner, ClassMapping mapping, std::string mapping_name)
      : Teacher(mapping.num_target_classes),
        inner_(std::move(inner)),
        mapping_(std::move(mapping)),
        mapping_name_(std::move(mapping_name)) {}

  TeacherAnswer ask(const cv::Mat& bgr, const std::string& stem) override {
    TeacherAnswer answer = inner_->ask(bgr, stem);
    if (answer.has_probabilities()) answer.probabilities = map_probabilities(mapping_, answer.probabilities);
    if (!answer.labels.empty()) answer.labels = mapping_.apply_labels(answer.labels);
    return answer;
  }
  int max_concurrency() const override { return inner_->max_concurrency(); }
  std::string describe() const override { return fmt::format("{}, mapped by {}", inner_->describe(), mapping_name_); }
  int64_t requests() const override { return inner_->requests(); }

 private:
  std::unique_ptr<Teacher> inner_;
  ClassMapping mapping_;
  std::string mapping_name_;
};

}  // namespace

TeacherAnswer decode_answer(torch::Tensor raw, const AnswerFormat& format, cv::Size image_size,
                            const std::string& what) {
  if (raw.dim() != 3)
    throw Error(fmt::format("{}: expected a (C, H, W) array, got shape {}", what, c10::str(raw.sizes())));
  if (raw.size(0) != format.num_classes)
    throw Error(fmt::format("{}: {} classes in the answer, but the black box is set to {} (teacher.num_classes)", what,
                            raw.size(0), format.num_classes));
  if (raw.size(1) == 0 || raw.size(2) == 0)
    throw Error(fmt::format("{}: empty answer of shape {}", what, c10::str(raw.sizes())));
  torch::Tensor x = raw.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t non_finite = (~torch::isfinite(x)).sum().item<int64_t>();
  if (non_finite > 0) throw Error(fmt::format("{}: {} values are NaN or infinite", what, non_finite));

  if (format.output == "probabilities") {
    const double lo = x.min().item<double>(), hi = x.max().item<double>();
    if (lo < -kProbabilityTolerance || hi > 1 + kProbabilityTolerance)
      throw Error(
          fmt::format("{}: values in [{:g}, {:g}] are not probabilities (set teacher.output: logits if the "
                      "black box answers logits)",
                      what, lo, hi));
    x = x.clamp(0, 1);
  } else if (format.output == "logits") {
    x = torch::softmax(x, 0);
  } else if (format.output == "labels") {
    throw Error(
        fmt::format("{}: teacher.output is labels but the answer is a (C, H, W) array, not a PNG label map; "
                    "set teacher.output to probabilities or logits",
                    what));
  } else {
    throw Error(fmt::format("teacher.output: '{}' is not one of probabilities, logits, labels", format.output));
  }

  if (!image_size.empty() && (x.size(1) != image_size.height || x.size(2) != image_size.width)) {
    namespace F = torch::nn::functional;
    x = F::interpolate(x.unsqueeze(0), F::InterpolateFuncOptions()
                                           .size(std::vector<int64_t>{image_size.height, image_size.width})
                                           .mode(torch::kBilinear)
                                           .align_corners(false))
            .squeeze(0);
  }
  TeacherAnswer answer;
  answer.probabilities = x.contiguous();
  return answer;
}

std::string AnswerKinds::describe(const AnswerFormat& format) const {
  const bool arrays = arrays_.load() > 0, label_maps = label_maps_.load() > 0;
  if (arrays != label_maps) return arrays ? format.output : "label PNGs";
  return format.output + (arrays ? " and " : " or ") + "label PNGs";
}

TeacherAnswer decode_answer_bytes(const std::string& bytes, const AnswerFormat& format, cv::Size image_size,
                                  const std::string& what) {
  if (starts_with(bytes, kPngMagic, kPngMagicLen)) return decode_label_png(bytes, format, image_size, what);
  if (!starts_with(bytes, kNpyMagic, kNpyMagicLen))
    throw Error(fmt::format("{}: neither a NumPy .npy array nor a PNG label map (bad magic)", what));
  return decode_answer(parse_npy(bytes, what), format, image_size, what);
}

std::unique_ptr<Teacher> make_teacher(const TeacherSpec& spec, const LabelSpace& target, const DataSpec& data,
                                      torch::Device device) {
  const AnswerFormat format{spec.output, spec.num_classes > 0 ? spec.num_classes : target.num_classes()};
  if (format.output != "probabilities" && format.output != "logits" && format.output != "labels")
    throw Error(fmt::format("teacher.output: '{}' is not one of probabilities, logits, labels", format.output));

  std::unique_ptr<Teacher> teacher;
  if (spec.type == "folder") {
    teacher = std::make_unique<PredictionFolderTeacher>(spec.path, format);
  } else if (spec.type == "torchscript") {
    teacher = std::make_unique<TorchScriptTeacher>(spec.path, format, data.mean, data.std,
                                                   cv::Size(spec.input_size[0], spec.input_size[1]), device);
  } else if (spec.type == "http") {
    teacher = std::make_unique<HttpTeacher>(spec, format);
  } else {
    throw Error(fmt::format("teacher.type: '{}' is not one of folder, torchscript, http", spec.type));
  }
  if (spec.augmented()) {
    if (spec.type == "folder")
      throw Error(
          "teacher.augment: a prediction folder holds one answer per image; augmented questions need a "
          "model to ask (teacher.type torchscript or http)");
    teacher = std::make_unique<AugmentedTeacher>(std::move(teacher), spec.augment_scales, spec.augment_hflip);
  }

  if (spec.mapping.empty()) {
    if (format.num_classes != target.num_classes())
      throw Error(
          fmt::format("the black box answers {} classes but target space '{}' has {}; set teacher.mapping "
                      "(cityscapes_to_camvid or a YAML file)",
                      format.num_classes, target.name, target.num_classes()));
    return teacher;
  }
  ClassMapping mapping = named_class_mapping(spec.mapping, format.num_classes, target, "teacher.mapping");
  return std::make_unique<MappedTeacher>(std::move(teacher), std::move(mapping), spec.mapping);
}

}  // namespace segtransfer
