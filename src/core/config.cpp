#include "core/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace segtransfer {
namespace {

// The schema: every accepted key, with its default. Documented in docs/config.md.
const char* kDefaults = R"YAML(
method: source_only        # source_only | corte | plain_distill | soft_distill | threshold_distill | dacs |
                           # dual_teacher | stvm | clda (docs/methods.md)
output: runs/default       # run folder: checkpoints, metrics.jsonl, config.yaml
device: auto               # auto | cpu | cuda | cuda:N
model:
  name: lraspp_mobilenet_v3_small
  num_classes: 19
  init: ""                 # PyTorch state_dict archive (torch.save) to start from
  norm_eval: false         # BatchNorm in eval mode while training (mmsegmentation's norm_eval): the running
                           # statistics a pretrained start brings are used and kept; scale and shift still learn.
                           # With model.init, only the layers it filled: those that start fresh estimate theirs
data:
  source: {type: "", root: "", split: train, list: "", label_space: "", conditions: [], labels: true}
  target: {type: "", root: "", split: train, list: "", label_space: "", conditions: [], labels: false}
  val:    {type: "", root: "", split: val,   list: "", label_space: "", conditions: [], labels: true}
  augment:
    resize: [0, 0]         # (w, h) applied first; 0 = keep the image size
    scale_range: [1.0, 1.0]
    crop: [0, 0]           # (w, h); 0 = no crop
    cat_max_ratio: 1.0
    hflip: 0.5
    jitter_strength: 0.0
    jitter_p: 0.0
    blur_p: 0.0
  rare_class_sampling:     # of data.source (DAFormer): class c drawn with p ∝ exp((1 − f_c) / T)
    enabled: false
    target: false          # also data.target, f_c from the stored answers' top-1 (methods reading store.path)
    temperature: 0.01
    min_pixels: 3000       # an image counts for class c when it shows this many of its pixels
    cache_dir: ""          # class statistics cache; "" = $XDG_CACHE_HOME/segtransfer or ~/.cache/segtransfer
  mean: [123.675, 116.28, 103.53]
  std: [58.395, 57.12, 57.375]
optim:
  type: adamw              # adamw | sgd
  lr: 6.0e-5
  head_lr_mult: 10.0
  weight_decay: 0.01
  momentum: 0.9
  betas: [0.9, 0.999]
  warmup_iters: 1500
  warmup_ratio: 1.0e-6
  poly_power: 1.0
  min_lr: 0.0
train:
  iterations: 40000        # with time_budget_min: the most iterations
  time_budget_min: 0       # > 0: train for this many minutes of wall-clock time (evaluation excluded); the
                           # schedules (lr, CoRTe's phases) follow the spent share of the budget
  time_budget_clock: wall  # wall | cpu: the process's CPU time / train.threads, the minutes the run would take
                           # alone on that many cores (a benchmark queue sharing the machine stays fair)
  batch_size: 2
  checkpoint_every: 4000
  eval_every: 4000
  log_every: 50
  seed: 0
  threads: 0               # intra-op threads; 0 = all cores
  workers: 2               # loader threads
  prefetch: 4              # batches kept ready
  channels_last: true      # the student's weights in NHWC (channels-last) layout: faster CPU steps (docs/performance.md)
distributed:               # data-parallel training; the process layout comes from RANK, WORLD_SIZE,
                           # LOCAL_RANK, MASTER_ADDR, MASTER_PORT (torchrun, Slurm) or train --nproc
  backend: auto            # auto (nccl on CUDA, else gloo) | gloo | nccl
  sync_batch_norm: true    # BatchNorm statistics over every process's batch (else each its own)
  bucket_mb: 25            # gradient all-reduce bucket size (PyTorch DDP's default)
  timeout_s: 300           # a collective that waits longer fails the run (a lost process)
eval:
  protocol: ""             # "" = every class of the label space; 19 | 16 | 13
  mode: whole              # whole | slide
  crop: [512, 512]
  stride: [341, 341]
  resize: [0, 0]
  max_images: 0
  mapping: ""              # the model's classes -> the evaluated data's: "" (the same), cityscapes_to_camvid, or a
                           # YAML file (a Cityscapes-trained model scored on CamVid: probabilities summed per class)
teacher:                   # how the source model is reached (segtransfer query)
  type: ""                 # folder | torchscript | http
  path: ""                 # folder: prediction files (<stem>.npy / <stem>.png); torchscript: the .pt file
  url: ""                  # http: endpoint that takes a POSTed PNG and answers .npy bytes or a PNG
  output: probabilities    # probabilities | logits | labels (what the black box returns)
  num_classes: 0           # classes of the black box's answers; 0 = those of the target's label space
  mapping: ""              # black-box classes -> target classes: "" (same), cityscapes_to_camvid, or a YAML file
  input_size: [0, 0]       # torchscript: (w, h) the model is fed; 0 = the image size
  concurrency: 4           # http: requests in flight
  timeout_s: 30            # http: per request
  retries: 5               # http: retries per image on errors, 5xx and 429 (exponential backoff)
  backoff_ms: 200          # http: first retry delay, doubled each retry
  budget: 0                # http: most requests this run may send (retries included); 0 = no limit
  headers: []              # http: extra request headers, "Name: value"; ${VAR} (also in url) is read from the
                           # environment, so an API key never sits in a config, a log or the store:
                           # ["Authorization: Bearer ${VENDOR_TOKEN}"]
  request: png             # http: the body: png (the image's PNG bytes) | json (request_template)
  request_template: ""     # http, json: the body, ${IMAGE_BASE64} and ${STEM} filled in: '{"image": "${IMAGE_BASE64}"}'
  answer: binary           # http: binary (.npy or PNG bytes) | json (answer_field)
  answer_field: ""         # http, json: JSON pointer to the answer (/mask): a base64 string of .npy or PNG bytes,
                           # or a nested array ([C][H][W] scores or [H][W] class ids)
  augment:                 # test-time augmented questions (torchscript, http): each image asked once per view, the
                           # answers merged in the image's frame (probabilities averaged; labels by vote); every view
                           # is a request and counts against budget
    scales: [1.0]          # image scales asked; a box with a fixed input_size sees every view at that size
    hflip: false           # also ask each scale's mirror image
store:
  path: ""                 # prediction store folder: written by `segtransfer query`, read by the distillation methods
  top_k: 2                 # classes kept per pixel (CoRTe needs 2; 1 for label-only black boxes)
corte:                     # CoRTe and the black-box distillation baselines (docs/methods.md)
  pseudo_labels: relative  # relative (p1 - p2) | absolute (max prob) | argmax (keep all)
  thresholds: per_class    # per_class | global (statistic pooled over all classes) | fixed (fixed_threshold)
  statistic: mean          # mean | percentile of the confidence of the pixels (of a class, or all of them)
  percentile: 50
  fixed_threshold: 0.968   # thresholds: fixed (0.968 on absolute confidence is DAFormer's value)
  soft_until: 0.0          # share of the iterations trained by soft KL before switching to filtered labels
  temperature: 1.0         # soft KL temperature
  refine: true             # replace/fill black-box labels with more confident EMA-student labels
  refine_start: 0.25       # share of the iterations before refinement may start
  refine_min_agreement: 0.75  # EMA must agree with the kept black-box labels this often before refining
  refine_max_replaced: 0.2 # at most this share of a class's kept black-box labels is replaced per batch
  ema_momentum: 0.999
  ema_statistics: copied   # copied | averaged: the EMA's BatchNorm statistics, the student's or averaged like its
                           # weights (a pretrained student's EMA needs averaged: docs/methods.md)
  mix: true                # ClassMix of two target images and their pseudo-labels
  kept_share_weight: true  # weight each image's loss by its share of kept pixels (DACS); false: mean over kept pixels
  class_balance: 0.0       # 0..1: weight class c's pixels by (c's share of the black box's top-1 pixels)^-class_balance
                           # (0.5: inverse square root), normalised to mean 1 over the pixels; 0 = off
  plain_view: false        # with mix: also train on the unmixed strong view (twice the compute per step)
  strong_augment: true     # colour jitter + blur on the student's view
  jitter_strength: 0.2
  jitter_p: 0.2
  blur_p: 0.5
  diagnostics_every: 500   # iterations between diagnostics lines and PNG grids (0 = off)
  evaluate_ema: false      # evaluate, and write as model.pt, the student's EMA (ema_momentum) instead of the student
self_training:             # the DACS / DAFormer step of dacs, dual_teacher, clda (and stvm's mean teacher)
  pseudo_threshold: 0.968  # max probability a pseudo-label must reach to count in its image's weight
  ema_momentum: 0.999      # EMA teacher: alpha_t = min(1 - 1/(t+1), ema_momentum); stvm, whose teacher starts
                           # as the trained source model: ema_momentum from step 0
  ignore_top: 15           # pseudo-label rows of the crop given weight 0 (Cityscapes sky artefacts)
  ignore_bottom: 120       # ... and at the bottom (the ego car); scale with the crop
  mix: true                # ClassMix: half of a source image's classes pasted onto the target image
  strong_augment: true     # colour jitter + Gaussian blur on the mixed images
  jitter_strength: 0.2
  jitter_p: 0.2
  blur_p: 0.5
dual_teacher:              # Jeong et al. (TIP 2024): DACS + a frozen source teacher distilling features
  teacher_model: deeplabv3_resnet50
  teacher_weights: ""      # the frozen teacher: a source_only run's model.pt or a PyTorch state_dict
  feature_weight: 0.005    # lambda of the mean per-pixel squared L2 between adapted student and teacher features
  kl_weight: 0.0           # optional KL(teacher || student) on the logits
  temperature: 1.0
  on_source: true          # distil on the source images
  on_target: true          # ... and on the target (mixed) images
stvm:                      # Akkaya & Halici: source-free mean teacher weighted by metric-learned reliability
  source_weights: ""       # the white-box source model (same architecture as the student): student and teacher start from it
  embedding_dim: 64        # metric head: two 1x1 convs on the teacher's encoder features, L2-normalised
  alpha: 32.0              # Proxy-Anchor scale
  delta: 0.1               # Proxy-Anchor margin
  metric_weight: 1.0       # weight of the Proxy-Anchor loss (it trains the metric head and proxies only, at the head's lr)
  sharpen: 1.0             # reliability^sharpen
  weighting: reliability   # reliability | threshold (the ablation: DACS's confident share at self_training.pseudo_threshold) | class_relative (p1 - p2 >= the batch mean of its class)
  metric_mix: true         # ClassMix picks classes by mean reliability, pastes pixels above its median
  freeze_backbone: false   # the student's encoder keeps the source model's weights; the decoder adapts (cheaper step)
  balance_reliability: false  # each class's reliabilities rescaled to the batch's mean: the metric head's class prior removed
  max_anchor_pixels: 4096  # pixels per step the metric loss is computed on (random subset)
clda:                      # Cho et al.: teacher and student both trained by DACS; the student updates the
                           # teacher's non-salient parameters; the updated teacher distils into the student
  teacher_model: lraspp_mobilenet_v3_large
  teacher_init: ""         # PyTorch state_dict the teacher starts from ("" = from scratch like the student)
  saliency_momentum: 0.99  # EMA of |theta * dL/dtheta|
  nonsalient_quantile: 0.3 # per layer, parameters below this quantile of saliency are non-salient
  saliency_epsilon: 1.0e-8 # a parameter whose saliency is below this is counted in the layer's saliency rate
  update_every: 10         # iterations between the masked teacher updates from the student
  temperature: 2.0         # KL distillation temperature (teacher -> student and student -> teacher)
  distill_weight: 1.0      # weight of KL(teacher || student) on the target images in the student's loss
)YAML";

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggestion(const YAML::Node& schema_map, const std::string& prefix, const std::string& key) {
  std::string best;
  size_t best_d = 4;
  for (const auto& kv : schema_map) {
    auto k = kv.first.as<std::string>();
    size_t d = edit_distance(k, key);
    if (d < best_d) best_d = d, best = k;
  }
  if (best.empty()) return "";
  return " (did you mean '" + (prefix.empty() ? best : prefix + "." + best) + "'?)";
}

