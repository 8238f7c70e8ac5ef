#include "eval/teacher_evaluation.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "data/loader.h"  // label_to_tensor

namespace segtransfer {

EvalResult evaluate_teacher(Teacher& teacher, const SegDataset& dataset, const EvalSpec& spec,
                            const ProgressFn& progress) {
  const LabelSpace& space = dataset.label_space();
  if (!dataset.has_labels())
    throw Error(fmt::format("cannot evaluate the teacher on {}: it has no labels", dataset.description()));
  if (teacher.num_classes() != space.num_classes())
    throw Error(fmt::format("the teacher answers in {} classes but {} has {} (set teacher.mapping)",
                            teacher.num_classes(), dataset.description(), space.num_classes()));
  protocol_classes(space, spec.protocol);  // a wrong protocol fails before the first request

  return score_predictions(
      dataset, spec,
      [&](const Sample& sample, size_t i) -> torch::Tensor {
        const TeacherAnswer answer = teacher.ask(sample.image, dataset.files()[i].stem);
        return answer.has_probabilities() ? answer.probabilities.argmax(0) : label_to_tensor(answer.labels);
      },
      progress);
}

EvalResult evaluate_store(const PredictionStore& store, const SegDataset& dataset, const EvalSpec& spec,
                          const ProgressFn& progress) {
  const LabelSpace& space = dataset.label_space();
  if (!dataset.has_labels())
    throw Error(fmt::format("cannot score the stored answers on {}: it has no labels", dataset.description()));
  if (store.info().num_classes != space.num_classes())
    throw Error(fmt::format("the store holds answers in {} classes but {} has {}", store.info().num_classes,
                            dataset.description(), space.num_classes()));
  protocol_classes(space, spec.protocol);
  return score_predictions(
      dataset, spec,
      [&](const Sample& sample, size_t i) -> torch::Tensor {
        const std::string& stem = dataset.files()[i].stem;
        if (!store.has_valid_entry(stem))
          throw Error(
              fmt::format("no stored answer for image {} in the store (run segtransfer query on this split)", stem));
        cv::Mat top1;
        cv::extractChannel(store.read(stem).classes, top1, 0);
        if (top1.size() != sample.label.size()) cv::resize(top1, top1, sample.label.size(), 0, 0, cv::INTER_NEAREST);
        return label_to_tensor(top1);
      },
      progress);
}

}  // namespace segtransfer
