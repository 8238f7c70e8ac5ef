#include "methods/clda.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/dataset.h"
#include "methods/common/optimization.h"
#include "eval/plot.h"
#include "methods/common/losses.h"
#include "models/weight_import.h"
#include "teachers/white_box.h"

namespace segtransfer {

namespace F = torch::nn::functional;

CldaOptions CldaOptions::from_config(const RunConfig& config) {
  const YAML::Node& t = config.tree;
  CldaOptions o;
  o.teacher_model = config_value<std::string>(t, "clda.teacher_model");
  o.teacher_init = config_value<std::string>(t, "clda.teacher_init");
  o.saliency_momentum = config_value<double>(t, "clda.saliency_momentum");
  o.nonsalient_quantile = config_value<double>(t, "clda.nonsalient_quantile");
  o.saliency_epsilon = config_value<double>(t, "clda.saliency_epsilon");
  o.update_every = config_value<int>(t, "clda.update_every");
  o.temperature = config_value<double>(t, "clda.temperature");
  o.distill_weight = config_value<double>(t, "clda.distill_weight");
  if (o.update_every < 1) throw Error("config key 'clda.update_every' must be >= 1");
  if (o.nonsalient_quantile < 0 || o.nonsalient_quantile > 1)
    throw Error("config key 'clda.nonsalient_quantile' must be in [0, 1]");
  if (o.temperature <= 0) throw Error("config key 'clda.temperature' must be > 0");
  return o;
}

namespace {
SegmentationModel make_teacher(const CldaOptions& o, int64_t num_classes, torch::Device device) {
  SegmentationModel teacher = make_model(o.teacher_model, num_classes);
  if (!o.teacher_init.empty()) load_weights_for_key("clda.teacher_init", o.teacher_init, *teacher);
  teacher->to(device);
  teacher->train();
  return teacher;
}

std::vector<std::pair<std::string, torch::Tensor>> named(torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module.named_parameters()) out.emplace_back(item.key(), item.value());
  return out;
}

// T² · KL(target ‖ student at T) over every pixel of (B, C, H, W) logits.
torch::Tensor kl_to(const torch::Tensor& logits, const torch::Tensor& target_logits, double temperature) {
  const auto target = F::softmax(target_logits.detach() / temperature, F::SoftmaxFuncOptions(1));
  const auto all = torch::ones({logits.size(0), logits.size(2), logits.size(3)}, logits.options().dtype(torch::kBool));
  return soft_distillation_loss(logits, target, all, temperature);
}
}  // namespace

Clda::Clda(MethodContext context)
    : Dacs(std::move(context)),
      options_(CldaOptions::from_config(config())),
      teacher_(make_teacher(options_, config().model.num_classes, ctx_.device)),
      teacher_optimizer_(make_optimizer(config().optim, *teacher_)),
      teacher_uda_(config(), *teacher_, options_.teacher_model, ctx_.device),
      teacher_saliency_(named(*teacher_), options_.saliency_momentum),
      student_saliency_(named(student()), options_.saliency_momentum),
      teacher_sync_(gradient_sync_for(*teacher_)) {
  spdlog::info("clda: teacher {} ({:.2f} M parameters), student {} ({:.2f} M)", options_.teacher_model,
               count_parameters(*teacher_) / 1e6, config().model.name, count_parameters(student()) / 1e6);
}

void Clda::teach_non_salient(const torch::Tensor& images, int64_t iteration, StepStats& stats) {
  torch::Tensor student_logits;
  {
    torch::NoGradGuard no_grad;
    student_logits = student().forward(images);
  }
  teacher_optimizer_->zero_grad();
  const auto loss = checked_loss(kl_to(teacher_->forward(images), student_logits, options_.temperature), iteration,
                                 "KL(student || teacher)");
  backward(loss, teacher_sync_.get(), /*last=*/true);
  const auto masks = teacher_saliency_.non_salient_masks(options_.nonsalient_quantile);
  masked_sgd_step(teacher_->parameters(), masks, teacher_optimizer_->param_groups()[0].options().get_lr());
  stats["teacher_from_student_kl"] = loss.item<double>();
}