// Merges `user` into `base` (a deep copy of the schema), rejecting unknown keys.
void merge_checked(YAML::Node base, const YAML::Node& user, const std::string& prefix, const std::string& origin) {
  if (!user.IsMap())
    throw Error("config " + origin + ": '" + (prefix.empty() ? "<root>" : prefix) + "' must be a mapping of keys");
  for (const auto& kv : user) {
    // A key written as a list or mapping (`[a]: 1`, `? {a: b}`) is valid YAML but no config key.
    if (!kv.first.IsScalar()) {
      std::stringstream s;
      s << kv.first;
      throw Error("config " + origin + ": key '" + s.str() + "' under '" + (prefix.empty() ? "<root>" : prefix) +
                  "' must be a plain name");
    }
    std::string key = kv.first.as<std::string>();
    std::string path = prefix.empty() ? key : prefix + "." + key;
    if (!base[key]) throw Error("unknown config key '" + path + "' in " + origin + suggestion(base, prefix, key));
    YAML::Node slot = base[key];
    if (slot.IsMap()) {
      merge_checked(slot, kv.second, path, origin);
    } else {
      if (kv.second.IsMap()) throw Error("config key '" + path + "' in " + origin + " must not be a mapping");
      base[key] = YAML::Clone(kv.second);
    }
  }
}

