// How good is a black box? Scores a source model reached through any teacher
// adapter (TorchScript, HTTP, prediction folder, with its class mapping) on a
// labelled split, exactly as evaluate() scores a trained model.
#pragma once
#include "data/dataset.h"
#include "eval/evaluator.h"
#include "eval/metrics.h"
#include "teachers/prediction_store.h"
#include "teachers/teacher.h"

namespace segtransfer {

// Asks `teacher` once per labelled image of `dataset` (the answers are at the
// image's size, in the dataset's label space) and scores the argmax, or the
// hard labels of a label-only black box, on spec.protocol. Counts as requests.
EvalResult evaluate_teacher(Teacher& teacher, const SegDataset& dataset, const EvalSpec& spec,
                            const ProgressFn& progress = {});

// The same score from answers already asked: the top-1 class of each labelled
// image's entry in `store` (no request). Error naming the first image without an entry.
EvalResult evaluate_store(const PredictionStore& store, const SegDataset& dataset, const EvalSpec& spec,
                          const ProgressFn& progress = {});

}  // namespace segtransfer