StepStats Clda::train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) {
  StepStats stats;
  const auto [source, target_images, truth] = next_batches();
  // The teacher follows the student's schedule, group by group.
  for (size_t g = 0; g < teacher_optimizer_->param_groups().size(); ++g)
    teacher_optimizer_->param_groups()[g].options().set_lr(optimizer.param_groups()[g].options().get_lr());

  // 1. The teacher's own DACS step; its gradients feed its saliency.
  teacher_optimizer_->zero_grad();
  const UdaStep::SourcePass tsrc = teacher_uda_.source(source, step.iteration, stats, "teacher_");
  backward(tsrc.loss, teacher_sync_.get(), /*last=*/false);
  const UdaStep::TargetPass ttgt = teacher_uda_.target(tsrc, target_images, truth, step.iteration, stats, "teacher_");
  backward(ttgt.loss, teacher_sync_.get(), /*last=*/true);
  teacher_saliency_.accumulate();
  teacher_optimizer_->step();
  teacher_uda_.update_teacher(step.iteration);

  // 2. Every k iterations the student teaches the teacher's non-salient parameters.
  if ((step.iteration + 1) % options_.update_every == 0) teach_non_salient(target_images, step.iteration, stats);

  // 3. The student's DACS step plus distillation from the (updated) teacher on the mixed target.
  optimizer.zero_grad();
  const UdaStep::SourcePass src = uda_.source(source, step.iteration, stats);
  backward(src.loss, /*last=*/false);
  const UdaStep::TargetPass tgt = uda_.target(src, target_images, truth, step.iteration, stats);
  torch::Tensor teacher_logits;
  {
    torch::NoGradGuard no_grad;
    teacher_->eval();  // a reading, not a training pass: leave its BatchNorm statistics alone
    teacher_logits = teacher_->forward(tgt.mixed.images);
    teacher_->train();
  }
  const auto distill = checked_loss(kl_to(tgt.out.logits, teacher_logits, options_.temperature), step.iteration,
                                    "KL(teacher || student)");
  backward(tgt.loss + options_.distill_weight * distill);
  student_saliency_.accumulate();
  optimizer.step();
  uda_.update_teacher(step.iteration);

  stats["student_from_teacher_kl"] = distill.item<double>();
  stats["loss"] =
      stats["source_loss"] + stats["mixed_loss"] + options_.distill_weight * stats["student_from_teacher_kl"];
  double teacher_rate = 0, student_rate = 0;
  const auto tr = teacher_saliency_.saliency_rates(options_.saliency_epsilon);
  const auto sr = student_saliency_.saliency_rates(options_.saliency_epsilon);
  for (const auto& [name, r] : tr) teacher_rate += r / static_cast<double>(tr.size());
  for (const auto& [name, r] : sr) student_rate += r / static_cast<double>(sr.size());
  stats["teacher_saliency_rate"] = teacher_rate;
  stats["student_saliency_rate"] = student_rate;
  return stats;
}

void Clda::write_saliency_rates() const {
  const std::filesystem::path dir(config().output);
  nlohmann::json j;
  PlotSeries teacher{"teacher " + options_.teacher_model, {}, {}, {}},
      student{"student " + config().model.name, {}, {}, {}};
  for (const auto& [name, r] : teacher_saliency_.saliency_rates(options_.saliency_epsilon)) {
    j["teacher"][name] = r;
    teacher.x.push_back(static_cast<double>(teacher.x.size()));
    teacher.y.push_back(100 * r);
  }
  for (const auto& [name, r] : student_saliency_.saliency_rates(options_.saliency_epsilon)) {
    j["student"][name] = r;
    student.x.push_back(static_cast<double>(student.x.size()));
    student.y.push_back(100 * r);
  }
  // Layers as a share of the network's depth, so that the two networks share an axis.
  for (auto* s : {&teacher, &student})
    for (double& x : s->x) x = 100 * x / std::max<double>(1, static_cast<double>(s->x.size() - 1));
  write_text_atomically(dir / "clda_saliency_rates.json", j.dump(1) + "\n");
  PlotOptions plot;
  plot.title = "CLDA: share of parameters with saliency < " + fmt::format("{:g}", options_.saliency_epsilon);
  plot.x_label = "layer (% of the network's depth)";
  plot.y_label = "saliency rate (%)";
  write_png_atomically((dir / "clda_saliency_rates.png").string(), draw_line_plot({teacher, student}, plot));
}

void Clda::save_state(torch::serialize::OutputArchive& archive) const {
  Dacs::save_state(archive);
  torch::serialize::OutputArchive teacher, teacher_optimizer;
  teacher_->save(teacher);
  archive.write("clda_teacher", teacher);
  teacher_optimizer_->save(teacher_optimizer);
  archive.write("clda_teacher_optimizer", teacher_optimizer);
  teacher_uda_.save(archive, "clda_teacher_ema");
  teacher_saliency_.save(archive, "clda_teacher_saliency");
  student_saliency_.save(archive, "clda_student_saliency");
  // The teacher's weights, for `segtransfer eval --weights` (its mIoU is half of CLDA's result).
  save_state_dict(*teacher_, (std::filesystem::path(config().output) / "clda_teacher.pt").string());
  write_saliency_rates();
}

void Clda::load_state(torch::serialize::InputArchive& archive) {
  Dacs::load_state(archive);
  torch::serialize::InputArchive teacher, teacher_optimizer;
  archive.read("clda_teacher", teacher);
  teacher_->load(teacher);
  teacher_->to(ctx_.device);
  archive.read("clda_teacher_optimizer", teacher_optimizer);
  teacher_optimizer_->load(teacher_optimizer);
  teacher_uda_.load(archive, "clda_teacher_ema");
  teacher_saliency_.load(archive, "clda_teacher_saliency");
  student_saliency_.load(archive, "clda_student_saliency");
}

}  // namespace segtransfer
