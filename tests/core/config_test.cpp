#include "core/config.h"

#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "test_util.h"

using namespace segtransfer;

TEST(Config, DefaultsParse) {
  RunConfig c = load_config("");
  EXPECT_EQ(c.method, "source_only");
  EXPECT_EQ(c.train.iterations, 40000);
  EXPECT_EQ(c.data.augment.crop[0], 0);
  EXPECT_DOUBLE_EQ(c.optim.betas[1], 0.999);
}

TEST(Config, FileAndOverridesMerge) {
  RunConfig c = load_config_text("train: {iterations: 10}\ndata: {augment: {crop: [64, 32]}}\n",
                                 {"optim.lr=0.01", "model.name=espnet"});
  EXPECT_EQ(c.train.iterations, 10);
  EXPECT_EQ(c.train.batch_size, 2);  // untouched default
  EXPECT_EQ(c.data.augment.crop[0], 64);
  EXPECT_EQ(c.data.augment.crop[1], 32);
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.01);
  EXPECT_EQ(c.model.name, "espnet");
}

TEST(Config, UnknownKeyIsNamedWithSuggestion) {
  try {
    load_config_text("train: {iteratons: 10}\n", {}, "my.yaml");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("train.iteratons"), std::string::npos) << m;
    EXPECT_NE(m.find("my.yaml"), std::string::npos) << m;
    EXPECT_NE(m.find("train.iterations"), std::string::npos) << m;  // did you mean
  }
  EXPECT_THROW(load_config_text("", {"train.nope=1"}), Error);
  EXPECT_THROW(load_config_text("", {"no_equals_sign"}), Error);
}

// Found by the config fuzzer: a list or mapping used as a key escaped as a yaml-cpp exception.
TEST(Config, NonScalarKeyIsAConfigError) {
  for (const char* text : {"[a, b]: 1\n", "train: {? {x: 1} : 2}\n", "data: {augment: {[crop]: 3}}\n"}) {
    try {
      load_config_text(text, {}, "keys.yaml");
      FAIL() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("keys.yaml"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("plain name"), std::string::npos) << e.what();
    }
  }
}

TEST(Config, WrongTypeNamesKey) {
  try {
    load_config_text("train: {iterations: many}\n");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.iterations"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_config_text("optim: {type: rmsprop}\n"), Error);
  EXPECT_THROW(load_config_text("data: {augment: {crop: [1, 2, 3]}}\n"), Error);
}

TEST(Config, DumpRoundTrips) {
  RunConfig c = load_config_text("train: {iterations: 7}\n", {"model.num_classes=11"});
  RunConfig d = load_config_text(dump_config(c));
  EXPECT_EQ(d.train.iterations, 7);
  EXPECT_EQ(d.model.num_classes, 11);
}

TEST(AtomicFile, FailedWriteLeavesOldFileIntact) {
  segtransfer::testing::TempDir dir;
  auto target = dir / "f.txt";
  write_text_atomically(target, "old");
  EXPECT_THROW(write_atomically(target,
                                [](const std::filesystem::path& tmp) {
                                  write_text_atomically(tmp, "partial");
                                  throw Error("simulated failure");
                                }),
               Error);
  EXPECT_EQ(read_text_file(target), "old");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++files;
  EXPECT_EQ(files, 1);  // no temporary left behind
}

// Temporaries of a process that is gone are removed; those of a live one (here: this
// process) and ordinary files stay.
TEST(AtomicFile, StaleTemporariesOfDeadProcessesAreRemoved) {
  segtransfer::testing::TempDir dir;
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);  // its pid now names no process
  const std::string dead = std::to_string(child), alive = std::to_string(getpid());
  for (const std::string& name : {"checkpoint.pt.tmp." + dead, "m.topk.tmp." + dead, "model.pt.tmp." + alive,
                                  std::string("notes.tmp.txt"), std::string("checkpoint.pt")})
    write_text_atomically(dir / name, "x");
  EXPECT_EQ(remove_stale_temporaries(dir.path()), 2);
  EXPECT_FALSE(std::filesystem::exists(dir / ("checkpoint.pt.tmp." + dead)));
  EXPECT_TRUE(std::filesystem::exists(dir / ("model.pt.tmp." + alive)));
  EXPECT_TRUE(std::filesystem::exists(dir / "notes.tmp.txt"));
  EXPECT_TRUE(std::filesystem::exists(dir / "checkpoint.pt"));
  EXPECT_EQ(remove_stale_temporaries(dir / "no_such_folder"), 0);
}

