#include "engine/checkpoint.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "models/weight_import.h"

namespace segtransfer {
namespace {
constexpr int64_t kFormatVersion = 1;

at::Generator cpu_generator() { return at::detail::getDefaultCPUGenerator(); }
}  // namespace

void save_checkpoint(const std::string& path, const CheckpointInfo& info, SegmentationModelImpl& model,
                     const torch::optim::Optimizer& optimizer, const TrainingMethod& method) {
  torch::serialize::OutputArchive archive, model_archive, optim_archive, method_archive;
  archive.write("format_version", torch::tensor(kFormatVersion));
  archive.write("iteration", torch::tensor(info.iteration));
  archive.write("elapsed_s", torch::tensor(info.elapsed_s, torch::kDouble));
  archive.write("model_name", c10::IValue(info.model_name));
  {
    auto gen = cpu_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("rng_cpu", gen.get_state());
  }
  model.save(model_archive);
  optimizer.save(optim_archive);
  method.save_state(method_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optim_archive);
  archive.write("method", method_archive);
  // Serialised in memory first: LibTorch's file writer throws from a destructor
  // when the disk fills (std::terminate, found by tests/engine/resource_faults_test.cpp);
  // a failed write of the bytes here is an ordinary error, the old checkpoint intact.
  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string data = bytes.str();
  write_atomically(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    errno = 0;
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out.flush())
      throw Error(fmt::format("cannot write checkpoint {} ({:.1f} MB): {}; the previous checkpoint is kept", path,
                              data.size() / 1e6, errno ? std::strerror(errno) : "write failed"));
  });
}

namespace {
torch::serialize::InputArchive open_archive(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error("checkpoint " + path + " does not exist");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw Error("cannot read checkpoint " + path + ": not a segtransfer checkpoint or corrupt");
  }
  return archive;
}

// Format version, model name (checked against `model_name`) and iteration.
CheckpointInfo read_header(torch::serialize::InputArchive& archive, const std::string& path,
                           const std::string& model_name) {
  CheckpointInfo info;
  torch::Tensor version, iteration;
  archive.read("format_version", version);
  if (version.item<int64_t>() != kFormatVersion)
    throw Error("checkpoint " + path + " has format version " + std::to_string(version.item<int64_t>()) +
                ", this build reads " + std::to_string(kFormatVersion));
  c10::IValue name;
  archive.read("model_name", name);
  info.model_name = name.toStringRef();
  if (info.model_name != model_name)
    throw Error("checkpoint " + path + " holds a " + info.model_name + ", the config asks for " + model_name);
  archive.read("iteration", iteration);
  info.iteration = iteration.item<int64_t>();
  return info;
}
}  // namespace

CheckpointInfo load_checkpoint(const std::string& path, const std::string& model_name, SegmentationModelImpl& model,
                               torch::optim::Optimizer& optimizer, TrainingMethod& method) {
  auto archive = open_archive(path);
  CheckpointInfo info;
  try {
    info = read_header(archive, path, model_name);
    torch::Tensor rng, elapsed;
    if (archive.try_read("elapsed_s", elapsed)) info.elapsed_s = elapsed.item<double>();  // absent before 0.2
    torch::serialize::InputArchive model_archive, optim_archive, method_archive;
    archive.read("model", model_archive);
    archive.read("optimizer", optim_archive);
    archive.read("method", method_archive);
    model.load(model_archive);
    optimizer.load(optim_archive);
    method.load_state(method_archive);
    archive.read("rng_cpu", rng);
    auto gen = cpu_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
  } catch (const c10::Error& e) {
    throw Error("checkpoint " + path + " does not match this run (different method or model?): " +
                std::string(e.what_without_backtrace()).substr(0, 200));
  }
  return info;
}

SavedMethodState read_method_state(const std::string& path, const std::string& model_name) {
  SavedMethodState saved{{}, open_archive(path), {}};
  try {
    saved.info = read_header(saved.checkpoint, path, model_name);
    saved.checkpoint.read("method", saved.state);
  } catch (const c10::Error& e) {
    throw Error("cannot read checkpoint " + path + ": " + std::string(e.what_without_backtrace()).substr(0, 200));
  }
  return saved;
}

}  // namespace segtransfer
