// The table of methods: every entry named in the schema, constructible by name,
// and its option check rejects a bad switch before any training starts.
#include <gtest/gtest.h>

#include "core/config.h"
#include "methods/clda.h"
#include "methods/common/self_training.h"
#include "methods/corte.h"
#include "methods/dual_teacher.h"
#include "methods/stvm.h"
#include "methods/method.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::error_of;

TEST(MethodTable, TheSchemaNamesEveryMethod) {
  const std::string& schema = default_config_yaml();
  const std::string method_comment = schema.substr(0, schema.find("\noutput:"));
  for (const auto& name : known_methods())
    EXPECT_NE(method_comment.find(" " + name), std::string::npos) << name << " is missing from: " << method_comment;
}

TEST(MethodTable, UnknownMethodListsTheKnownOnes) {
  const std::string error = error_of([] { method_entry("cortex"); });
  EXPECT_NE(error.find("unknown method 'cortex'"), std::string::npos) << error;
  for (const auto& name : known_methods()) EXPECT_NE(error.find(name), std::string::npos) << error;
}

TEST(MethodTable, OptionChecksRejectABadSwitch) {
  for (const auto& [method, bad] :
       std::vector<std::pair<std::string, std::string>>{{"corte", "corte.thresholds=perclass"},
                                                        {"plain_distill", "corte.statistic=median"},
                                                        {"stvm", "stvm.weighting=both"},
                                                        {"clda", "clda.teacher_model=resnet"},
                                                        {"dual_teacher", "dual_teacher.teacher_model=resnet"}}) {
    const std::string weights = "stvm.source_weights=source/model.pt";  // STvM requires it
    const RunConfig ok = load_config("", {"method=" + method, weights});
    EXPECT_NO_THROW(method_entry(method).check_options(ok)) << method;
    const RunConfig config = load_config("", {"method=" + method, weights, bad});
    const std::string key = bad.substr(0, bad.find('='));
    const std::string error = error_of([&] { method_entry(method).check_options(config); });
    EXPECT_NE(error.find(key), std::string::npos) << method << ": " << error;
  }
}

TEST(MethodTable, CorteSwitchesParseToTheirEnums) {
  const RunConfig config = load_config(
      "", {"method=corte", "corte.pseudo_labels=absolute", "corte.thresholds=global", "corte.statistic=percentile"});
  const ThresholdRule rule = CorteOptions::for_method(config).threshold_rule();
  EXPECT_EQ(rule.pseudo_labels, PseudoLabelKind::kAbsolute);
  EXPECT_EQ(rule.thresholds, ThresholdScope::kGlobal);
  EXPECT_EQ(rule.statistic, ThresholdStatistic::kPercentile);
  // The baselines fix their parts whatever the section says.
  const RunConfig plain = load_config("", {"method=plain_distill", "corte.pseudo_labels=absolute"});
  EXPECT_EQ(CorteOptions::for_method(plain).pseudo_labels, PseudoLabelKind::kArgmax);
}

// The schema is the source of every default; the option structs' own initialisers
// (what code building options by hand gets) must say the same.
TEST(MethodTable, OptionStructDefaultsAgreeWithTheSchema) {
#define SAME(field) EXPECT_EQ(plain.field, schema.field) << #field
  {
    const CorteOptions plain, schema = CorteOptions::for_method(load_config("", {"method=corte"}));
    SAME(pseudo_labels);
    SAME(thresholds);
    SAME(statistic);
    SAME(percentile);
    SAME(fixed_threshold);
    SAME(soft_until);
    SAME(temperature);
    SAME(refine);
    SAME(refine_start);
    SAME(refine_min_agreement);
    SAME(refine_max_replaced);
    SAME(ema_momentum);
    SAME(ema_statistics);
    SAME(mix);
    SAME(plain_view);
    SAME(strong_augment);
    SAME(kept_share_weight);
    SAME(class_balance);
    SAME(diagnostics_every);
    SAME(evaluate_ema);
    SAME(strong.jitter_strength);
    SAME(strong.jitter_p);
    SAME(strong.blur_p);
    SAME(strong.mean);
    SAME(strong.std);
  }
  {
    const SelfTrainingOptions plain, schema = SelfTrainingOptions::from_config(load_config(""));
    SAME(pseudo_threshold);
    SAME(ema_momentum);
    SAME(ignore_top);
    SAME(ignore_bottom);
    SAME(mix);
    SAME(strong_augment);
    SAME(strong.jitter_strength);
    SAME(strong.jitter_p);
    SAME(strong.blur_p);
  }
  {
    const StvmOptions plain, schema = StvmOptions::from_config(load_config("", {"stvm.source_weights=s.pt"}));
    SAME(embedding_dim);
    SAME(max_anchor_pixels);
    SAME(alpha);
    SAME(delta);
    SAME(sharpen);
    SAME(metric_weight);
    SAME(metric_mix);
    SAME(freeze_backbone);
    SAME(balance_reliability);
    SAME(weighting);
  }
  {
    const CldaOptions plain, schema = CldaOptions::from_config(load_config(""));
    SAME(teacher_model);
    SAME(teacher_init);
    SAME(saliency_momentum);
    SAME(nonsalient_quantile);
    SAME(saliency_epsilon);
    SAME(update_every);
    SAME(temperature);
    SAME(distill_weight);
  }
  {
    const DualTeacherOptions plain, schema = DualTeacherOptions::from_config(load_config(""));
    SAME(teacher_model);
    SAME(teacher_weights);
    SAME(feature_weight);
    SAME(kl_weight);
    SAME(temperature);
    SAME(on_source);
    SAME(on_target);
  }
#undef SAME
}
