// The table of training methods: name, constructor, what each reads.
#include <algorithm>

#include "core/error.h"
#include "methods/common/self_training.h"
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

// A config key naming a network: an unknown name is an error naming the key.
void require_model(const std::string& name, const std::string& key) {
  try {
    model_info(name);
  } catch (const Error& e) {
    throw Error("config key '" + key + "': " + e.what());
  }
}

// The option parsers a method's constructor runs, run alone by the dry run.
void no_options(const RunConfig&) {}
void corte_options(const RunConfig& c) { CorteOptions::for_method(c); }
void self_training_options(const RunConfig& c) { SelfTrainingOptions::from_config(c); }
void dual_teacher_options(const RunConfig& c) {
  self_training_options(c);
  require_model(DualTeacherOptions::from_config(c).teacher_model, "dual_teacher.teacher_model");
}
void stvm_options(const RunConfig& c) {
  self_training_options(c);
  StvmOptions::from_config(c);
}
void clda_options(const RunConfig& c) {
  self_training_options(c);
  require_model(CldaOptions::from_config(c).teacher_model, "clda.teacher_model");
}

// Each method's options check also checks the keys whose meaning depends on the method.
std::vector<MethodEntry> with_shared_checks(std::vector<MethodEntry> table) {
  for (auto& e : table)
    e.check_options = [own = e.check_options](const RunConfig& c) {
      target_rare_class_sampling(c);
      own(c);
    };
  return table;
}

}  // namespace

const std::vector<MethodEntry>& method_table() {
  static const std::vector<MethodEntry> table = with_shared_checks({
      {"source_only", construct<SourceOnly>, false, {}, no_options},
      {"corte", construct<Corte>, true, {}, corte_options},
      // plain, soft and threshold distillation: CoRTe with its baseline's parts fixed (CorteOptions)
      {"plain_distill", construct<Corte>, true, {}, corte_options},
      {"soft_distill", construct<Corte>, true, {}, corte_options},
      {"threshold_distill", construct<Corte>, true, {}, corte_options},
      {"dacs", construct<Dacs>, false, {}, self_training_options},
      {"dual_teacher", construct<DualTeacher>, false, {"dual_teacher.teacher_weights"}, dual_teacher_options},
      {"stvm", construct<Stvm>, false, {"stvm.source_weights"}, stvm_options},
      {"clda", construct<Clda>, false, {"clda.teacher_init"}, clda_options},
  });
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
