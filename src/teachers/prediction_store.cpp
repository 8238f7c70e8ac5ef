#include "teachers/prediction_store.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/label_space.h"

namespace segtransfer {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[4] = {'S', 'T', 'P', 'K'};
constexpr uint16_t kVersion = 1;
constexpr char kManifest[] = "store.json";
constexpr char kFormat[] = "segtransfer-topk";

// Fixed little-endian header; the file is header + deflated planes + CRC-32 of
// everything before it.
struct EntryHeader {
  char magic[4];
  uint16_t version;
  uint8_t k;
  uint8_t flags;  // bit 0: label-only answer
  uint16_t num_classes;
  uint16_t reserved;
  uint32_t width, height;
  uint32_t compressed_bytes;
};
static_assert(sizeof(EntryHeader) == 24, "packed header");

uint32_t crc_of(const char* data, size_t n) {
  return static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(n)));
}

}  // namespace

cv::Mat StoredPrediction::interleaved() const {
  cv::Mat out;
  cv::merge(std::vector<cv::Mat>{classes, probabilities}, out);
  return out;
}

StoredPrediction encode_top_k(const torch::Tensor& probabilities, int k) {
  if (probabilities.dim() != 3) throw Error("encode_top_k: expected (C, H, W) probabilities");
  const int64_t c = probabilities.size(0), h = probabilities.size(1), w = probabilities.size(2);
  if (k < 1 || k > c) throw Error(fmt::format("store.top_k must be in 1..{} (the class count), got {}", c, k));
  if (c > 255) throw Error(fmt::format("the prediction store holds at most 255 classes, got {}", c));
  // topk on (H, W, C): the result is already pixel-interleaved as OpenCV wants it.
  auto hwc = probabilities.to(torch::kFloat32).permute({1, 2, 0});
  auto [values, indices] = hwc.topk(k, /*dim=*/2, /*largest=*/true, /*sorted=*/true);
  auto q = (values.clamp(0, 1) * 255).round().to(torch::kUInt8).contiguous();
  auto idx = indices.to(torch::kUInt8).contiguous();
  StoredPrediction p;
  p.k = k;
  p.classes = cv::Mat(static_cast<int>(h), static_cast<int>(w), CV_8UC(k), idx.data_ptr<uint8_t>()).clone();
  p.probabilities = cv::Mat(static_cast<int>(h), static_cast<int>(w), CV_8UC(k), q.data_ptr<uint8_t>()).clone();
  return p;
}

std::string encode_store_entry(const StoredPrediction& p, int num_classes) {
  std::vector<cv::Mat> planes;
  cv::split(p.classes, planes);
  std::vector<cv::Mat> prob_planes;
  cv::split(p.probabilities, prob_planes);
  planes.insert(planes.end(), prob_planes.begin(), prob_planes.end());
  const size_t plane_bytes = static_cast<size_t>(p.classes.rows) * p.classes.cols;
  std::string raw(plane_bytes * planes.size(), '\0');
  for (size_t i = 0; i < planes.size(); ++i) std::memcpy(&raw[i * plane_bytes], planes[i].data, plane_bytes);

  uLongf compressed_size = compressBound(raw.size());
  std::string compressed(compressed_size, '\0');
  // Level 1: most of the gain of deflate on label maps at a fraction of the time.
  if (compress2(reinterpret_cast<Bytef*>(&compressed[0]), &compressed_size, reinterpret_cast<const Bytef*>(raw.data()),
                raw.size(), 1) != Z_OK)
    throw Error("prediction store: compression failed");
  compressed.resize(compressed_size);

  EntryHeader h{};
  std::memcpy(h.magic, kMagic, 4);
  h.version = kVersion;
  h.k = static_cast<uint8_t>(p.k);
  h.flags = p.labels_only ? 1 : 0;
  h.num_classes = static_cast<uint16_t>(num_classes);
  h.width = static_cast<uint32_t>(p.classes.cols);
  h.height = static_cast<uint32_t>(p.classes.rows);
  h.compressed_bytes = static_cast<uint32_t>(compressed.size());
  std::string out(reinterpret_cast<const char*>(&h), sizeof h);
  out += compressed;
  const uint32_t crc = crc_of(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(&crc), sizeof crc);
  return out;
}