// The schema text is the source of every default; the structs' own initialisers
// (used where code builds a spec by hand) must say the same.
TEST(Config, StructDefaultsAgreeWithTheSchema) {
  const RunConfig schema = load_config("");
  const RunConfig plain;
#define SAME(field) EXPECT_EQ(plain.field, schema.field) << #field
  SAME(method);
  SAME(output);
  SAME(device);
  SAME(model.name);
  SAME(model.num_classes);
  SAME(model.init);
  SAME(model.norm_eval);
  for (const auto* role : {"source", "target", "val"}) {
    const DatasetSpec& d = std::string(role) == "source"   ? schema.data.source
                           : std::string(role) == "target" ? schema.data.target
                                                           : schema.data.val;
    EXPECT_EQ(d.type, DatasetSpec{}.type) << role;
    EXPECT_EQ(d.list, DatasetSpec{}.list) << role;
    EXPECT_EQ(d.label_space, DatasetSpec{}.label_space) << role;
  }
  // data.*.split and .labels are the exception: their defaults depend on the role (source and
  // target read train, val reads val; target is unlabelled), which one struct default cannot say.
  // DatasetSpec{} leaves split empty and labels true, the schema sets each role's.
  EXPECT_EQ(schema.data.source.split, "train");
  EXPECT_EQ(schema.data.val.split, "val");
  EXPECT_EQ(DatasetSpec{}.labels, schema.data.source.labels);
  SAME(data.augment.resize);
  SAME(data.augment.scale_range);
  SAME(data.augment.crop);
  SAME(data.augment.cat_max_ratio);
  SAME(data.augment.hflip);
  SAME(data.augment.jitter_strength);
  SAME(data.augment.jitter_p);
  SAME(data.augment.blur_p);
  SAME(data.rare_class_sampling.enabled);
  SAME(data.rare_class_sampling.target);
  SAME(data.rare_class_sampling.temperature);
  SAME(data.rare_class_sampling.min_pixels);
  SAME(data.rare_class_sampling.cache_dir);
  SAME(data.mean);
  SAME(data.std);
  SAME(optim.type);
  SAME(optim.lr);
  SAME(optim.head_lr_mult);
  SAME(optim.weight_decay);
  SAME(optim.momentum);
  SAME(optim.betas);
  SAME(optim.warmup_iters);
  SAME(optim.warmup_ratio);
  SAME(optim.poly_power);
  SAME(optim.min_lr);
  SAME(train.iterations);
  SAME(train.batch_size);
  SAME(train.time_budget_min);
  SAME(train.time_budget_clock);
  SAME(train.checkpoint_every);
  SAME(train.eval_every);
  SAME(train.log_every);
  SAME(train.seed);
  SAME(train.threads);
  SAME(train.workers);
  SAME(train.prefetch);
  SAME(train.channels_last);
  SAME(eval.protocol);
  SAME(eval.mode);
  SAME(eval.crop);
  SAME(eval.stride);
  SAME(eval.resize);
  SAME(eval.max_images);
  SAME(eval.mapping);
  SAME(teacher.type);
  SAME(teacher.output);
  SAME(teacher.num_classes);
  SAME(teacher.mapping);
  SAME(teacher.input_size);
  SAME(teacher.concurrency);
  SAME(teacher.timeout_s);
  SAME(teacher.retries);
  SAME(teacher.backoff_ms);
  SAME(teacher.budget);
  SAME(teacher.headers);
  SAME(teacher.request);
  SAME(teacher.request_template);
  SAME(teacher.answer);
  SAME(teacher.answer_field);
  SAME(teacher.augment_scales);
  SAME(teacher.augment_hflip);
  SAME(store.path);
  SAME(store.top_k);
#undef SAME
}

TEST(Config, ChoiceNamesTheKeyAndEveryAcceptedValue) {
  enum class Colour { kRed, kBlue };
  constexpr std::array<std::pair<std::string_view, Colour>, 2> names{{{"red", Colour::kRed}, {"blue", Colour::kBlue}}};
  const YAML::Node tree = YAML::Load("paint: {colour: blue, other: grene}");
  EXPECT_EQ(config_choice(tree, "paint.colour", names), Colour::kBlue);
  EXPECT_EQ(choice_name(Colour::kRed, names), "red");
  EXPECT_EQ(segtransfer::testing::error_of([&] { config_choice(tree, "paint.other", names); }),
            "config key 'paint.other' is 'grene': expected red | blue");
}