YAML::Node parse_yaml(const std::string& text, const std::string& origin) {
  try {
    YAML::Node n = YAML::Load(text);
    return n.IsNull() ? YAML::Node(YAML::NodeType::Map) : n;
  } catch (const YAML::Exception& e) {
    throw Error("cannot parse YAML " + origin + ": " + e.what());
  }
}

void apply_override(YAML::Node root, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw Error("override '" + assignment + "' must look like key.path=value");
  std::string path = assignment.substr(0, eq);
  YAML::Node value = parse_yaml(assignment.substr(eq + 1), "value of --set " + path);
  if (assignment.substr(eq + 1).empty()) value = YAML::Node(std::string());
  // Rebuild the override as a nested map and merge it with the same checks.
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  YAML::Node nested = value;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    YAML::Node m(YAML::NodeType::Map);
    m[*it] = nested;
    nested = m;
  }
  merge_checked(root, nested, "", "--set " + path);
}

YAML::Node at_path(const YAML::Node& tree, const std::string& key_path) {
  YAML::Node cur = YAML::Clone(tree);
  std::stringstream ss(key_path);
  for (std::string p; std::getline(ss, p, '.');) {
    if (!cur.IsMap() || !cur[p]) throw Error("missing config key '" + key_path + "'");
    cur = cur[p];
  }
  return cur;
}

