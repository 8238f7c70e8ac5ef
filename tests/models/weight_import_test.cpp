#include "models/weight_import.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "models/lraspp.h"
#include "test_util.h"

using namespace segtransfer;
using segtransfer::testing::TempDir;

namespace {

std::string fixture(const std::string& name) {
  return std::string(SEGTRANSFER_SOURCE_DIR) + "/tests/models/data/" + name;
}

void write_bytes(const std::filesystem::path& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

LRASPP small_model() { return LRASPP(LRASPPOptions(3).variant(MobileNetV3Variant::kSmall)); }

// A module with a parameter, a buffer and a child, named like the fixtures.
struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 2, 1).bias(false)));
    bn = register_module("bn", torch::nn::BatchNorm2d(2));
    fc = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(3, 2).bias(false)));
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(Tiny);

void expect_fixture_values(const std::vector<std::pair<std::string, torch::Tensor>>& entries) {
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].first, "conv.weight");
  EXPECT_TRUE(torch::equal(entries[0].second, torch::tensor({1.5f, -2.0f}).reshape({2, 1, 1, 1})));
  EXPECT_EQ(entries[1].first, "bn.running_mean");
  EXPECT_TRUE(torch::equal(entries[1].second, torch::tensor({0.25f, 0.5f})));
  EXPECT_EQ(entries[2].first, "bn.num_batches_tracked");
  EXPECT_EQ(entries[2].second.scalar_type(), torch::kLong);
  EXPECT_EQ(entries[2].second.dim(), 0);
  EXPECT_EQ(entries[2].second.item<int64_t>(), 7);
  EXPECT_EQ(entries[3].first, "fc.weight");
  EXPECT_TRUE(torch::equal(entries[3].second, torch::arange(6, torch::kFloat).reshape({3, 2}).t()));
}

}  // namespace

// Files laid out as Python's torch.save writes them (see data/make_torch_save_fixtures.py).
TEST(ReadStateDict, PythonZipFormat) { expect_fixture_values(read_state_dict(fixture("python_zip_state_dict.pth"))); }

TEST(ReadStateDict, PythonLegacyFormat) {
  expect_fixture_values(read_state_dict(fixture("python_legacy_state_dict.pth")));
}

TEST(ReadStateDict, CheckpointWithDataParallelPrefix) {
  expect_fixture_values(read_state_dict(fixture("python_zip_checkpoint.pth")));
}

TEST(ReadStateDict, ModelEntryOfATrainingCheckpoint) {
  TempDir dir;
  c10::Dict<std::string, at::Tensor> weights;
  weights.insert("module.conv.weight", torch::ones({2, 1, 1, 1}));
  c10::impl::GenericDict checkpoint(c10::StringType::get(), c10::AnyType::get());
  checkpoint.insert("iteration", int64_t{40000});
  checkpoint.insert("model", weights);
  write_bytes(dir / "ckpt.pth", torch::pickle_save(checkpoint));
  const auto entries = read_state_dict((dir / "ckpt.pth").string());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].first, "conv.weight");
}

// Every truncation and every single-byte corruption of a file ends in an Error
// (or, where the damage is harmless, a result), never in a crash.
TEST(ReadStateDict, DamagedFilesNeverCrash) {
  TempDir dir;
  for (const char* name : {"python_legacy_state_dict.pth", "python_zip_state_dict.pth"}) {
    std::ifstream in(fixture(name), std::ios::binary);
    const std::vector<char> original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string path = (dir / name).string();
    // Every byte of the small legacy file; a sample of the zip, whose damage LibTorch's
    // zip reader reports through slow (backtrace-capturing) exceptions.
    const size_t step = std::string(name).find("zip") != std::string::npos ? 37 : 1;
    for (size_t i = 0; i < original.size(); i += step) {
      std::vector<char> damaged = original;
      damaged[i] = static_cast<char>(damaged[i] ^ 0x5a);
      write_bytes(path, damaged);
      error_of([&] { read_state_dict(path); });
      write_bytes(path, std::vector<char>(original.begin(), original.begin() + i));
      const std::string error = error_of([&] { read_state_dict(path); });
      EXPECT_NE(error.find(path), std::string::npos) << "truncated at " << i << ": " << error;
    }
  }
}

TEST(ImportStateDict, PythonFixtureLoadsIntoMatchingModule) {
  Tiny tiny;
  const ImportReport report = import_state_dict(*tiny, fixture("python_legacy_state_dict.pth"));
  EXPECT_EQ(report.loaded,
            (std::vector<std::string>{"conv.weight", "bn.running_mean", "bn.num_batches_tracked", "fc.weight"}));
  EXPECT_EQ(report.missing, (std::vector<std::string>{"bn.weight", "bn.bias", "bn.running_var"}));
  EXPECT_TRUE(report.unexpected.empty());
  EXPECT_TRUE(torch::equal(tiny->fc->weight, torch::arange(6, torch::kFloat).reshape({3, 2}).t()));
  EXPECT_EQ(tiny->bn->num_batches_tracked.item<int64_t>(), 7);
}

