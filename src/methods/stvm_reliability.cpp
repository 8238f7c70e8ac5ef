#include "methods/stvm_reliability.h"

#include <spdlog/spdlog.h>

#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "data/class_mapping.h"
#include "data/loader.h"
#include "methods/common/self_training.h"

namespace segtransfer {

namespace {

// The model's classes and their map onto `space` (eval.mapping, or the same classes).
ReliabilityAudit empty_audit(int num_classes, const LabelSpace& space, const RunConfig& config) {
  const double threshold = SelfTrainingOptions::from_config(config).pseudo_threshold;
  const std::vector<std::string> names =
      config.eval.mapping.empty() ? space.classes : numbered_or_cityscapes_space(num_classes).classes;
  return ReliabilityAudit(names, eval_class_mapping(config.eval.mapping, num_classes, space), threshold);
}

// The label at the network's input size (h, w), the ignored rows set to ignore.
torch::Tensor truth_at(const cv::Mat& label, int64_t h, int64_t w, const SelfTrainingOptions& st) {
  cv::Mat resized = label;
  if (label.rows != h || label.cols != w)
    cv::resize(label, resized, cv::Size(static_cast<int>(w), static_cast<int>(h)), 0, 0, cv::INTER_NEAREST);
  auto truth = label_to_tensor(resized).unsqueeze(0);
  const auto all_ones = torch::ones({1, h, w});
  const auto kept_rows = ignore_rows(all_ones, st.ignore_top, st.ignore_bottom);
  return truth.masked_fill(kept_rows == 0, kIgnoreIndex);
}

void audit_image(StvmTeacher& teacher, const Sample& sample, const RunConfig& config,
                 const SelfTrainingOptions& self_training, torch::Device device, ReliabilityAudit& audit) {
  torch::NoGradGuard no_grad;
  const auto image = image_to_tensor(sample.image, config.data.mean, config.data.std).unsqueeze(0).to(device);
  const auto input = eval_input(image, config.eval);
  const SegOutput out = teacher.model->forward_upsampled(input);  // as train_step's teacher
  const auto labels = out.logits.argmax(1);
  const auto confidence = torch::softmax(out.logits.to(torch::kDouble), 1).amax(1);
  const auto reliability = stvm_reliability(teacher.metric->forward(out.features), labels,
                                            teacher.metric->normalised_proxies(), teacher.options);
  const auto truth = truth_at(sample.label, input.size(2), input.size(3), self_training).to(device);
  audit.add(labels, confidence, reliability, truth);
}

}  // namespace

ReliabilityAudit audit_stvm_reliability(StvmTeacher& teacher, const SegDataset& val, const RunConfig& config,
                                        torch::Device device, const ProgressFn& progress) {
  if (!val.has_labels())
    throw Error("data.val (" + val.description() + ") has no labels: the reliability audit needs them");
  if (config.eval.mode != "whole")
    spdlog::warn("eval.mode {}: the reliability audit runs the whole image (the metric head needs one feature map)",
                 config.eval.mode);
  ReliabilityAudit audit = empty_audit(static_cast<int>(teacher.model->num_classes()), val.label_space(), config);
  const SelfTrainingOptions self_training = SelfTrainingOptions::from_config(config);
  size_t total = val.size();
  if (config.eval.max_images > 0) total = std::min(total, static_cast<size_t>(config.eval.max_images));
  for (size_t i = 0; i < total; ++i) {
    const Sample sample = val.read(i);
    if (sample.label.empty()) throw Error(val.description() + ": image " + val.files()[i].image + " has no label");
    audit_image(teacher, sample, config, self_training, device, audit);
    if (progress) progress(i + 1, total);
  }
  return audit;
}

}  // namespace segtransfer
