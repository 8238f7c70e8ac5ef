#include "models/weight_import.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unordered_map>
#include <unordered_set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "models/torch_archive.h"

namespace segtransfer {

namespace {

bool is_state_dict(const TorchValue& v) {
  if (v.kind != TorchValue::Kind::kDict) return false;
  for (const auto& [key, value] : *v.entries) {
    if (key.kind != TorchValue::Kind::kString || value.kind != TorchValue::Kind::kTensor) return false;
  }
  return true;
}

// The module's parameters and buffers in PyTorch's state_dict order: module by
// module, parameters before buffers.
std::vector<std::pair<std::string, torch::Tensor>> module_tensors(torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& item : module.named_modules()) {
    const std::string prefix = item.key().empty() ? "" : item.key() + ".";
    for (const auto& p : item.value()->named_parameters(/*recurse=*/false))
      tensors.emplace_back(prefix + p.key(), p.value());
    for (const auto& b : item.value()->named_buffers(/*recurse=*/false))
      tensors.emplace_back(prefix + b.key(), b.value());
  }
  return tensors;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

}  // namespace

std::string ImportReport::summary() const {
  std::string out = std::to_string(loaded.size()) + " tensors loaded, " + std::to_string(missing.size()) +
                    " missing, " + std::to_string(unexpected.size()) + " unexpected, " +
                    std::to_string(mismatched.size()) + " mis-shaped";
  if (!layout.empty()) out += "\nlayout: " + layout;
  if (!fresh_for_classes.empty())
    out += "\nstart fresh, their class count differs (" + std::to_string(classes_in_archive) + " in the file, " +
           std::to_string(classes_here) + " here): " + join(fresh_for_classes, ", ");
  if (!missing.empty()) out += "\nmissing (kept as initialised): " + join(missing, ", ");
  if (!unexpected.empty()) out += "\nunexpected (ignored): " + join(unexpected, ", ");
  if (!mismatched.empty()) out += "\nmis-shaped (kept as initialised): " + join(mismatched, "; ");
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> read_state_dict(const std::string& path) {
  const TorchValue root = load_torch_save(path);
  const TorchValue* dict = &root;
  if (!is_state_dict(*dict)) {
    for (const char* key : {"state_dict", "model"}) {
      const TorchValue* inner = root.find(key);
      if (inner && is_state_dict(*inner)) {
        dict = inner;
        break;
      }
    }
  }
  if (!is_state_dict(*dict)) {
    throw Error("weights file '" + path + "' holds a " + root.kind_name() +
                ", not a state_dict (a dict of tensors, possibly under \"state_dict\" or \"model\")");
  }
  std::vector<std::pair<std::string, torch::Tensor>> entries;
  for (const auto& [key, value] : *dict->entries) {
    const bool data_parallel = key.text.rfind("module.", 0) == 0;
    entries.emplace_back(data_parallel ? key.text.substr(7) : key.text, value.tensor);
  }
  return entries;
}

namespace {

using Entries = std::vector<std::pair<std::string, torch::Tensor>>;

// One way to read an archive's names: entries under `head` dropped, then `from` at the
// start of a name replaced by `to` (an empty `from`: `to` put in front of every name).
struct Renaming {
  const char* from;
  const char* to;
  const char* head;
  const char* description;  // "" for the archive's own names
};

constexpr Renaming kRenamings[] = {
    {"", "", "", ""},
    {"", "", "aux_classifier.", "torchvision segmentation checkpoint, its auxiliary head aux_classifier.* dropped"},
    {"features.", "backbone.", "classifier.",
     "torchvision MobileNetV3 ImageNet classifier: features.* read as backbone.*, its classifier.* dropped"},
    {"", "backbone.", "fc.", "torchvision ResNet ImageNet classifier: read as backbone.*, its fc.* dropped"},
    {"", "", "fc.", "torchvision ResNet ImageNet classifier, its fc.* dropped"},
};

Entries renamed(const Entries& entries, const Renaming& r) {
  Entries out;
  const std::string from = r.from, to = r.to, head = r.head;
  for (const auto& [name, tensor] : entries) {
    if (!head.empty() && name.rfind(head, 0) == 0) continue;
    if (from.empty())
      out.emplace_back(to + name, tensor);
    else
      out.emplace_back(name.rfind(from, 0) == 0 ? to + name.substr(from.size()) : name, tensor);
  }
  return out;
}

// The renaming under which most entries land on a tensor of the same name and shape;
// on a tie the one leaving fewer names unmatched, then the earlier one.
std::pair<Entries, std::string> best_layout(const Entries& entries,
                                            const std::unordered_map<std::string, torch::Tensor>& by_name) {
  Entries best;
  std::string description;
  int64_t best_matched = -1, best_unmatched = 0;
  for (const Renaming& r : kRenamings) {
    Entries candidate = renamed(entries, r);
    int64_t matched = 0;
    for (const auto& [name, tensor] : candidate) {
      const auto it = by_name.find(name);
      matched += it != by_name.end() && it->second.sizes() == tensor.sizes();
    }
    const int64_t unmatched = static_cast<int64_t>(candidate.size()) - matched;
    if (matched > best_matched || (matched == best_matched && unmatched < best_unmatched)) {
      best = std::move(candidate), description = r.description;
      best_matched = matched, best_unmatched = unmatched;
    }
  }
  return {best, description};
}

}  // namespace

ImportReport import_state_dict(torch::nn::Module& module, const Entries& archive_entries, bool strict) {
  const auto targets = module_tensors(module);
  std::unordered_map<std::string, torch::Tensor> by_name;
  for (const auto& [name, tensor] : targets) by_name.emplace(name, tensor);

  ImportReport report;
  const auto [entries, layout] = best_layout(archive_entries, by_name);
  report.layout = layout;
  std::unordered_set<std::string> in_archive, mis_shaped;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (target, source)
  for (const auto& [name, source] : entries) {
    in_archive.insert(name);
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      report.unexpected.push_back(name);
    } else if (it->second.sizes() != source.sizes()) {
      mis_shaped.insert(name);
      report.mismatched.push_back(name + ": archive " + c10::str(source.sizes()) + " vs model " +
                                  c10::str(it->second.sizes()));
      const auto a = source.sizes(), m = it->second.sizes();
      if (a.size() == m.size() && !a.empty() && a.slice(1) == m.slice(1)) {  // only the class count differs
        const std::string module_name = name.substr(0, name.rfind('.'));
        if (std::find(report.fresh_for_classes.begin(), report.fresh_for_classes.end(), module_name) ==
            report.fresh_for_classes.end())
          report.fresh_for_classes.push_back(module_name);
        report.classes_in_archive = a[0], report.classes_here = m[0];
      }
    } else {
      copies.emplace_back(it->second, source);
    }
  }
  // BatchNorm's step counter arrived with PyTorch 0.4.1; older checkpoints lack it and
  // PyTorch itself loads them (it only matters with momentum=None, unused here).
  auto is_step_counter = [](const std::string& name) {
    const std::string suffix = "num_batches_tracked";
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (const auto& [name, tensor] : targets) {
    if (!in_archive.count(name)) {
      if (!is_step_counter(name)) report.missing.push_back(name);
    } else if (!mis_shaped.count(name)) {
      report.loaded.push_back(name);
    }
  }

  if (strict && (!report.missing.empty() || !report.unexpected.empty() || !report.mismatched.empty())) {
    std::vector<std::string> problems;
    if (!report.missing.empty()) problems.push_back("missing: " + join(report.missing, ", "));
    if (!report.unexpected.empty()) problems.push_back("unexpected: " + join(report.unexpected, ", "));
    if (!report.mismatched.empty()) problems.push_back("mis-shaped: " + join(report.mismatched, ", "));
    throw Error("strict weight import failed (" + join(problems, "; ") + ")");
  }

  torch::NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.copy_(source);
  return report;
}

ImportReport import_state_dict(torch::nn::Module& module, const std::string& path, bool strict) {
  const auto entries = read_state_dict(path);
  try {
    return import_state_dict(module, entries, strict);
  } catch (const Error& e) {
    throw Error("weights file '" + path + "': " + e.what());
  }
}

void save_state_dict(torch::nn::Module& module, const std::string& path) {
  c10::Dict<std::string, at::Tensor> state;
  for (const auto& [name, tensor] : module_tensors(module))
    state.insert(name, tensor.detach().to(torch::kCPU).contiguous());  // plain NCHW files, whatever the training layout
  const std::vector<char> bytes = torch::pickle_save(state);
  write_atomically(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw Error("cannot write weights file '" + path + "'");
  });
}

void load_model_weights(const std::string& path, SegmentationModelImpl& model) {
  if (!std::filesystem::exists(path)) throw Error("weights file " + path + " does not exist");
  // A training checkpoint holds the model under "model"; anything else is taken
  // to be a PyTorch state_dict archive.
  torch::serialize::InputArchive archive, model_archive;
  bool is_checkpoint = false;
  try {
    archive.load_from(path);
    is_checkpoint = archive.try_read("model", model_archive);
  } catch (const c10::Error&) {
  }
  if (is_checkpoint) {
    try {
      model.load(model_archive);
      return;
    } catch (const c10::Error& e) {
      throw Error("checkpoint " + path + " does not fit model " + model.architecture());
    }
  }
  import_state_dict(model, path, /*strict=*/true);
}

}  // namespace segtransfer
