// Dual-teacher distillation (Jeong et al., TIP 2024): the DACS student and its
// EMA teacher, plus a frozen source teacher — larger, any architecture — whose
// encoder features the student matches through a 1x1 adapter, on the source and
// the mixed target images; optionally a KL term on the frozen teacher's logits.
#pragma once
#include "methods/common/feature_distillation.h"
#include "methods/dacs.h"

namespace segtransfer {

struct DualTeacherOptions {
  std::string teacher_model = "deeplabv3_resnet50", teacher_weights;
  double feature_weight = 0.005, kl_weight = 0, temperature = 1;
  bool on_source = true, on_target = true;
  static DualTeacherOptions from_config(const RunConfig& config);  // the `dual_teacher:` section
};

class DualTeacher : public Dacs {
 public:
  explicit DualTeacher(MethodContext context);
  StepStats train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) override;
  std::vector<torch::Tensor> trainable_parameters() override { return adapter_->parameters(); }
  void save_state(torch::serialize::OutputArchive& archive) const override;
  void load_state(torch::serialize::InputArchive& archive) override;

 private:
  // λ·feature distance (+ KL) of the student's pass `out` on `images` to the frozen teacher's.
  torch::Tensor distillation(const torch::Tensor& images, const SegOutput& out, int64_t iteration,
                             const std::string& domain, StepStats& stats);

  DualTeacherOptions options_;
  SegmentationModel frozen_;
  FeatureAdapter adapter_;
};

}  // namespace segtransfer
