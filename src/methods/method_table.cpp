// The table of training methods: name, constructor, what each reads.
#include <algorithm>

#include "core/error.h"
#include "methods/clda.h"
#include "methods/corte.h"
#include "methods/dacs.h"
#include "methods/dual_teacher.h"
#include "methods/method.h"
#include "methods/source_only.h"
#include "methods/stvm.h"

namespace segtransfer {

namespace {

template <typename Method>
std::unique_ptr<TrainingMethod> construct(MethodContext context) {
  return std::make_unique<Method>(std::move(context));
}

}  // namespace

const std::vector<MethodEntry>& method_table() {
  static const std::vector<MethodEntry> table = {
      {"source_only", construct<SourceOnly>, false, {}},
      {"corte", construct<Corte>, true, {}},
      {"plain_distill", construct<Corte>, true, {}},  // CoRTe with its baseline's parts fixed (CorteOptions)
      {"soft_distill", construct<Corte>, true, {}},
      {"threshold_distill", construct<Corte>, true, {}},
      {"dacs", construct<Dacs>, false, {}},
      {"dual_teacher", construct<DualTeacher>, false, {"dual_teacher.teacher_weights"}},
      {"stvm", construct<Stvm>, false, {"stvm.source_weights"}},
      {"clda", construct<Clda>, false, {"clda.teacher_init"}},
  };
  return table;
}

const MethodEntry& method_entry(const std::string& name) {
  const auto& table = method_table();
  const auto it = std::find_if(table.begin(), table.end(), [&](const MethodEntry& e) { return e.name == name; });
  if (it != table.end()) return *it;
  std::string list;
  for (const auto& e : table) list += (list.empty() ? "" : ", ") + e.name;
  throw Error("unknown method '" + name + "' (config key 'method'; known: " + list + ")");
}

std::vector<std::string> known_methods() {
  std::vector<std::string> names;
  for (const auto& e : method_table()) names.push_back(e.name);
  return names;
}

}  // namespace segtransfer