StoredPrediction decode_store_entry(const std::string& bytes, const std::string& what) {
  auto corrupt = [&](const std::string& why) { return Error(fmt::format("corrupt store entry {}: {}", what, why)); };
  if (bytes.size() < sizeof(EntryHeader) + 4)
    throw corrupt(fmt::format("{} bytes is shorter than a header", bytes.size()));
  EntryHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (std::memcmp(h.magic, kMagic, 4) != 0) throw corrupt("not a prediction-store entry (bad magic)");
  if (h.version != kVersion) throw corrupt(fmt::format("format version {} (this build reads {})", h.version, kVersion));
  if (bytes.size() != sizeof h + h.compressed_bytes + 4)
    throw corrupt(fmt::format("{} bytes but the header announces {}", bytes.size(),
                              sizeof h + static_cast<size_t>(h.compressed_bytes) + 4));
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  if (crc_of(bytes.data(), bytes.size() - 4) != stored_crc) throw corrupt("checksum mismatch");
  if (h.k < 1 || h.width == 0 || h.height == 0 || h.width > 1u << 15 || h.height > 1u << 15)
    throw corrupt(fmt::format("implausible header (k {}, {}x{})", h.k, h.width, h.height));

  const size_t plane_bytes = static_cast<size_t>(h.width) * h.height;
  std::string raw(plane_bytes * 2 * h.k, '\0');
  uLongf raw_size = raw.size();
  if (uncompress(reinterpret_cast<Bytef*>(&raw[0]), &raw_size, reinterpret_cast<const Bytef*>(bytes.data() + sizeof h),
                 h.compressed_bytes) != Z_OK ||
      raw_size != raw.size())
    throw corrupt("payload does not decompress to the announced size");

  std::vector<cv::Mat> class_planes, prob_planes;
  for (int i = 0; i < 2 * h.k; ++i) {
    cv::Mat plane(static_cast<int>(h.height), static_cast<int>(h.width), CV_8UC1, &raw[i * plane_bytes]);
    (i < h.k ? class_planes : prob_planes).push_back(plane);
  }
  StoredPrediction p;
  p.k = h.k;
  p.labels_only = (h.flags & 1) != 0;
  cv::merge(class_planes, p.classes);
  cv::merge(prob_planes, p.probabilities);
  // Class ids beyond the store's classes would index out of every table downstream.
  double max_class = 0;
  cv::Mat valid = p.classes.reshape(1) != kIgnoreIndex;
  cv::minMaxLoc(p.classes.reshape(1), nullptr, &max_class, nullptr, nullptr, valid);
  if (cv::countNonZero(valid) > 0 && max_class >= h.num_classes)
    throw corrupt(fmt::format("class id {} for a store of {} classes", max_class, h.num_classes));
  return p;
}

PredictionStore PredictionStore::open_for_writing(const std::string& dir, const StoreInfo& info) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("cannot create prediction store folder '{}': {}", dir, ec.message()));
  // A killed query leaves the temporary file of the entry it was writing
  // (never read: entries are found by their real names); clear them away.
  remove_stale_temporaries(dir);
  const fs::path manifest = fs::path(dir) / kManifest;
  if (fs::exists(manifest)) {
    PredictionStore existing = open(dir);
    if (existing.info().top_k != info.top_k || existing.info().num_classes != info.num_classes)
      throw Error(
          fmt::format("prediction store '{}' holds top-{} of {} classes, this query asks for top-{} of {}; "
                      "use another store.path or delete the folder",
                      dir, existing.info().top_k, existing.info().num_classes, info.top_k, info.num_classes));
    return existing;
  }
  nlohmann::json j = {{"format", kFormat},
                      {"version", kVersion},
                      {"top_k", info.top_k},
                      {"num_classes", info.num_classes},
                      {"teacher", info.teacher}};
  write_text_atomically(manifest, j.dump(2) + "\n");
  return PredictionStore(dir, info);
}

PredictionStore PredictionStore::open(const std::string& dir) {
  const fs::path manifest = fs::path(dir) / kManifest;
  if (!fs::exists(manifest))
    throw Error(
        fmt::format("'{}' is not a prediction store (no {}); fill it with `segtransfer query`", dir, kManifest));
  StoreInfo info;
  try {
    auto j = nlohmann::json::parse(read_text_file(manifest));
    if (j.at("format").get<std::string>() != kFormat) throw Error("wrong format");
    info.top_k = j.at("top_k").get<int>();
    info.num_classes = j.at("num_classes").get<int>();
    info.teacher = j.value("teacher", "");
  } catch (const std::exception& e) {
    throw Error(fmt::format("unreadable prediction store manifest {}: {}", manifest.string(), e.what()));
  }
  return PredictionStore(dir, info);
}

std::string PredictionStore::entry_path(const std::string& stem) const {
  return (fs::path(dir_) / (stem + ".topk")).string();
}

bool PredictionStore::has_valid_entry(const std::string& stem) const {
  const std::string path = entry_path(stem);
  if (!fs::exists(path)) return false;
  try {
    decode_store_entry(read_text_file(path), path);
    return true;
  } catch (const Error&) {
    return false;
  }
}

void PredictionStore::put(const std::string& stem, const TeacherAnswer& answer) const {
  StoredPrediction p;
  if (answer.has_probabilities()) {
    p = encode_top_k(answer.probabilities, info_.top_k);
  } else {
    p.k = 1;
    p.labels_only = true;
    p.classes = answer.labels.clone();
    p.probabilities = cv::Mat(answer.labels.size(), CV_8UC1, cv::Scalar(255));
    p.probabilities.setTo(0, answer.labels == kIgnoreIndex);
  }
  write_text_atomically(entry_path(stem), encode_store_entry(p, info_.num_classes));
}

StoredPrediction PredictionStore::read(const std::string& stem) const {
  const std::string path = entry_path(stem);
  if (!fs::exists(path))
    throw Error(fmt::format("no stored answer for image '{}' in '{}' (run `segtransfer query` first)", stem, dir_));
  return decode_store_entry(read_text_file(path), path);
}

int64_t PredictionStore::entry_bytes(const std::string& stem) const {
  std::error_code ec;
  const auto n = fs::file_size(entry_path(stem), ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

}  // namespace segtransfer
