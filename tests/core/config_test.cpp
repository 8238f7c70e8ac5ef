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
  EXPECT_THROW(write_atomically(target, [](const std::filesystem::path& tmp) {
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
