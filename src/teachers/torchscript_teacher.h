// A source model shipped as a TorchScript file and run here as a black box: only
// its outputs are used, never its gradients or weights.
#pragma once
#include <torch/script.h>

#include <array>
#include <string>

#include "teachers/teacher.h"

namespace segtransfer {

class TorchScriptTeacher : public Teacher {
 public:
  // mean/std: RGB 0..255 normalisation the model expects (data.mean, data.std).
  // input_size: (w, h) the model is fed (a traced model only accepts the size it
  // was traced at); empty = each image's own size. Throws Error naming the file
  // when it does not load.
  TorchScriptTeacher(std::string path, AnswerFormat format, std::array<double, 3> mean, std::array<double, 3> std,
                     cv::Size input_size, torch::Device device);
  TeacherAnswer ask(const cv::Mat& bgr, const std::string& stem) override;
  std::string describe() const override;

 private:
  std::string path_;
  AnswerFormat format_;
  std::array<double, 3> mean_, std_;
  cv::Size input_size_;
  torch::Device device_;
  torch::jit::Module module_;
};

}  // namespace segtransfer
