#include "models/model_table.h"

#include <fmt/format.h>

#include "models/model.h"
#include "models/model_flops.h"

namespace segtransfer {

namespace {

std::string with_thousands(int64_t n) {
  std::string digits = std::to_string(n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}

}  // namespace

std::string model_table(int64_t num_classes, int width, int height) {
  std::string table = fmt::format(
      "| model | role | parameters ({} classes) | GMACs at {}x{} | GFLOPs (2 x MACs) |\n"
      "|---|---|---:|---:|---:|\n",
      num_classes, width, height);
  for (const auto& info : available_models()) {
    SegmentationModel model = make_model(info.name, num_classes);
    const int64_t macs = count_conv_macs(*model, height, width);
    table += fmt::format("| {} | {} | {} | {:.2f} | {:.2f} |\n", info.name, info.student ? "student" : "teacher",
                         with_thousands(count_parameters(*model)), macs / 1e9, 2 * macs / 1e9);
  }
  return table;
}

}  // namespace segtransfer
