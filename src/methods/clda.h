// CLDA (Cho et al. 2024): a larger teacher and the student are both trained by
// the DACS step; the teacher's parameters' Taylor saliency is tracked, and every
// k iterations its non-salient parameters take a step towards the student
// (KL(student ‖ teacher) on the target images, gradient masked); the student is
// distilled from the updated teacher (KL at temperature T on the mixed target).
// The run evaluates the student; the teacher's weights go to clda_teacher.pt.
#pragma once
#include <memory>

#include "methods/common/saliency.h"
#include "methods/dacs.h"

namespace segtransfer {

struct CldaOptions {
  std::string teacher_model = "lraspp_mobilenet_v3_large", teacher_init;
  double saliency_momentum = 0.99, nonsalient_quantile = 0.3, saliency_epsilon = 1e-8;
  int update_every = 10;
  double temperature = 2, distill_weight = 1;
  static CldaOptions from_config(const RunConfig& config);  // the `clda:` section
};

class Clda : public Dacs {
 public:
  explicit Clda(MethodContext context);
  StepStats train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) override;
  void save_state(torch::serialize::OutputArchive& archive) const override;
  void load_state(torch::serialize::InputArchive& archive) override;

 private:
  // KL(student ‖ teacher) on the target images, gradient only to the teacher's non-salient parameters.
  void teach_non_salient(const torch::Tensor& images, int64_t iteration, StepStats& stats);
  // clda_saliency_rates.{json,png}: per layer, the share of near-zero saliency, teacher and student.
  void write_saliency_rates() const;

  CldaOptions options_;
  SegmentationModel teacher_;
  std::unique_ptr<torch::optim::Optimizer> teacher_optimizer_;
  UdaStep teacher_uda_;
  ParameterSaliency teacher_saliency_, student_saliency_;
  std::unique_ptr<GradientSync> teacher_sync_;  // data-parallel runs only
};

}  // namespace segtransfer
