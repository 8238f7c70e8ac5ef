#include "teachers/prediction_folder.h"

#include <fmt/format.h>

#include <filesystem>

#include "core/atomic_file.h"

namespace segtransfer {
namespace fs = std::filesystem;

PredictionFolderTeacher::PredictionFolderTeacher(std::string folder, AnswerFormat format)
    : Teacher(format.num_classes), folder_(std::move(folder)), format_(std::move(format)) {
  if (!fs::is_directory(folder_))
    throw Error(fmt::format("teacher.path: prediction folder '{}' does not exist or is not a folder", folder_));
}

TeacherAnswer PredictionFolderTeacher::ask(const cv::Mat& bgr, const std::string& stem) {
  ++requests_;
  for (const char* extension : {".npy", ".png"}) {
    const std::string path = (fs::path(folder_) / (stem + extension)).string();
    if (fs::exists(path)) return answered_.count(decode_answer_bytes(read_text_file(path), format_, bgr.size(), path));
  }
  throw Error(fmt::format("no prediction for image {} in {} (expected {}.npy or {}.png)", stem, folder_, stem, stem));
}

std::string PredictionFolderTeacher::describe() const {
  return fmt::format("prediction folder {} ({} classes, {})", folder_, format_.num_classes,
                     answered_.describe(format_));
}

}  // namespace segtransfer