TEST(ImportStateDict, SaveThenImportReproducesTheModel) {
  TempDir dir;
  const std::string path = (dir / "weights.pt").string();
  torch::manual_seed(1);
  LRASPP source = small_model();
  {
    torch::NoGradGuard no_grad;
    for (auto& b : source->buffers()) {
      if (b.is_floating_point()) b.uniform_(0.5, 1.5);  // running statistics must travel too
    }
  }
  save_state_dict(*source, path);

  torch::manual_seed(2);
  LRASPP target = small_model();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : target->parameters()) p.add_(1.0);
  }
  const ImportReport report = import_state_dict(*target, path, /*strict=*/true);
  EXPECT_EQ(report.loaded.size(), source->named_parameters().size() + source->named_buffers().size());
  EXPECT_TRUE(report.missing.empty() && report.unexpected.empty() && report.mismatched.empty()) << report.summary();

  source->eval();
  target->eval();
  const torch::Tensor x = torch::randn({1, 3, 32, 32});
  EXPECT_TRUE(torch::equal(source->forward(x), target->forward(x)));
}

TEST(ImportStateDict, ReportsMissingUnexpectedAndMisShaped) {
  TempDir dir;
  Tiny tiny;
  c10::Dict<std::string, at::Tensor> state;
  state.insert("conv.weight", torch::zeros({2, 1, 1, 1}));
  state.insert("bn.weight", torch::zeros({2}));
  state.insert("bn.bias", torch::zeros({5}));  // mis-shaped
  state.insert("bn.running_mean", torch::zeros({2}));
  state.insert("bn.running_var", torch::zeros({2}));
  state.insert("fc.weight", torch::zeros({2, 3}));
  state.insert("head.extra", torch::zeros({1}));  // unexpected; bn.num_batches_tracked is missing (tolerated:
                                                  // checkpoints older than PyTorch 0.4.1 have none)
  const std::string path = (dir / "partial.pt").string();
  write_bytes(path, torch::pickle_save(state));

  const torch::Tensor bias_before = tiny->bn->bias.clone();
  try {
    import_state_dict(*tiny, path, /*strict=*/true);
    FAIL() << "strict import did not throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find("head.extra"), std::string::npos) << m;
    EXPECT_EQ(m.find("num_batches_tracked"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  EXPECT_NE(tiny->conv->weight.abs().sum().item<double>(), 0.0);  // strict failure copies nothing

  const ImportReport report = import_state_dict(*tiny, path);
  EXPECT_EQ(report.loaded,
            (std::vector<std::string>{"conv.weight", "bn.weight", "bn.running_mean", "bn.running_var", "fc.weight"}));
  EXPECT_TRUE(report.missing.empty()) << report.summary();
  EXPECT_EQ(report.unexpected, (std::vector<std::string>{"head.extra"}));
  EXPECT_EQ(report.mismatched, (std::vector<std::string>{"bn.bias: archive [5] vs model [2]"}));
  EXPECT_EQ(tiny->conv->weight.abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(tiny->bn->bias, bias_before));
  EXPECT_NE(report.summary().find("1 unexpected"), std::string::npos) << report.summary();
}

TEST(ReadStateDict, BadFilesNameThePath) {
  TempDir dir;
  const std::string missing = (dir / "absent.pth").string();
  EXPECT_NE(error_of([&] { read_state_dict(missing); }).find(missing), std::string::npos);

  const std::string garbage = (dir / "garbage.pth").string();
  write_bytes(garbage, std::vector<char>(100, 'x'));
  const std::string garbage_error = error_of([&] { read_state_dict(garbage); });
  EXPECT_NE(garbage_error.find(garbage), std::string::npos) << garbage_error;

  const std::string broken_zip = (dir / "broken.pth").string();
  write_bytes(broken_zip, {'P', 'K', '\x03', '\x04', 'n', 'o', 'p', 'e'});
  const std::string zip_error = error_of([&] { read_state_dict(broken_zip); });
  EXPECT_NE(zip_error.find(broken_zip), std::string::npos) << zip_error;
  EXPECT_EQ(zip_error.find('\n'), std::string::npos) << zip_error;

  const std::string truncated = (dir / "truncated.pth").string();
  std::ifstream in(fixture("python_legacy_state_dict.pth"), std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  bytes.resize(bytes.size() - 10);
  write_bytes(truncated, bytes);
  EXPECT_NE(error_of([&] { read_state_dict(truncated); }).find(truncated), std::string::npos);

  const std::string list = (dir / "list.pth").string();
  write_bytes(list, torch::pickle_save(c10::List<int64_t>({1, 2})));
  const std::string list_error = error_of([&] { read_state_dict(list); });
  EXPECT_NE(list_error.find(list), std::string::npos) << list_error;
  EXPECT_NE(list_error.find("not a state_dict"), std::string::npos) << list_error;
}
