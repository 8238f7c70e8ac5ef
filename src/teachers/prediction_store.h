// The compact on-disk store of a black box's answers, one entry per target image,
// written by `segtransfer query` and read by the distillation methods.
//
// An entry keeps, per pixel, the top-k classes and their probabilities quantised
// to 1/255 (k = 2 by default: what CoRTe's relative confidence p1 - p2 needs);
// planar, deflate-compressed (zlib), CRC-32 checked. Each entry is written to a
// temporary file and renamed, so a killed query never leaves a partial entry
// that reads as valid; a restarted query skips the entries that verify.
// Uncompressed, k = 2 costs 4 bytes per pixel: 1/9.5 of float16 probabilities
// for 19 classes (38 bytes per pixel).
#pragma once
#include <torch/types.h>

#include <opencv2/core.hpp>
#include <string>

#include "teachers/teacher.h"

namespace segtransfer {

struct StoreInfo {
  int top_k = 2;
  int num_classes = 0;
  std::string teacher;  // describe() of the teacher that answered
};

// One decoded entry at the image's size. For a label-only answer k = 1 and the
// probability of the label is 1 (255), of an ignored pixel 0.
struct StoredPrediction {
  int k = 0;
  bool labels_only = false;
  cv::Mat classes;        // CV_8UC(k): the k most probable classes, most probable first (255 = ignore)
  cv::Mat probabilities;  // CV_8UC(k): their probabilities · 255, rounded
  // (classes, probabilities) as one CV_8UC(2k) matrix: what rides through the loader.
  cv::Mat interleaved() const;
};

// Top-k of (C, H, W) probabilities, quantised (ties: the lower class first).
StoredPrediction encode_top_k(const torch::Tensor& probabilities, int k);

class PredictionStore {
 public:
  // Opens `dir` for writing, creating it and its manifest (store.json) if needed,
  // and removes the temporary files a killed query left; an existing store must
  // have been made with the same top_k and class count. One writer at a time.
  static PredictionStore open_for_writing(const std::string& dir, const StoreInfo& info);
  // Opens an existing store for reading; Error naming the folder if it has no manifest.
  static PredictionStore open(const std::string& dir);

  const StoreInfo& info() const { return info_; }
  const std::string& dir() const { return dir_; }
  std::string entry_path(const std::string& stem) const;

  // True when the entry exists and verifies (size, header, checksum).
  bool has_valid_entry(const std::string& stem) const;
  // Encodes and writes the entry atomically (replacing any previous one).
  void put(const std::string& stem, const TeacherAnswer& answer) const;
  // Reads and verifies an entry; Error naming the file when missing or corrupt.
  StoredPrediction read(const std::string& stem) const;
  // Size of the entry's file in bytes (0 if missing).
  int64_t entry_bytes(const std::string& stem) const;

 private:
  PredictionStore(std::string dir, StoreInfo info) : dir_(std::move(dir)), info_(std::move(info)) {}
  std::string dir_;
  StoreInfo info_;
};

// Decodes an entry's bytes (exposed for the fuzzer and tests); `what` names the file.
StoredPrediction decode_store_entry(const std::string& bytes, const std::string& what);
std::string encode_store_entry(const StoredPrediction& prediction, int num_classes);

}  // namespace segtransfer
