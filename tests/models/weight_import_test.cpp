#include "models/weight_import.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

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

namespace {

// A torchvision state_dict of zeros with the names and shapes of a fixture listing
// (tests/models/data/torchvision/<model>.keys.txt: "name dtype shape" lines).
std::vector<std::pair<std::string, torch::Tensor>> torchvision_layout(const std::string& model) {
  std::ifstream in(fixture("torchvision/" + model + ".keys.txt"));
  EXPECT_TRUE(in.good()) << model;
  std::vector<std::pair<std::string, torch::Tensor>> entries;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, dtype, shape;
    fields >> name >> dtype >> shape;
    std::vector<int64_t> sizes;
    if (shape != "scalar") {
      std::istringstream dims(shape);
      for (std::string d; std::getline(dims, d, 'x');) sizes.push_back(std::stoll(d));
    }
    entries.emplace_back(name, torch::zeros(sizes, dtype == "int64" ? torch::kLong : torch::kFloat32));
  }
  return entries;
}

bool all_loaded_under(const ImportReport& report, const std::string& prefix, const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (n.rfind(prefix, 0) == 0 && std::find(report.loaded.begin(), report.loaded.end(), n) == report.loaded.end() &&
        n.find("num_batches_tracked") == std::string::npos)
      return false;
  return true;
}

std::vector<std::string> tensor_names(torch::nn::Module& m) {
  std::vector<std::string> names;
  for (const auto& p : m.named_parameters()) names.push_back(p.key());
  for (const auto& b : m.named_buffers()) names.push_back(b.key());
  return names;
}

}  // namespace

// model.init with a torchvision ImageNet classifier: its features.* become LR-ASPP's
// backbone.*, its 1000-class head is dropped, and only our decoder starts fresh.
TEST(ImportStateDict, TorchvisionMobileNetV3ClassifierFillsTheLrasppBackbone) {
  for (const auto& [classifier, student] : std::vector<std::pair<std::string, std::string>>{
           {"mobilenet_v3_large", "lraspp_mobilenet_v3_large"}, {"mobilenet_v3_small", "lraspp_mobilenet_v3_small"}}) {
    SegmentationModel model = make_model(student, 11);
    const ImportReport report = import_state_dict(*model, torchvision_layout(classifier));
    EXPECT_NE(report.layout.find("MobileNetV3 ImageNet classifier"), std::string::npos) << report.summary();
    EXPECT_TRUE(all_loaded_under(report, "backbone.", tensor_names(*model))) << report.summary();
    EXPECT_TRUE(report.unexpected.empty()) << report.summary();
    EXPECT_TRUE(report.mismatched.empty()) << report.summary();
    for (const auto& m : report.missing) EXPECT_EQ(m.rfind("classifier.", 0), 0u) << m;
  }
}

// A ResNet classifier: read under DeepLabV3's backbone.*, at DeepLab-V2's top level.
TEST(ImportStateDict, TorchvisionResNetClassifierFillsTheDeepLabBackbones) {
  SegmentationModel v3 = make_model("deeplabv3_resnet50", 19);
  const ImportReport r50 = import_state_dict(*v3, torchvision_layout("resnet50"));
  EXPECT_NE(r50.layout.find("read as backbone.*"), std::string::npos) << r50.summary();
  EXPECT_TRUE(all_loaded_under(r50, "backbone.", tensor_names(*v3))) << r50.summary();
  EXPECT_TRUE(r50.unexpected.empty()) << r50.summary();

  SegmentationModel v2 = make_model("deeplabv2_resnet101", 19);
  const ImportReport r101 = import_state_dict(*v2, torchvision_layout("resnet101"));
  EXPECT_NE(r101.layout.find("fc.* dropped"), std::string::npos) << r101.summary();
  for (const char* prefix : {"conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4."})
    EXPECT_TRUE(all_loaded_under(r101, prefix, tensor_names(*v2))) << prefix << "\n" << r101.summary();
  EXPECT_TRUE(r101.unexpected.empty()) << r101.summary();
  for (const auto& m : r101.missing) EXPECT_EQ(m.rfind("layer5.", 0), 0u) << m;
}

// torchvision's own segmentation checkpoints: the 21-class layers start fresh in an
// 11-class network and the report says which and why; the auxiliary head is dropped.
TEST(ImportStateDict, TorchvisionSegmentationCheckpointsWithOtherClasses) {
  SegmentationModel lraspp = make_model("lraspp_mobilenet_v3_large", 11);
  const ImportReport r = import_state_dict(*lraspp, torchvision_layout("lraspp_mobilenet_v3_large"));
  EXPECT_TRUE(r.layout.empty()) << r.summary();
  EXPECT_EQ(r.fresh_for_classes, (std::vector<std::string>{"classifier.low_classifier", "classifier.high_classifier"}));
  EXPECT_EQ(r.classes_in_archive, 21);
  EXPECT_EQ(r.classes_here, 11);
  EXPECT_NE(r.summary().find("start fresh, their class count differs (21 in the file, 11 here)"), std::string::npos)
      << r.summary();
  EXPECT_TRUE(r.unexpected.empty() && r.missing.empty()) << r.summary();

  SegmentationModel deeplab = make_model("deeplabv3_resnet50", 21);
  auto entries = torchvision_layout("deeplabv3_resnet50");
  const ImportReport d = import_state_dict(*deeplab, entries);
  EXPECT_TRUE(d.layout.empty()) << d.summary();
  EXPECT_TRUE(d.unexpected.empty() && d.missing.empty() && d.mismatched.empty()) << d.summary();
  // The published COCO weights carry an auxiliary head (aux_loss=True); there is none here.
  entries.emplace_back("aux_classifier.4.weight", torch::zeros({21, 256, 1, 1}));
  const ImportReport aux = import_state_dict(*deeplab, entries);
  EXPECT_NE(aux.layout.find("aux_classifier.* dropped"), std::string::npos) << aux.summary();
  EXPECT_TRUE(aux.unexpected.empty()) << aux.summary();
}

// A real torch.save file of torchvision's mobilenet_v3_small (zip format), end to end.
TEST(ImportStateDict, RealTorchvisionFileLoadsIntoTheBackbone) {
  const std::string path =
      std::string(SEGTRANSFER_SOURCE_DIR) + "/../shared/fixtures/torchvision/mobilenet_v3_small_random_init.pth";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not on this machine";
  SegmentationModel model = make_model("lraspp_mobilenet_v3_small", 19);
  const ImportReport report = import_state_dict(*model, path);
  EXPECT_NE(report.layout.find("MobileNetV3 ImageNet classifier"), std::string::npos) << report.summary();
  EXPECT_TRUE(all_loaded_under(report, "backbone.", tensor_names(*model))) << report.summary();
}
