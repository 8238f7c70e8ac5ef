#include "eval/teacher_evaluation.h"

#include <fmt/format.h>
#include <torch/torch.h>

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

}  // namespace segtransfer
