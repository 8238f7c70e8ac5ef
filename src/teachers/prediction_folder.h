// A black box whose answers were computed elsewhere and left in a folder: one
// <stem>.npy (probabilities / logits, (C, H, W)) or <stem>.png (label map) per
// target image.
#pragma once
#include <string>

#include "teachers/teacher.h"

namespace segtransfer {

class PredictionFolderTeacher : public Teacher {
 public:
  // Throws Error when `folder` is not a folder.
  PredictionFolderTeacher(std::string folder, AnswerFormat format);
  // Reads <folder>/<stem>.npy, else <folder>/<stem>.png; errors name the file.
  TeacherAnswer ask(const cv::Mat& bgr, const std::string& stem) override;
  int max_concurrency() const override { return 4; }  // file reads only
  std::string describe() const override;

 private:
  std::string folder_;
  AnswerFormat format_;
  AnswerKinds answered_;
};

}  // namespace segtransfer
