// Inference (whole image or sliding window) and evaluation over a labelled dataset.
#pragma once
#include <torch/types.h>

#include <functional>

#include "core/config.h"
#include "data/dataset.h"
#include "eval/metrics.h"
#include "models/model.h"

namespace segtransfer {

// image: (N, 3, H, W) normalised. The input the network sees: resized to eval.resize
// (bilinear) when that is set, else the image itself.
torch::Tensor eval_input(const torch::Tensor& image, const EvalSpec& spec);

// image: (1, 3, H, W) normalised. Returns (1, C, H, W) logits at the image's size.
torch::Tensor infer_logits(SegmentationModelImpl& model, const torch::Tensor& image, const EvalSpec& spec);

using ProgressFn = std::function<void(size_t done, size_t total)>;

// (N, C, H, W) logits -> (N, H, W) classes of `space`: the argmax, or with eval.mapping
// the argmax of the probabilities summed per class of `space` (a Cityscapes-trained
// model scored on CamVid). Throws when the model's classes do not fit the space.
using ClassMapFn = std::function<torch::Tensor(const torch::Tensor& logits)>;
ClassMapFn class_map_of(const SegmentationModelImpl& model, const LabelSpace& space, const EvalSpec& spec);

// Runs the model (in eval mode, no grad) over every labelled image of `dataset`,
// on `device`. Scored on spec.protocol.
EvalResult evaluate(SegmentationModelImpl& model, const SegDataset& dataset, const EvalSpec& spec, const DataSpec& data,
                    torch::Device device, const ProgressFn& progress = {});

// The labelled images of `dataset` (up to spec.max_images) scored on spec.protocol:
// `predict` gives each image's (H, W) integer class map at the image's size.
using PredictFn = std::function<torch::Tensor(const Sample& sample, size_t index)>;
EvalResult score_predictions(const SegDataset& dataset, const EvalSpec& spec, const PredictFn& predict,
                             const ProgressFn& progress = {});

// The report's qualitative grid: one row per each of the first `count` images of
// `dataset` — image | prediction | ground truth (when labelled), colourised in the
// dataset's label space, each tile scaled to `tile_width` pixels wide. BGR.
cv::Mat qualitative_grid(SegmentationModelImpl& model, const SegDataset& dataset, const EvalSpec& spec,
                         const DataSpec& data, torch::Device device, int count = 4, int tile_width = 320);

}  // namespace segtransfer