DatasetSpec dataset_spec(const YAML::Node& t, const std::string& k) {
  DatasetSpec d;
  d.type = config_value<std::string>(t, k + ".type");
  d.root = config_value<std::string>(t, k + ".root");
  d.split = config_value<std::string>(t, k + ".split");
  d.list = config_value<std::string>(t, k + ".list");
  d.label_space = config_value<std::string>(t, k + ".label_space");
  d.conditions = config_value<std::vector<std::string>>(t, k + ".conditions");
  d.labels = config_value<bool>(t, k + ".labels");
  return d;
}

template <typename T, size_t N>
std::array<T, N> fixed(const YAML::Node& t, const std::string& key) {
  auto v = config_value<std::vector<T>>(t, key);
  if (v.size() != N) throw Error("config key '" + key + "' must have " + std::to_string(N) + " values");
  std::array<T, N> a{};
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}

}  // namespace

template <typename T>
T config_value(const YAML::Node& tree, const std::string& key_path) {
  YAML::Node n = at_path(tree, key_path);
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    std::stringstream s;
    s << n;
    throw Error("config key '" + key_path + "' has a value of the wrong type: '" + s.str() + "'");
  }
}
template int config_value<int>(const YAML::Node&, const std::string&);
template double config_value<double>(const YAML::Node&, const std::string&);
template bool config_value<bool>(const YAML::Node&, const std::string&);
template uint64_t config_value<uint64_t>(const YAML::Node&, const std::string&);
template int64_t config_value<int64_t>(const YAML::Node&, const std::string&);
template std::string config_value<std::string>(const YAML::Node&, const std::string&);
template std::vector<std::string> config_value<std::vector<std::string>>(const YAML::Node&, const std::string&);
template std::vector<int> config_value<std::vector<int>>(const YAML::Node&, const std::string&);
template std::vector<double> config_value<std::vector<double>>(const YAML::Node&, const std::string&);

