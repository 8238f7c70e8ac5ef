#include "methods/common/ema.h"

#include <algorithm>

namespace segtransfer {

EmaModel::EmaModel(const std::string& name, SegmentationModelImpl& model, torch::Device device, EmaStart start,
                   EmaStatistics statistics)
    : ema_(make_model(name, model.num_classes())), start_(start), statistics_(statistics) {
  ema_->to(device);
  ema_->eval();
  torch::NoGradGuard no_grad;
  auto src_p = model.parameters(), src_b = model.buffers();
  ema_params_ = ema_->parameters();
  ema_buffers_ = ema_->buffers();
  for (size_t i = 0; i < ema_params_.size(); ++i) {
    // The student's layout (channels-last or not), so that the update and the EMA's forward match it.
    ema_params_[i].set_data(ema_params_[i].contiguous(src_p[i].suggest_memory_format()));
    ema_params_[i].copy_(src_p[i]);
    ema_params_[i].set_requires_grad(false);
  }
  for (size_t i = 0; i < ema_buffers_.size(); ++i) ema_buffers_[i].copy_(src_b[i]);
}

double EmaModel::momentum_at(int64_t iteration, double momentum) {
  return std::min(1.0 - 1.0 / static_cast<double>(iteration + 1), momentum);
}

void EmaModel::update(SegmentationModelImpl& model, int64_t iteration, double momentum) {
  torch::NoGradGuard no_grad;
  const double a = start_ == EmaStart::kTrained ? momentum : momentum_at(iteration, momentum);
  auto src_p = model.parameters(), src_b = model.buffers();
  for (size_t i = 0; i < ema_params_.size(); ++i) ema_params_[i].mul_(a).add_(src_p[i].detach(), 1.0 - a);
  for (size_t i = 0; i < ema_buffers_.size(); ++i) {
    if (statistics_ == EmaStatistics::kAveraged && ema_buffers_[i].is_floating_point())
      ema_buffers_[i].mul_(a).add_(src_b[i], 1.0 - a);
    else
      ema_buffers_[i].copy_(src_b[i]);
  }
}

void EmaModel::save(torch::serialize::OutputArchive& archive, const std::string& key) const {
  torch::serialize::OutputArchive sub;
  ema_->save(sub);
  archive.write(key, sub);
}

void EmaModel::load(torch::serialize::InputArchive& archive, const std::string& key, torch::Device device) {
  torch::serialize::InputArchive sub;
  archive.read(key, sub);
  ema_->load(sub);
  ema_->to(device);
  ema_->eval();
  ema_params_ = ema_->parameters();
  ema_buffers_ = ema_->buffers();
  for (auto& p : ema_params_) p.set_requires_grad(false);
}

}  // namespace segtransfer
