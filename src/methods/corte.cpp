#include "methods/corte.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "methods/common/losses.h"
#include "methods/common/mixing.h"
#include "methods/common/pseudo_label_audit.h"
#include "models/batch_norm.h"
#include "teachers/answer_statistics.h"
#include "teachers/prediction_store.h"

namespace segtransfer {
namespace fs = std::filesystem;

namespace {

// The loader's aux for one image: its stored answer, padded to the store's k
// (a label-only entry has k = 1) so every sample has the same channels.
cv::Mat stored_answer_channels(const PredictionStore& store, const SampleFiles& files, cv::Size image_size) {
  StoredPrediction p = store.read(files.stem);
  if (p.classes.size() != image_size)
    throw Error(fmt::format("stored answer {} is {}x{} but image '{}' is {}x{}", store.entry_path(files.stem),
                            p.classes.cols, p.classes.rows, files.image, image_size.width, image_size.height));
  const int k = store.info().top_k;
  std::vector<cv::Mat> classes, probs;
  cv::split(p.classes, classes);
  cv::split(p.probabilities, probs);
  while (static_cast<int>(classes.size()) < k) {
    classes.emplace_back(image_size, CV_8UC1, cv::Scalar(kIgnoreIndex));
    probs.emplace_back(image_size, CV_8UC1, cv::Scalar(0));
  }
  classes.insert(classes.end(), probs.begin(), probs.begin() + k);
  cv::Mat out;
  cv::merge(std::vector<cv::Mat>(classes.begin(), classes.begin() + 2 * k), out);
  return out;
}

// (H, W) int64 labels → colour BGR uint8 image.
cv::Mat colour_labels(const torch::Tensor& labels, const LabelSpace& space) {
  auto l = labels.to(torch::kCPU).clamp(0, 255).to(torch::kUInt8).contiguous();
  cv::Mat m(static_cast<int>(l.size(0)), static_cast<int>(l.size(1)), CV_8UC1, l.data_ptr<uint8_t>());
  return colourise(m.clone(), space);
}

cv::Mat image_to_bgr(const torch::Tensor& image, const std::array<double, 3>& mean, const std::array<double, 3>& std) {
  auto m = torch::tensor(std::vector<double>(mean.begin(), mean.end())).view({3, 1, 1});
  auto s = torch::tensor(std::vector<double>(std.begin(), std.end())).view({3, 1, 1});
  auto rgb = (image.to(torch::kCPU, torch::kDouble) * s + m).clamp(0, 255).to(torch::kUInt8).permute({1, 2, 0});
  rgb = rgb.contiguous();
  cv::Mat out(static_cast<int>(rgb.size(0)), static_cast<int>(rgb.size(1)), CV_8UC3, rgb.data_ptr<uint8_t>());
  cv::Mat bgr;
  cv::cvtColor(out, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

}  // namespace

CorteOptions CorteOptions::for_method(const RunConfig& config) {
  const YAML::Node& t = config.tree;
  CorteOptions o;
  o.pseudo_labels = config_choice(t, "corte.pseudo_labels", kPseudoLabelKinds);
  o.thresholds = config_choice(t, "corte.thresholds", kThresholdScopes);
  o.statistic = config_choice(t, "corte.statistic", kThresholdStatistics);
  o.percentile = config_value<double>(t, "corte.percentile");
  o.fixed_threshold = config_value<double>(t, "corte.fixed_threshold");
  o.soft_until = config_value<double>(t, "corte.soft_until");
  o.temperature = config_value<double>(t, "corte.temperature");
  o.refine = config_value<bool>(t, "corte.refine");
  o.refine_start = config_value<double>(t, "corte.refine_start");
  o.refine_min_agreement = config_value<double>(t, "corte.refine_min_agreement");
  o.refine_max_replaced = config_value<double>(t, "corte.refine_max_replaced");
  o.ema_momentum = config_value<double>(t, "corte.ema_momentum");
  o.ema_statistics = config_choice(t, "corte.ema_statistics", kEmaStatistics);
  o.mix = config_value<bool>(t, "corte.mix");
  o.plain_view = config_value<bool>(t, "corte.plain_view");
  o.kept_share_weight = config_value<bool>(t, "corte.kept_share_weight");
  o.class_balance = config_value<double>(t, "corte.class_balance");
  o.strong_augment = config_value<bool>(t, "corte.strong_augment");
  o.strong = StrongAugmentOptions::from_config(config, "corte");
  o.diagnostics_every = config_value<int>(t, "corte.diagnostics_every");
  o.evaluate_ema = config_value<bool>(t, "corte.evaluate_ema");

  // The baselines fix the parts that define them; the rest of `corte:` applies.
  if (config.method == "plain_distill") {  // argmax labels on every pixel, weak view only
    o.pseudo_labels = PseudoLabelKind::kArgmax, o.soft_until = 0, o.refine = false, o.mix = false,
    o.strong_augment = false;
  } else if (config.method == "soft_distill") {  // KL to the black box's probabilities, weak view only
    o.soft_until = 1, o.refine = false, o.mix = false, o.strong_augment = false;
  } else if (config.method == "threshold_distill") {  // one absolute threshold (DAFormer's 0.968), no refinement
    o.pseudo_labels = PseudoLabelKind::kAbsolute, o.thresholds = ThresholdScope::kFixed, o.soft_until = 0,
    o.refine = false;
  }
  if (o.temperature <= 0) throw Error("corte.temperature must be > 0");
  if (o.class_balance < 0 || o.class_balance > 1) throw Error("corte.class_balance must be in [0, 1] (0 = off)");
  return o;
}

Corte::Corte(MethodContext context) : TrainingMethod(std::move(context)), opt_(CorteOptions::for_method(config())) {
  const auto& cfg = config();
  num_classes_ = student().num_classes();
  if (cfg.store.path.empty())
    throw Error("method '" + cfg.method +
                "' learns from a black box's stored answers: set store.path to the folder `segtransfer query` filled");
  if (cfg.data.target.empty()) throw Error("method '" + cfg.method + "' needs data.target (the unlabelled images)");
  const PredictionStore store = PredictionStore::open(cfg.store.path);
  if (store.info().num_classes != num_classes_)
    throw Error(fmt::format("prediction store '{}' holds {} classes but model.num_classes is {}", cfg.store.path,
                            store.info().num_classes, num_classes_));
  confidence_kind_ = confidence_of(opt_.pseudo_labels);

  target_dataset_ = open_dataset(cfg.data.target);
  compute_thresholds(store, *target_dataset_);
  target_dataset_->set_aux_reader(
      [store](const SampleFiles& files, cv::Size size) { return stored_answer_channels(store, files, size); },
      2 * store.info().top_k);
  if (target_rare_class_sampling(cfg))  // the images drawn by the classes the black box sees in them
    target_ = &open_rare_class_loader(target_dataset_, answer_class_statistics(store, *target_dataset_),
                                      "data.target by its stored answers", 1);
  else
    target_ = &open_loader(target_dataset_, 1);

  // The EMA serves refinement, and is the evaluated model with corte.evaluate_ema.
  if (opt_.refine || opt_.evaluate_ema)
    ema_ = std::make_unique<EmaModel>(cfg.model.name, student(), ctx_.device, EmaStart::kRampUp, opt_.ema_statistics);
  ema_thresholds_ = torch::zeros({num_classes_}, torch::TensorOptions().device(ctx_.device));
}

void Corte::compute_thresholds(const PredictionStore& store, const SegDataset& target) {
  const ThresholdRule rule = opt_.threshold_rule();
  const ThresholdAudit audit = audit_thresholds(store, target, rule, config().method);
  thresholds_ = torch::tensor(audit.thresholds, torch::kFloat32).to(ctx_.device);
  class_weights_ = torch::ones({num_classes_}, torch::TensorOptions().device(ctx_.device));
  if (opt_.class_balance > 0) {
    std::vector<double> pixels;
    for (const auto& c : audit.json["classes"]) pixels.push_back(c["pixels"].get<double>());
    class_weights_ = class_balance_weights(pixels, opt_.class_balance).to(ctx_.device);
    spdlog::info("corte.class_balance {}: class weights {:.2f}", opt_.class_balance,
                 fmt::join(std::vector<float>(class_weights_.cpu().data_ptr<float>(),
                                              class_weights_.cpu().data_ptr<float>() + num_classes_),
                           " "));
  }
  if (writes_outputs()) {
    write_text_atomically(fs::path(config().output) / "pseudo_label_audit.json", audit.json.dump(2) + "\n");
    write_text_atomically(fs::path(config().output) / "pseudo_label_audit.md", audit.markdown());
  }
  spdlog::info("{}", audit.summary());
}

Corte::Refinement Corte::refine(const torch::Tensor& images, const torch::Tensor& labels, const TopKBatch& answers,
                                double progress, StepStats& stats) {
  Refinement r{labels};
  if (progress < opt_.refine_start) return r;
  torch::NoGradGuard no_grad;
  auto probs = torch::softmax(ema_->model().forward(images), 1);
  auto [top, idx] = probs.topk(2, 1);
  auto ema_label = idx.select(1, 0);
  auto ema_conf = top.select(1, 0) - top.select(1, 1);  // relative confidence of the EMA
  auto bb_conf = answers.confidence(Confidence::kRelative);

  // τ^ema_c: running class-wise mean of the EMA's confidence.
  auto flat_label = ema_label.flatten();
  auto sums = torch::zeros({num_classes_}, ema_conf.options()).scatter_add_(0, flat_label, ema_conf.flatten());
  auto counts = torch::bincount(flat_label, {}, num_classes_).to(ema_conf.dtype());
  auto present = counts > 0;
  auto means = sums / counts.clamp_min(1);
  auto updated = torch::where(ema_thresholds_ == 0, means, 0.99 * ema_thresholds_ + 0.01 * means);
  ema_thresholds_ = torch::where(present, updated, ema_thresholds_);

  // The guard: the EMA must agree with the kept black-box labels often enough.
  auto kept = labels != kIgnoreIndex;
  const double kept_pixels = kept.sum().item<double>();
  if (kept_pixels > 0) {
    const double agreement = ((ema_label == labels) & kept).sum().item<double>() / kept_pixels;
    agreement_ = agreement_ == 0 ? agreement : 0.9 * agreement_ + 0.1 * agreement;
  }
  stats["ema_agreement"] = agreement_;
  const bool active = agreement_ >= opt_.refine_min_agreement;
  stats["refining"] = active ? 1 : 0;
  if (!active) return r;

  auto confident = (ema_conf > bb_conf) & (ema_conf >= ema_thresholds_.index({ema_label}));
  auto fill = confident & ~kept;
  auto replace = confident & kept & (ema_label != labels);
  // Cap the replaced share per class, keeping the replacements with the largest margin.
  auto margin = ema_conf - bb_conf;
  for (int64_t c = 0; c < num_classes_; ++c) {
    auto of_class = replace & (labels == c);
    const int64_t n = of_class.sum().item<int64_t>();
    const auto cap = static_cast<int64_t>(opt_.refine_max_replaced * (kept & (labels == c)).sum().item<double>());
    if (n <= cap) continue;
    if (cap == 0) {
      replace &= ~of_class;
      continue;
    }
    const double cut = std::get<0>(margin.masked_select(of_class).topk(cap)).min().item<double>();
    replace &= ~(of_class & (margin < cut));
  }
  r.labels = torch::where(replace | fill, ema_label, labels);
  const double pixels = static_cast<double>(labels.numel());
  r.replaced = replace.sum().item<double>() / pixels;
  r.filled = fill.sum().item<double>() / pixels;
  return r;
}

StepStats Corte::train_step(const TrainStep& step, torch::optim::Optimizer& optimizer) {
  StepStats stats;
  Batch batch = target_->next();
  const auto images = batch.image.to(ctx_.device, /*non_blocking=*/true);
  const TopKBatch answers = decode_top_k(batch.aux.to(ctx_.device, /*non_blocking=*/true));

  // (i) black-box pseudo-labels from the weak view.
  const torch::Tensor black_box_labels =
      opt_.pseudo_labels == PseudoLabelKind::kArgmax
          ? answers.top1()
          : filter_by_threshold(answers.top1(), answers.confidence(confidence_kind_), thresholds_);
  // (ii) refinement with the student's EMA.
  torch::Tensor labels = black_box_labels;
  if (opt_.refine) {
    const Refinement r = refine(images, black_box_labels, answers, step.progress, stats);
    labels = r.labels;
    stats["replaced"] = r.replaced;
    stats["filled"] = r.filled;
  }
  // (iii) consistent training: the student learns from strong views of ClassMixed pairs.
  const bool soft = step.progress < opt_.soft_until;
  std::mt19937_64 rng = step_rng(config(), step.iteration);
  const torch::Tensor loss = student_loss(training_views(images, labels, answers, soft, rng), rng);
  checked_loss(loss, step.iteration, config().method);
  optimizer.zero_grad();
  backward(loss);
  optimizer.step();
  if (ema_) ema_->update(student(), step.iteration, opt_.ema_momentum);

  stats["loss"] = loss.item<double>();
  if (opt_.soft_until > 0) stats["soft"] = soft ? 1 : 0;
  // What the loss was taught from: in the soft phase every answered pixel (judged by its top-1).
  record_kept(soft ? answers.top1() : labels, batch, stats);
  if (writes_outputs() && opt_.diagnostics_every > 0 && (step.iteration + 1) % opt_.diagnostics_every == 0)
    write_diagnostics(step.iteration + 1, batch, black_box_labels, labels);
  return stats;
}

SegmentationModelImpl& Corte::model_to_evaluate() { return opt_.evaluate_ema ? ema_->model() : student(); }

// The views the student trains on: the weak view itself (without mixing, or with
// corte.plain_view), and a ClassMix of each image with the next one. Each carries
// hard labels, or in the soft phase the black box's distribution.
std::vector<Corte::View> Corte::training_views(const torch::Tensor& images, const torch::Tensor& labels,
                                               const TopKBatch& answers, bool soft, std::mt19937_64& rng) const {
  const auto top1 = answers.top1();
  torch::Tensor soft_target, valid;
  if (soft) {
    soft_target = top_k_distribution(answers, num_classes_);
    if (opt_.temperature != 1) {
      soft_target = soft_target.pow(1 / opt_.temperature);
      soft_target = soft_target / soft_target.sum(1, true).clamp_min(1e-12);
    }
    valid = top1 != kIgnoreIndex;
  }
  std::vector<View> views;
  if (!opt_.mix || opt_.plain_view) views.push_back({images, labels, soft_target, valid});
  if (opt_.mix) {
    std::vector<torch::Tensor> per_image;
    for (int64_t i = 0; i < labels.size(0); ++i) per_image.push_back(class_mix_mask(soft ? top1[i] : labels[i], rng));
    const auto masks = torch::stack(per_image);
    views.push_back({mix_with_next(masks, images), mix_with_next(masks, labels),
                     soft ? mix_with_next(masks, soft_target) : torch::Tensor(),
                     soft ? mix_with_next(masks, valid) : torch::Tensor()});
  }
  return views;
}

// One forward for every view (strongly augmented unless corte.strong_augment is off),
// the views' losses summed.
torch::Tensor Corte::student_loss(const std::vector<View>& views, std::mt19937_64& rng) {
  std::vector<torch::Tensor> inputs;
  for (const auto& v : views)
    inputs.push_back(opt_.strong_augment ? strong_augment(v.images, opt_.strong, rng) : v.images);
  const auto logits = student().forward(inputs.size() == 1 ? inputs.front() : torch::cat(inputs));
  const int64_t b = views.front().images.size(0);
  torch::Tensor loss = torch::zeros({}, logits.options());
  for (size_t i = 0; i < views.size(); ++i) {
    const View& v = views[i];
    loss = loss + view_loss(logits.narrow(0, static_cast<int64_t>(i) * b, b), v.labels, v.soft_target, v.valid);
  }
  return loss;
}

// The share of pixels the loss was taught from and, where the target has ground
// truth (diagnostics only: it never enters the loss), how often those labels are right.
void Corte::record_kept(const torch::Tensor& taught, const Batch& batch, StepStats& stats) const {
  stats["kept"] = (taught != kIgnoreIndex).to(torch::kFloat32).mean().item<double>();
  if (!batch.label.defined()) return;
  const auto truth = batch.label.to(ctx_.device);
  const auto judged = (taught != kIgnoreIndex) & (truth != kIgnoreIndex);
  stats["kept_accuracy"] =
      ((taught == truth) & judged).sum().item<double>() / std::max(1.0, judged.sum().item<double>());
}

torch::Tensor Corte::view_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                               const torch::Tensor& soft_target, const torch::Tensor& valid) const {
  // corte.class_balance: each pixel weighted by its class's weight (1 everywhere when off).
  auto class_weight = [&](const torch::Tensor& l) { return class_weights_.index({l.clamp(0, num_classes_ - 1)}); };
  if (soft_target.defined()) {  // the soft phase: KL to the black box's distribution, judged by its top-1
    const auto weight = opt_.class_balance > 0 ? valid.to(torch::kFloat32) * class_weight(soft_target.argmax(1))
                                               : valid.to(torch::kFloat32);
    return soft_distillation_loss(logits, soft_target, weight, opt_.temperature);
  }
  const auto balance = opt_.class_balance > 0 ? class_weight(labels) : torch::ones_like(labels, torch::kFloat32);
  if (opt_.kept_share_weight) return weighted_cross_entropy(logits, labels, kept_share_weight(labels) * balance);
  const auto kept = (labels != kIgnoreIndex).to(torch::kFloat32);
  return weighted_cross_entropy(logits, labels, balance) * kept.numel() / kept.sum().clamp_min(1);
}

void Corte::write_diagnostics(int64_t iteration, const Batch& batch, const torch::Tensor& black_box_labels,
                              const torch::Tensor& labels) {
  const fs::path dir = fs::path(config().output) / "diagnostics";
  fs::create_directories(dir);
  const LabelSpace& space = target_dataset_->label_space();
  // Per class in this batch: share of the class's black-box pixels kept, and the
  // accuracy of the final pseudo-labels where ground truth exists.
  auto top1 = decode_top_k(batch.aux.to(ctx_.device)).top1();
  nlohmann::json classes = nlohmann::json::array();
  torch::Tensor truth = batch.label.defined() ? batch.label.to(ctx_.device) : torch::Tensor();
  for (int64_t c = 0; c < num_classes_; ++c) {
    const double answered = (top1 == c).sum().item<double>();
    const double final_c = (labels == c).sum().item<double>();
    nlohmann::json entry = {{"class", c < space.num_classes() ? space.classes[c] : std::to_string(c)},
                            {"threshold", thresholds_[c].item<double>()},
                            {"black_box_pixels", answered},
                            {"kept_share", answered ? (black_box_labels == c).sum().item<double>() / answered : 0.0},
                            {"final_pixels", final_c}};
    if (ema_) entry["ema_threshold"] = ema_thresholds_[c].item<double>();
    if (truth.defined() && final_c > 0) {
      auto judged = (labels == c) & (truth != kIgnoreIndex);
      const double n = judged.sum().item<double>();
      if (n > 0) entry["accuracy"] = ((truth == c) & judged).sum().item<double>() / n;
    }
    classes.push_back(entry);
  }
  append_line(dir / "pseudo_labels.jsonl",
              nlohmann::json{{"iter", iteration}, {"ema_agreement", agreement_}, {"classes", classes}}.dump());

  // Grid: image | black-box label | refined pseudo-label | student | ground truth.
  // The student's prediction on the weak view, in eval mode so BatchNorm's statistics stay untouched.
  torch::Tensor prediction;
  {
    torch::NoGradGuard no_grad;
    EvalModeScope eval_mode(student());
    prediction = student().forward(batch.image.narrow(0, 0, 1).to(ctx_.device))[0].argmax(0);
  }
  std::vector<cv::Mat> tiles{image_to_bgr(batch.image[0], config().data.mean, config().data.std),
                             colour_labels(black_box_labels[0], space), colour_labels(labels[0], space),
                             colour_labels(prediction, space)};
  if (truth.defined()) tiles.push_back(colour_labels(truth[0], space));
  cv::Mat grid;
  cv::hconcat(tiles, grid);
  write_png_atomically((dir / fmt::format("iter_{:07d}.png", iteration)).string(), grid);
}

void Corte::save_state(torch::serialize::OutputArchive& archive) const {
  if (ema_) ema_->save(archive, "corte_ema");
  archive.write("corte_ema_thresholds", ema_thresholds_);
  archive.write("corte_agreement", torch::tensor(agreement_, torch::kDouble));
}

void Corte::load_state(torch::serialize::InputArchive& archive) {
  if (ema_) ema_->load(archive, "corte_ema", ctx_.device);
  archive.read("corte_ema_thresholds", ema_thresholds_);
  ema_thresholds_ = ema_thresholds_.to(ctx_.device);
  torch::Tensor agreement;
  archive.read("corte_agreement", agreement);
  agreement_ = agreement.item<double>();
}

}  // namespace segtransfer
