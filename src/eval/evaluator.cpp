#include "eval/evaluator.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "data/class_mapping.h"
#include "data/loader.h"
#include <opencv2/imgproc.hpp>

namespace segtransfer {

namespace {

namespace F = torch::nn::functional;

torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t h, int64_t w) {
  return F::interpolate(
      x, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear).align_corners(false));
}

// mmseg's slide_inference: overlapping crops, logits summed and divided by how many
// crops covered each pixel. crop and stride are (w, h), like every size in the config.
torch::Tensor slide_logits(SegmentationModelImpl& model, const torch::Tensor& image, const EvalSpec& spec) {
  const int64_t crop_w = spec.crop[0], crop_h = spec.crop[1];
  const int64_t stride_w = spec.stride[0], stride_h = spec.stride[1];
  if (crop_w < 1 || crop_h < 1 || stride_w < 1 || stride_h < 1)
    throw Error(
        fmt::format("config keys 'eval.crop' and 'eval.stride' must be positive for slide mode, got "
                    "crop [{}, {}] and stride [{}, {}]",
                    crop_w, crop_h, stride_w, stride_h));
  const int64_t n = image.size(0), h = image.size(2), w = image.size(3);
  const int64_t h_grids = std::max<int64_t>(h - crop_h + stride_h - 1, 0) / stride_h + 1;
  const int64_t w_grids = std::max<int64_t>(w - crop_w + stride_w - 1, 0) / stride_w + 1;

  torch::Tensor sum, count = torch::zeros({1, 1, h, w}, image.options());
  for (int64_t gy = 0; gy < h_grids; ++gy) {
    for (int64_t gx = 0; gx < w_grids; ++gx) {
      const int64_t y2 = std::min(gy * stride_h + crop_h, h), x2 = std::min(gx * stride_w + crop_w, w);
      const int64_t y1 = std::max<int64_t>(y2 - crop_h, 0), x1 = std::max<int64_t>(x2 - crop_w, 0);
      auto crop = image.slice(2, y1, y2).slice(3, x1, x2);
      // An image smaller than the crop is zero-padded (the mean colour after
      // normalisation) so the network still sees the crop size it was tuned for.
      const int64_t pad_h = crop_h - (y2 - y1), pad_w = crop_w - (x2 - x1);
      if (pad_h > 0 || pad_w > 0) crop = F::pad(crop, F::PadFuncOptions({0, pad_w, 0, pad_h}));
      auto logits = model.forward(crop).slice(2, 0, y2 - y1).slice(3, 0, x2 - x1);
      if (!sum.defined()) sum = torch::zeros({n, logits.size(1), h, w}, logits.options());
      sum.slice(2, y1, y2).slice(3, x1, x2).add_(logits);
      count.slice(2, y1, y2).slice(3, x1, x2).add_(1);
    }
  }
  return sum / count;
}

// Puts the model in eval mode for its lifetime and restores training mode afterwards.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(torch::nn::Module& model) : model_(model), was_training_(model.is_training()) {
    model_.eval();
  }
  ~EvalModeGuard() {
    if (was_training_) model_.train();
  }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  torch::nn::Module& model_;
  bool was_training_;
};

}  // namespace

ClassMapFn class_map_of(const SegmentationModelImpl& model, const LabelSpace& space, const EvalSpec& spec) {
  auto mapping =
      std::make_shared<ClassMapping>(eval_class_mapping(spec.mapping, static_cast<int>(model.num_classes()), space));
  if (spec.mapping.empty()) return [](const torch::Tensor& logits) { return logits.argmax(1); };
  return [mapping](const torch::Tensor& logits) { return map_probabilities(*mapping, logits.softmax(1)).argmax(1); };
}

torch::Tensor eval_input(const torch::Tensor& image, const EvalSpec& spec) {
  if (image.dim() != 4 || image.size(1) != 3)
    throw Error(fmt::format("eval: expected a (N, 3, H, W) image, got shape {}", fmt::join(image.sizes(), "x")));
  const bool resize = spec.resize[0] != 0 || spec.resize[1] != 0;
  if (resize && (spec.resize[0] < 1 || spec.resize[1] < 1))
    throw Error(fmt::format("config key 'eval.resize' must be [w, h] with both positive or [0, 0], got [{}, {}]",
                            spec.resize[0], spec.resize[1]));
  return resize ? resize_bilinear(image, spec.resize[1], spec.resize[0]) : image;
}

