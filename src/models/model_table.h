// The table of available networks (parameters and convolution FLOPs at a given
// input size) that `segtransfer models` prints and docs/models.md reproduces.
#pragma once
#include <cstdint>
#include <string>

namespace segtransfer {

// A Markdown table, one row per available_models() entry. Builds every model
// and runs it once on a width×height input (a few seconds per teacher on CPU).
std::string model_table(int64_t num_classes, int width, int height);

}  // namespace segtransfer
