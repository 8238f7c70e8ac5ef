// Where STvM falls short, why (issue 19): a saved STvM teacher and metric head run
// over every labelled image of data.val, each pixel's pseudo-label (teacher argmax),
// confidence (max softmax) and reliability (as Stvm::train_step weighs it) audited
// against the labels, which serve this diagnostic only.
#pragma once
#include "data/dataset.h"
#include "eval/evaluator.h"
#include "methods/common/reliability_audit.h"
#include "methods/stvm.h"

namespace segtransfer {

// The images of `val` (up to eval.max_images), each as `segtransfer eval` feeds it
// (data.mean/std, eval.resize; always whole-image), the labels nearest-resized to the
// network's input and the rows self_training.ignore_top/bottom skipped (they carry no
// weight in training). Pseudo-labels map to val's classes through eval.mapping; the
// threshold is self_training.pseudo_threshold.
ReliabilityAudit audit_stvm_reliability(StvmTeacher& teacher, const SegDataset& val, const RunConfig& config,
                                        torch::Device device, const ProgressFn& progress = {});

}  // namespace segtransfer