torch::Tensor infer_logits(SegmentationModelImpl& model, const torch::Tensor& image, const EvalSpec& spec) {
  const auto input = eval_input(image, spec);
  const int64_t h = image.size(2), w = image.size(3);

  torch::Tensor logits;
  if (spec.mode == "whole")
    logits = model.forward(input);
  else if (spec.mode == "slide")
    logits = slide_logits(model, input, spec);
  else
    throw Error(fmt::format("config key 'eval.mode' must be whole or slide, not '{}'", spec.mode));

  if (logits.size(2) != h || logits.size(3) != w) logits = resize_bilinear(logits, h, w);
  return logits;
}

EvalResult evaluate(SegmentationModelImpl& model, const SegDataset& dataset, const EvalSpec& spec, const DataSpec& data,
                    torch::Device device, const ProgressFn& progress) {
  const LabelSpace& space = dataset.label_space();
  if (!dataset.has_labels()) throw Error(fmt::format("cannot evaluate on {}: it has no labels", dataset.description()));
  const ClassMapFn class_map = class_map_of(model, space, spec);
  // Check the protocol before spending time on inference.
  protocol_classes(space, spec.protocol);

  torch::NoGradGuard no_grad;
  EvalModeGuard eval_mode(model);
  return score_predictions(
      dataset, spec,
      [&](const Sample& sample, size_t) {
        const auto image = image_to_tensor(sample.image, data.mean, data.std).unsqueeze(0).to(device);
        return class_map(infer_logits(model, image, spec)).squeeze(0);
      },
      progress);
}

EvalResult score_predictions(const SegDataset& dataset, const EvalSpec& spec, const PredictFn& predict,
                             const ProgressFn& progress) {
  const LabelSpace& space = dataset.label_space();
  const auto start = std::chrono::steady_clock::now();
  size_t total = dataset.size();
  if (spec.max_images > 0) total = std::min(total, static_cast<size_t>(spec.max_images));
  ConfusionMatrix cm(space.num_classes(), space.ignore_index);
  for (size_t i = 0; i < total; ++i) {
    const Sample sample = dataset.read(i);
    if (sample.label.empty())
      throw Error(
          fmt::format("cannot evaluate on {}: image {} has no label", dataset.description(), dataset.files()[i].image));
    const torch::Tensor pred = predict(sample, i);
    cm.add(pred, label_to_tensor(sample.label).to(pred.device()));
    if (progress) progress(i + 1, total);
  }
  EvalResult result = summarise(cm, space, spec.protocol);
  result.images = static_cast<int64_t>(total);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

cv::Mat qualitative_grid(SegmentationModelImpl& model, const SegDataset& dataset, const EvalSpec& spec,
                         const DataSpec& data, torch::Device device, int count, int tile_width) {
  torch::NoGradGuard no_grad;
  EvalModeGuard eval_mode(model);
  const LabelSpace& space = dataset.label_space();
  const ClassMapFn class_map = class_map_of(model, space, spec);
  std::vector<cv::Mat> rows;
  for (size_t i = 0; i < std::min(dataset.size(), static_cast<size_t>(std::max(count, 0))); ++i) {
    const Sample sample = dataset.read(i);
    const auto image = image_to_tensor(sample.image, data.mean, data.std).unsqueeze(0).to(device);
    const auto pred = class_map(infer_logits(model, image, spec))[0].to(torch::kU8).cpu().contiguous();
    std::vector<cv::Mat> tiles{sample.image,
                               colourise(cv::Mat(sample.image.size(), CV_8UC1, pred.data_ptr<uint8_t>()), space)};
    if (!sample.label.empty()) tiles.push_back(colourise(sample.label, space));
    const double scale = static_cast<double>(tile_width) / sample.image.cols;
    const cv::Size tile(tile_width, std::max(1, static_cast<int>(std::lround(sample.image.rows * scale))));
    for (auto& t : tiles) cv::resize(t, t, tile, 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_NEAREST);
    cv::Mat row;
    cv::hconcat(tiles, row);
    if (!rows.empty() && row.cols != rows.front().cols)  // unlabelled and labelled images mixed
      cv::copyMakeBorder(row, row, 0, 0, 0, std::max(0, rows.front().cols - row.cols), cv::BORDER_CONSTANT,
                         cv::Scalar(255, 255, 255));
    rows.push_back(row(cv::Rect(0, 0, rows.empty() ? row.cols : rows.front().cols, row.rows)));
  }
  if (rows.empty()) throw Error("qualitative grid: " + dataset.description() + " has no images");
  cv::Mat grid;
  cv::vconcat(rows, grid);
  return grid;
}

}  // namespace segtransfer
