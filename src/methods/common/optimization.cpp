#include "methods/common/optimization.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace segtransfer {

double scheduled_lr(const OptimSpec& s, int64_t iteration, double progress) {
  progress = std::clamp(progress, 0.0, 1.0);
  double lr = (s.lr - s.min_lr) * std::pow(1.0 - progress, s.poly_power) + s.min_lr;
  if (iteration < s.warmup_iters) {
    double k = (1.0 - static_cast<double>(iteration) / s.warmup_iters) * (1.0 - s.warmup_ratio);
    lr *= 1.0 - k;
  }
  return lr;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimSpec& s, SegmentationModelImpl& model) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (s.type == "adamw") {
    auto opts = [&](double lr) {
      return std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(lr).betas({s.betas[0], s.betas[1]}).weight_decay(s.weight_decay));
    };
    groups.emplace_back(model.backbone_parameters(), opts(s.lr));
    groups.emplace_back(model.head_parameters(), opts(s.lr * s.head_lr_mult));
    return std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(s.lr));
  }
  if (s.type == "sgd") {
    auto opts = [&](double lr) {
      return std::make_unique<torch::optim::SGDOptions>(
          torch::optim::SGDOptions(lr).momentum(s.momentum).weight_decay(s.weight_decay));
    };
    groups.emplace_back(model.backbone_parameters(), opts(s.lr));
    groups.emplace_back(model.head_parameters(), opts(s.lr * s.head_lr_mult));
    return std::make_unique<torch::optim::SGD>(std::move(groups), torch::optim::SGDOptions(s.lr));
  }
  throw Error("config key 'optim.type' must be adamw or sgd, not '" + s.type + "'");
}

void add_head_group(torch::optim::Optimizer& optimizer, std::vector<torch::Tensor> parameters) {
  if (parameters.empty()) return;
  optimizer.add_param_group(
      torch::optim::OptimizerParamGroup(std::move(parameters), optimizer.param_groups().back().options().clone()));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, const OptimSpec& s, double lr) {
  auto& groups = optimizer.param_groups();
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(i == 0 ? lr : lr * s.head_lr_mult);
}

}  // namespace segtransfer
