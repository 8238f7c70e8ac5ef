// Reading files written by Python's torch.save, both the zip format (PyTorch
// >= 1.6) and the legacy format (older checkpoints, many published weights).
// LibTorch 1.13's torch::pickle_load cannot read them: its unpickler turns the
// OrderedDict of every state_dict into None. This reader interprets the pickle
// subset torch.save emits and materialises tensors; objects it does not know
// (numpy scalars, argparse.Namespace, ...) become opaque values, so whole
// training checkpoints load as long as the tensors sit in dicts/lists/tuples.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace segtransfer {

struct TorchValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kTensor, kGlobal, kOther };
  Kind kind = Kind::kNone;
  int64_t int_value = 0;  // kBool, kInt
  double float_value = 0;
  // kString: the text; kGlobal: "module.name" of a class/function reference;
  // kOther: what the opaque object was built from.
  std::string text;
  // kTuple, kList; shared so that every reference to a list sees its appends.
  std::shared_ptr<std::vector<TorchValue>> items;
  // kDict, in insertion order.
  std::shared_ptr<std::vector<std::pair<TorchValue, TorchValue>>> entries;
  torch::Tensor tensor;

  // The value stored under a string key of a dict, or nullptr.
  const TorchValue* find(const std::string& key) const;
  std::string kind_name() const;
};

// Throws Error naming `path` when it is unreadable, not a torch.save file, or corrupt.
TorchValue load_torch_save(const std::string& path);

}  // namespace segtransfer
