// Inference-time folding of BatchNorm into the convolution before it: in eval mode
// BN is a per-channel affine map, so conv→BN equals one convolution with scaled
// weights and a shifted bias, one pass over the activations fewer.
#pragma once

#include <cstdint>

namespace torch::nn {
class Module;
}

namespace segtransfer {

// Folds every BatchNorm2d that directly follows a Conv2d — adjacent in an
// nn::Sequential, or the pairs conv/bn, convK/bnK of a block (ResNet, ESPNet) —
// and marks it folded (it then passes its input through). The model must be in
// eval mode and is for inference only afterwards; a folded convolution's new bias
// is not a registered parameter, so save weights before folding. Returns the
// number of folded layers.
int64_t fold_batch_norm(torch::nn::Module& model);

}  // namespace segtransfer
