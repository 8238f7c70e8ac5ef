#include "eval/metrics.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/error.h"

namespace segtransfer {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_integer_tensor(const torch::Tensor& t) { return at::isIntegralType(t.scalar_type(), /*includeBool=*/false); }

// "16.3" for an IoU of 0.163; "n/a" for a class absent from labels and predictions.
std::string percent(double value) { return std::isnan(value) ? "n/a" : fmt::format("{:.1f}", 100.0 * value); }

// "mIoU16": the number is how many classes were averaged, never a rescaled 19-class mean.
std::string miou_name(const EvalResult& r) { return fmt::format("mIoU{}", r.classes.size()); }

std::string miou_detail(const EvalResult& r) {
  if (r.protocol == "all") return fmt::format("all {} classes", r.names.size());
  return fmt::format("protocol {}: {} of {} classes", r.protocol, r.classes.size(), r.names.size());
}

}  // namespace

ConfusionMatrix::ConfusionMatrix(int num_classes, int ignore_index)
    : n_(num_classes),
      ignore_(ignore_index),
      counts_(static_cast<size_t>(std::max(num_classes, 0)) * std::max(num_classes, 0), 0),
      out_of_range_(static_cast<size_t>(std::max(num_classes, 0)), 0) {
  if (num_classes < 1) throw Error(fmt::format("ConfusionMatrix: num_classes must be at least 1, got {}", num_classes));
}

void ConfusionMatrix::add(const torch::Tensor& pred, const torch::Tensor& target) {
  if (pred.sizes() != target.sizes())
    throw Error(fmt::format("ConfusionMatrix::add: prediction shape {} differs from target shape {}",
                            fmt::join(pred.sizes(), "x"), fmt::join(target.sizes(), "x")));
  if (!is_integer_tensor(pred) || !is_integer_tensor(target))
    throw Error("ConfusionMatrix::add: prediction and target must be integer tensors (class indices)");

  const auto t = target.reshape(-1).to(torch::kLong);
  const auto p = pred.reshape(-1).to(torch::kLong).to(t.device());
  const auto valid = (t != ignore_) & (t >= 0) & (t < n_);
  const auto tv = t.masked_select(valid);
  const auto pv = p.masked_select(valid);
  // Column n_ collects out-of-range predictions: a miss for the target, a hit for no class.
  const auto column = torch::where((pv >= 0) & (pv < n_), pv, torch::full_like(pv, n_));
  const int64_t width = n_ + 1;
  const auto bins = torch::bincount(tv * width + column, {}, n_ * width).to(torch::kCPU).contiguous();
  const int64_t* b = bins.data_ptr<int64_t>();
  for (int tc = 0; tc < n_; ++tc) {
    for (int pc = 0; pc < n_; ++pc) counts_[static_cast<size_t>(tc) * n_ + pc] += b[tc * width + pc];
    out_of_range_[tc] += b[tc * width + n_];
  }
}

void ConfusionMatrix::merge(const ConfusionMatrix& other) {
  if (other.n_ != n_) throw Error(fmt::format("ConfusionMatrix::merge: cannot merge {} classes into {}", other.n_, n_));
  std::transform(counts_.begin(), counts_.end(), other.counts_.begin(), counts_.begin(), std::plus<>());
  std::transform(out_of_range_.begin(), out_of_range_.end(), other.out_of_range_.begin(), out_of_range_.begin(),
                 std::plus<>());
}

std::vector<double> ConfusionMatrix::iou() const {
  std::vector<double> result(n_);
  for (int c = 0; c < n_; ++c) {
    int64_t row = out_of_range_[c], column = 0;
    for (int k = 0; k < n_; ++k) {
      row += at(c, k);
      column += at(k, c);
    }
    const int64_t tp = at(c, c);
    const int64_t union_ = row + column - tp;
    result[c] = union_ == 0 ? kNaN : static_cast<double>(tp) / static_cast<double>(union_);
  }
  return result;
}

double ConfusionMatrix::pixel_accuracy() const {
  const int64_t total = std::accumulate(counts_.begin(), counts_.end(), int64_t{0}) +
                        std::accumulate(out_of_range_.begin(), out_of_range_.end(), int64_t{0});
  if (total == 0) return kNaN;
  int64_t correct = 0;
  for (int c = 0; c < n_; ++c) correct += at(c, c);
  return static_cast<double>(correct) / static_cast<double>(total);
}

double ConfusionMatrix::mean_iou(const std::vector<int>& classes) const {
  std::vector<int> scored = classes;
  if (scored.empty()) {
    scored.resize(n_);
    std::iota(scored.begin(), scored.end(), 0);
  }
  const auto per_class = iou();
  double sum = 0;
  int present = 0;
  for (int c : scored) {
    if (c < 0 || c >= n_) throw Error(fmt::format("ConfusionMatrix::mean_iou: class {} is not in [0, {})", c, n_));
    if (std::isnan(per_class[c])) continue;
    sum += per_class[c];
    ++present;
  }
  return present == 0 ? kNaN : sum / present;
}

