// Run configuration: an embedded YAML schema of defaults, the user's YAML file
// merged onto it, then `--set key.path=value` overrides. A key that is not in the
// schema is an error naming the key (with the closest known key as a hint).
#pragma once
#include <yaml-cpp/yaml.h>

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace segtransfer {

struct DatasetSpec {
  std::string type;                     // cityscapes | gta5 | synthia | camvid | acdc | folder
  std::string root;                     // dataset root folder
  std::string split;                    // train | val | test (layout-specific meaning)
  std::string list;                     // optional list file of stems (or relative paths) to use
  std::string label_space;              // built-in name or a YAML file; empty = the dataset's own
  std::vector<std::string> conditions;  // ACDC: fog/night/rain/snow (empty = all)
  bool labels = true;                   // false: unlabelled use (labels are not read)
  bool empty() const { return type.empty(); }
};

struct AugmentSpec {
  std::array<int, 2> resize{0, 0};          // (w, h) before anything else; 0 = keep
  std::array<double, 2> scale_range{1, 1};  // random rescale factor range
  std::array<int, 2> crop{0, 0};            // (w, h) random crop; 0 = none
  double cat_max_ratio = 1.0;               // max share of one class in a crop (retries)
  double hflip = 0.5;                       // probability
  double jitter_strength = 0.0, jitter_p = 0.0;
  double blur_p = 0.0;
};

// DAFormer's rare-class sampling of data.source (data/rare_class_sampling.h).
struct RareClassSamplingSpec {
  bool enabled = false;  // data.source, class frequencies from its labels
  bool target = false;   // data.target, class frequencies from the stored answers' top-1
  double temperature = 0.01;
  int64_t min_pixels = 3000;
  std::string cache_dir;  // "" = $XDG_CACHE_HOME/segtransfer (or ~/.cache/segtransfer)
};

struct DataSpec {
  DatasetSpec source, target, val;
  AugmentSpec augment;
  RareClassSamplingSpec rare_class_sampling;
  std::array<double, 3> mean{123.675, 116.28, 103.53};  // RGB, 0..255
  std::array<double, 3> std{58.395, 57.12, 57.375};
};

struct ModelSpec {
  std::string name = "lraspp_mobilenet_v3_small";  // an available_models() entry (models/model.h)
  int num_classes = 19;
  std::string init;        // optional PyTorch state_dict archive
  bool norm_eval = false;  // BatchNorm keeps its running statistics while the rest trains
};

struct OptimSpec {
  std::string type = "adamw";  // adamw | sgd
  double lr = 6e-5, head_lr_mult = 10.0, weight_decay = 0.01, momentum = 0.9;
  std::array<double, 2> betas{0.9, 0.999};
  int warmup_iters = 1500;
  double warmup_ratio = 1e-6, poly_power = 1.0, min_lr = 0.0;
};

struct TrainSpec {
  int iterations = 40000, batch_size = 2;
  double time_budget_min = 0;              // > 0: stop after this much loop time; iterations is then an upper bound
  std::string time_budget_clock = "wall";  // wall | cpu (process CPU time / threads)
  int checkpoint_every = 4000, eval_every = 4000, log_every = 50;
  uint64_t seed = 0;
  int threads = 0;  // intra-op threads; 0 = all cores
  int workers = 2, prefetch = 4;
  bool channels_last = true;  // weights in NHWC layout (convolutions then run in oneDNN's native layout)
};

struct EvalSpec {
  std::string protocol;        // "" = all classes of the label space; 19 | 16 | 13
  std::string mode = "whole";  // whole | slide
  std::array<int, 2> crop{512, 512}, stride{341, 341};
  std::array<int, 2> resize{0, 0};  // resize input (w, h) before inference; 0 = keep
  int max_images = 0;               // 0 = all
  std::string mapping;              // "" = the model speaks the data's classes | cityscapes_to_camvid | a YAML file
};

// How a source model is reached (src/teachers). Plain values: no torch here.
struct TeacherSpec {
  std::string type;  // folder | torchscript | http
  std::string path, url;
  std::string output = "probabilities";  // probabilities | logits | labels
  int num_classes = 0;                   // 0 = the classes of the target's label space
  std::string mapping;                   // "" | cityscapes_to_camvid | YAML file
  std::array<int, 2> input_size{0, 0};
  int concurrency = 4, timeout_s = 30, retries = 5, backoff_ms = 200;
  int64_t budget = 0;  // 0 = unlimited
  // http: a vendor API's request and answer (docs/black_box.md). ${VAR} in url and
  // headers is read from the environment, so a key never sits in a config, log or store.
  std::vector<std::string> headers;  // "Name: value"
  std::string request = "png";       // png (the image's bytes) | json (request_template)
  std::string request_template;      // json body; ${IMAGE_BASE64} and ${STEM} filled in
  std::string answer = "binary";     // binary (.npy or PNG bytes) | json (answer_field)
  std::string answer_field;          // JSON pointer to a base64 string or a nested array
  // Test-time augmented questions: every image asked at each scale (and mirrored), merged.
  std::vector<double> augment_scales{1.0};
  bool augment_hflip = false;
  bool augmented() const { return augment_hflip || augment_scales != std::vector<double>{1.0}; }
};

struct StoreSpec {
  std::string path;
  int top_k = 2;
};

struct RunConfig {
  std::string method = "source_only";
  std::string output = "runs/default";
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  ModelSpec model;
  DataSpec data;
  OptimSpec optim;
  TrainSpec train;
  EvalSpec eval;
  TeacherSpec teacher;
  StoreSpec store;
  YAML::Node tree;  // the merged, validated tree (method-specific sections live here)
};

// The schema with its defaults, as YAML text (also what `segtransfer config --defaults` prints).
const std::string& default_config_yaml();

// Loads `path` (may be empty: defaults only), applies overrides "a.b=value".
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
RunConfig load_config_text(const std::string& yaml_text, const std::vector<std::string>& overrides = {},
                           const std::string& origin = "<text>");
RunConfig config_from_tree(const YAML::Node& merged);
std::string dump_config(const RunConfig& cfg);

// Typed read of a key path ("train.iterations") with the key named in errors.
template <typename T>
T config_value(const YAML::Node& tree, const std::string& key_path);

// A string switch of the config ("corte.thresholds: per_class") as the enum it
// means, read once where its section is parsed; an unknown value is an error naming
// the key and every accepted value. `names` pairs each accepted spelling with its value.
template <typename E, size_t N>
E config_choice(const YAML::Node& tree, const std::string& key_path,
                const std::array<std::pair<std::string_view, E>, N>& names) {
  const auto text = config_value<std::string>(tree, key_path);
  std::string accepted;
  for (const auto& [name, value] : names) {
    if (name == text) return value;
    accepted += (accepted.empty() ? "" : " | ") + std::string(name);
  }
  throw Error("config key '" + key_path + "' is '" + text + "': expected " + accepted);
}
// The config's spelling of an enum value (for logs and metrics files).
template <typename E, size_t N>
std::string choice_name(E value, const std::array<std::pair<std::string_view, E>, N>& names) {
  for (const auto& [name, v] : names)
    if (v == value) return std::string(name);
  return "?";
}

}  // namespace segtransfer
