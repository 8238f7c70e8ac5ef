// The probability side of ClassMapping: sums the probabilities of the source
// classes that map onto each target class.
#pragma once
#include <torch/types.h>

#include "data/label_space.h"

namespace segtransfer {

// probs: (C_src, H, W) or (N, C_src, H, W); returns the same rank with C_tgt channels.
torch::Tensor map_probabilities(const ClassMapping& mapping, const torch::Tensor& probs);

}  // namespace segtransfer