EvalResult summarise(const ConfusionMatrix& cm, const LabelSpace& space, const std::string& protocol) {
  if (cm.num_classes() != space.num_classes())
    throw Error(fmt::format("summarise: confusion matrix has {} classes but label space '{}' has {}", cm.num_classes(),
                            space.name, space.num_classes()));
  EvalResult r;
  r.protocol = protocol.empty() ? "all" : protocol;
  r.classes = protocol_classes(space, protocol);
  r.names = space.classes;
  r.iou = cm.iou();
  r.miou = cm.mean_iou(r.classes);
  r.pixel_accuracy = cm.pixel_accuracy();
  return r;
}

std::string format_table(const EvalResult& r, const std::string& title) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (int c : r.classes) rows.emplace_back(r.names.at(c), percent(r.iou.at(c)));
  const std::string miou_label = fmt::format("{} ({})", miou_name(r), miou_detail(r));
  const std::string accuracy_label = "pixel accuracy (all classes)";

  size_t name_width = std::max(miou_label.size(), accuracy_label.size());
  for (const auto& row : rows) name_width = std::max(name_width, row.first.size());
  const size_t value_width = 7;
  const std::string rule(name_width + 2 + value_width, '-');

  std::string out;
  if (!title.empty()) out += title + "\n";
  out += fmt::format("{:<{}}  {:>{}}\n", "class", name_width, "IoU (%)", value_width);
  out += rule + "\n";
  for (const auto& [name, value] : rows) out += fmt::format("{:<{}}  {:>{}}\n", name, name_width, value, value_width);
  out += rule + "\n";
  out += fmt::format("{:<{}}  {:>{}}\n", miou_label, name_width, percent(r.miou), value_width);
  out += fmt::format("{:<{}}  {:>{}}\n", accuracy_label, name_width, percent(r.pixel_accuracy), value_width);
  if (r.images > 0) out += fmt::format("{} images in {:.1f} s\n", r.images, r.seconds);
  if (std::any_of(r.classes.begin(), r.classes.end(), [&](int c) { return std::isnan(r.iou.at(c)); }))
    out += "n/a: class absent from both labels and predictions (left out of the mean)\n";
  return out;
}

std::string format_comparison(const std::vector<std::pair<std::string, EvalResult>>& columns) {
  if (columns.empty()) return "";
  const auto& names = columns.front().second.names;
  for (const auto& [label, r] : columns)
    if (r.names != names)
      throw Error(fmt::format("format_comparison: result '{}' uses a different label space from '{}'", label,
                              columns.front().first));

  // Rows: every class scored by at least one column, in label-space order.
  std::vector<bool> scored(names.size(), false);
  for (const auto& column : columns)
    for (int c : column.second.classes) scored.at(c) = true;
  // The mIoU row can only carry one name ("mIoU16") when every column averaged the same classes.
  const bool same_protocol = std::all_of(columns.begin(), columns.end(), [&](const auto& column) {
    return column.second.classes == columns.front().second.classes;
  });
  const std::string miou_label = same_protocol ? miou_name(columns.front().second) : "mIoU";

  size_t name_width = std::max<size_t>(miou_label.size(), 5);
  for (size_t c = 0; c < names.size(); ++c)
    if (scored[c]) name_width = std::max(name_width, names[c].size());
  std::vector<std::string> miou_cells;
  std::vector<size_t> widths;
  for (const auto& [label, r] : columns) {
    miou_cells.push_back(same_protocol ? percent(r.miou) : fmt::format("{} ({})", percent(r.miou), miou_name(r)));
    widths.push_back(std::max({label.size(), miou_cells.back().size(), size_t{10}}));
  }

  auto line = [&](const std::string& first, auto cell) {
    std::string s = fmt::format("{:<{}}", first, name_width);
    for (size_t i = 0; i < columns.size(); ++i) s += fmt::format("  {:>{}}", cell(i), widths[i]);
    return s + "\n";
  };
  const std::string header = line("class", [&](size_t i) { return columns[i].first; });
  std::string out = same_protocol ? fmt::format("IoU (%), {}\n", miou_detail(columns.front().second)) : "IoU (%)\n";
  out += header + std::string(header.size() - 1, '-') + "\n";
  for (size_t c = 0; c < names.size(); ++c) {
    if (!scored[c]) continue;
    out += line(names[c], [&](size_t i) {
      const auto& r = columns[i].second;
      const bool in_protocol = std::find(r.classes.begin(), r.classes.end(), static_cast<int>(c)) != r.classes.end();
      return in_protocol ? percent(r.iou.at(c)) : std::string("-");
    });
  }
  out += std::string(header.size() - 1, '-') + "\n";
  out += line(miou_label, [&](size_t i) { return miou_cells[i]; });
  return out;
}

std::string to_json(const EvalResult& r) {
  auto number_or_null = [](double v) { return std::isnan(v) ? nlohmann::ordered_json() : nlohmann::ordered_json(v); };
  nlohmann::ordered_json j;
  j["protocol"] = r.protocol;
  j["classes"] = r.classes;
  nlohmann::ordered_json per_class = nlohmann::ordered_json::object();
  for (size_t c = 0; c < r.names.size() && c < r.iou.size(); ++c) per_class[r.names[c]] = number_or_null(r.iou[c]);
  j["iou"] = per_class;
  j["miou"] = number_or_null(r.miou);
  j["pixel_accuracy"] = number_or_null(r.pixel_accuracy);
  j["images"] = r.images;
  j["seconds"] = r.seconds;
  return j.dump(2);
}

}  // namespace segtransfer