const std::string& default_config_yaml() {
  static const std::string text = kDefaults;
  return text;
}

RunConfig config_from_tree(const YAML::Node& t) {
  RunConfig c;
  c.tree = t;
  c.method = config_value<std::string>(t, "method");
  c.output = config_value<std::string>(t, "output");
  c.device = config_value<std::string>(t, "device");
  c.model.name = config_value<std::string>(t, "model.name");
  c.model.num_classes = config_value<int>(t, "model.num_classes");
  c.model.init = config_value<std::string>(t, "model.init");
  c.model.norm_eval = config_value<bool>(t, "model.norm_eval");
  c.data.source = dataset_spec(t, "data.source");
  c.data.target = dataset_spec(t, "data.target");
  c.data.val = dataset_spec(t, "data.val");
  auto& a = c.data.augment;
  a.resize = fixed<int, 2>(t, "data.augment.resize");
  a.scale_range = fixed<double, 2>(t, "data.augment.scale_range");
  a.crop = fixed<int, 2>(t, "data.augment.crop");
  a.cat_max_ratio = config_value<double>(t, "data.augment.cat_max_ratio");
  a.hflip = config_value<double>(t, "data.augment.hflip");
  a.jitter_strength = config_value<double>(t, "data.augment.jitter_strength");
  a.jitter_p = config_value<double>(t, "data.augment.jitter_p");
  a.blur_p = config_value<double>(t, "data.augment.blur_p");
  auto& rcs = c.data.rare_class_sampling;
  rcs.enabled = config_value<bool>(t, "data.rare_class_sampling.enabled");
  rcs.target = config_value<bool>(t, "data.rare_class_sampling.target");
  rcs.temperature = config_value<double>(t, "data.rare_class_sampling.temperature");
  rcs.min_pixels = config_value<int64_t>(t, "data.rare_class_sampling.min_pixels");
  rcs.cache_dir = config_value<std::string>(t, "data.rare_class_sampling.cache_dir");
  c.data.mean = fixed<double, 3>(t, "data.mean");
  c.data.std = fixed<double, 3>(t, "data.std");
  auto& tc = c.teacher;
  tc.type = config_value<std::string>(t, "teacher.type");
  tc.path = config_value<std::string>(t, "teacher.path");
  tc.url = config_value<std::string>(t, "teacher.url");
  tc.output = config_value<std::string>(t, "teacher.output");
  tc.num_classes = config_value<int>(t, "teacher.num_classes");
  tc.mapping = config_value<std::string>(t, "teacher.mapping");
  tc.input_size = fixed<int, 2>(t, "teacher.input_size");
  tc.concurrency = config_value<int>(t, "teacher.concurrency");
  tc.timeout_s = config_value<int>(t, "teacher.timeout_s");
  tc.retries = config_value<int>(t, "teacher.retries");
  tc.backoff_ms = config_value<int>(t, "teacher.backoff_ms");
  tc.budget = config_value<int64_t>(t, "teacher.budget");
  tc.headers = config_value<std::vector<std::string>>(t, "teacher.headers");
  tc.request = config_value<std::string>(t, "teacher.request");
  tc.request_template = config_value<std::string>(t, "teacher.request_template");
  tc.answer = config_value<std::string>(t, "teacher.answer");
  tc.answer_field = config_value<std::string>(t, "teacher.answer_field");
  tc.augment_scales = config_value<std::vector<double>>(t, "teacher.augment.scales");
  tc.augment_hflip = config_value<bool>(t, "teacher.augment.hflip");
  if (tc.request != "png" && tc.request != "json")
    throw Error("config key 'teacher.request' is '" + tc.request + "': expected png | json");
  if (tc.answer != "binary" && tc.answer != "json")
    throw Error("config key 'teacher.answer' is '" + tc.answer + "': expected binary | json");
  if (tc.request == "json" && tc.request_template.find("${IMAGE_BASE64}") == std::string::npos)
    throw Error("config key 'teacher.request_template' must contain ${IMAGE_BASE64} when teacher.request is json");
  if (tc.answer == "json" && tc.answer_field.rfind('/', 0) != 0)
    throw Error("config key 'teacher.answer_field' must be a JSON pointer such as /mask when teacher.answer is json");
  for (const auto& h : tc.headers)
    if (h.find(':') == std::string::npos || h.find(':') == 0)
      throw Error("config key 'teacher.headers': '" + h.substr(0, h.find('$')) + "...' is not 'Name: value'");
  c.store.path = config_value<std::string>(t, "store.path");
  c.store.top_k = config_value<int>(t, "store.top_k");
  auto& o = c.optim;
  o.type = config_value<std::string>(t, "optim.type");
  o.lr = config_value<double>(t, "optim.lr");
  o.head_lr_mult = config_value<double>(t, "optim.head_lr_mult");
  o.weight_decay = config_value<double>(t, "optim.weight_decay");
  o.momentum = config_value<double>(t, "optim.momentum");
  o.betas = fixed<double, 2>(t, "optim.betas");
  o.warmup_iters = config_value<int>(t, "optim.warmup_iters");
  o.warmup_ratio = config_value<double>(t, "optim.warmup_ratio");
  o.poly_power = config_value<double>(t, "optim.poly_power");
  o.min_lr = config_value<double>(t, "optim.min_lr");
  auto& tr = c.train;
  tr.iterations = config_value<int>(t, "train.iterations");
  tr.time_budget_min = config_value<double>(t, "train.time_budget_min");
  if (tr.time_budget_min < 0) throw Error("config key 'train.time_budget_min' must be >= 0 (0 = off)");
  tr.time_budget_clock = config_value<std::string>(t, "train.time_budget_clock");
  if (tr.time_budget_clock != "wall" && tr.time_budget_clock != "cpu")
    throw Error("config key 'train.time_budget_clock' is '" + tr.time_budget_clock + "': expected wall or cpu");
  tr.batch_size = config_value<int>(t, "train.batch_size");
  tr.checkpoint_every = config_value<int>(t, "train.checkpoint_every");
  tr.eval_every = config_value<int>(t, "train.eval_every");
  tr.log_every = config_value<int>(t, "train.log_every");
  tr.seed = config_value<uint64_t>(t, "train.seed");
  tr.threads = config_value<int>(t, "train.threads");
  tr.workers = config_value<int>(t, "train.workers");
  tr.prefetch = config_value<int>(t, "train.prefetch");
  tr.channels_last = config_value<bool>(t, "train.channels_last");
  auto& e = c.eval;
  e.protocol = config_value<std::string>(t, "eval.protocol");
  e.mode = config_value<std::string>(t, "eval.mode");
  e.crop = fixed<int, 2>(t, "eval.crop");
  e.stride = fixed<int, 2>(t, "eval.stride");
  e.resize = fixed<int, 2>(t, "eval.resize");
  e.max_images = config_value<int>(t, "eval.max_images");
  e.mapping = config_value<std::string>(t, "eval.mapping");

  if (o.type != "adamw" && o.type != "sgd")
    throw Error("config key 'optim.type' must be adamw or sgd, not '" + o.type + "'");
  if (e.mode != "whole" && e.mode != "slide")
    throw Error("config key 'eval.mode' must be whole or slide, not '" + e.mode + "'");
  if (tr.iterations < 1) throw Error("config key 'train.iterations' must be at least 1");
  if (tr.batch_size < 1) throw Error("config key 'train.batch_size' must be at least 1");
  return c;
}

RunConfig load_config_text(const std::string& text, const std::vector<std::string>& overrides,
                           const std::string& origin) {
  YAML::Node merged = YAML::Clone(parse_yaml(kDefaults, "<defaults>"));
  merge_checked(merged, parse_yaml(text, origin), "", origin);
  for (const auto& o : overrides) apply_override(merged, o);
  return config_from_tree(merged);
}

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return load_config_text("", overrides, "<defaults>");
  return load_config_text(read_text_file(path), overrides, path);
}

std::string dump_config(const RunConfig& cfg) {
  YAML::Emitter out;
  out << cfg.tree;
  return std::string(out.c_str()) + "\n";
}

}  // namespace segtransfer
