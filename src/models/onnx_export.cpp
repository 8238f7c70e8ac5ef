// Debian's libonnx ships only the ONNX-ML protobuf header, generated in namespace
// onnx; its CMake target would add these two definitions to every source of the
// library (and invalidate the precompiled header), so they are set here alone.
#define ONNX_ML 1
#define ONNX_NAMESPACE onnx
#include "models/onnx_export.h"

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>

#include <fstream>
#include <map>
#include <numeric>
#include <unordered_map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "models/inference_fusion.h"
#include "models/model.h"
#include "models/torchscript_export.h"

namespace segtransfer {
namespace {

using torch::jit::Node;
using torch::jit::Value;

std::string op_name(const Node* node) { return node->kind().toQualString(); }

// Translates a traced inference graph (aten operators, weights as constants) into
// an ONNX graph, one operator at a time. Constant inputs (sizes, strides, flags)
// become attributes; tensor constants become initializers.
class OnnxGraphWriter {
 public:
  explicit OnnxGraphWriter(onnx::GraphProto& graph) : graph_(graph) {}

  void translate(const torch::jit::Graph& traced) {
    if (traced.inputs().size() != 1 || traced.outputs().size() != 1)
      throw Error("ONNX export: expected a graph with one input and one output");
    output_ = traced.outputs()[0];
    names_[traced.inputs()[0]] = "image";
    add_value_info(graph_.add_input(), "image", traced.inputs()[0]);
    for (const Node* node : traced.nodes()) translate(node);
    std::string result = name_of(output_);
    if (result != "logits") add_node("Identity", {result}, {"logits"});  // the output aliases another value
    add_value_info(graph_.add_output(), "logits", output_);
  }

  int64_t initializers() const { return graph_.initializer_size(); }

 private:
  void translate(const Node* node) {
    std::string op = op_name(node);
    if (op == "prim::Constant" || op == "prim::ListConstruct") return;                 // read by their users
    if (op.size() > 1 && op.back() == '_' && op[op.size() - 2] != '_') op.pop_back();  // in-place = out-of-place here
    const auto in = node->inputs();
    const Value* out = node->output();
    if (op == "aten::conv2d") {
      convolution(node, "Conv", in[0], in[1], in[2], ints(in[3]), ints(in[4]), ints(in[5]), {}, integer(in[6]));
    } else if (op == "aten::conv_transpose2d") {
      convolution(node, "ConvTranspose", in[0], in[1], in[2], ints(in[3]), ints(in[4]), ints(in[7]), ints(in[5]),
                  integer(in[6]));
    } else if (op == "aten::_convolution") {
      convolution(node, boolean(in[6]) ? "ConvTranspose" : "Conv", in[0], in[1], in[2], ints(in[3]), ints(in[4]),
                  ints(in[5]), boolean(in[6]) ? ints(in[7]) : std::vector<int64_t>{}, integer(in[8]));
    } else if (op == "aten::batch_norm") {
      batch_norm(node);
    } else if (op == "aten::relu") {
      add_node("Relu", {name_of(in[0])}, {name_of(out)});
    } else if (op == "aten::sigmoid") {
      add_node("Sigmoid", {name_of(in[0])}, {name_of(out)});
    } else if (op == "aten::hardsigmoid") {
      hard_sigmoid(name_of(in[0]), name_of(out));
    } else if (op == "aten::hardswish") {
      // x · hardsigmoid(x): HardSwish itself is opset 14; torch.onnx writes this pair below it.
      const std::string gate = fresh_name("hardsigmoid");
      hard_sigmoid(name_of(in[0]), gate);
      add_node("Mul", {name_of(in[0]), gate}, {name_of(out)});
    } else if (op == "aten::hardtanh") {
      add_node("Clip", {name_of(in[0]), scalar_initializer(number(in[1])), scalar_initializer(number(in[2]))},
               {name_of(out)});
    } else if (op == "aten::prelu") {
      prelu(node);
    } else if (op == "aten::add" || op == "aten::sub") {
      if (in.size() > 2 && number(in[2]) != 1.0)
        throw Error(fmt::format("ONNX export: {} with alpha != 1 is not supported", op));
      add_node(op == "aten::add" ? "Add" : "Sub", {operand(in[0]), operand(in[1])}, {name_of(out)});
    } else if (op == "aten::mul" || op == "aten::div") {
      add_node(op == "aten::mul" ? "Mul" : "Div", {operand(in[0]), operand(in[1])}, {name_of(out)});
    } else if (op == "aten::cat") {
      std::vector<std::string> parts;
      for (const Value* part : list_inputs(in[0])) parts.push_back(name_of(part));
      add_attribute(add_node("Concat", parts, {name_of(out)}), "axis", integer(in[1]));
    } else if (op == "aten::adaptive_avg_pool2d") {
      adaptive_average_pool(node);
    } else if (op == "aten::reshape") {
      // The traced output's sizes are constants: the shape needs no computation.
      add_node("Reshape", {name_of(in[0]), add_initializer(torch::tensor(concrete_sizes(out)), "shape")},
               {name_of(out)});
    } else if (op == "aten::transpose") {
      const auto rank = static_cast<int64_t>(concrete_sizes(in[0]).size());
      std::vector<int64_t> perm(rank);
      std::iota(perm.begin(), perm.end(), 0);
      std::swap(perm[(integer(in[1]) + rank) % rank], perm[(integer(in[2]) + rank) % rank]);
      add_attribute(add_node("Transpose", {name_of(in[0])}, {name_of(out)}), "perm", perm);
    } else if (op == "aten::avg_pool2d" || op == "aten::max_pool2d") {
      pooling(node, op == "aten::avg_pool2d");
    } else if (op == "aten::upsample_bilinear2d" || op == "aten::upsample_nearest2d") {
      resize(node, op == "aten::upsample_bilinear2d");
    } else if (op == "aten::dropout" || op == "aten::feature_dropout" || op == "aten::contiguous" ||
               op == "aten::clone" || op == "aten::detach") {
      if ((op == "aten::dropout" || op == "aten::feature_dropout") && boolean(in[2]))
        throw Error("ONNX export: dropout in training mode");
      alias(out, in[0]);  // identities at inference
    } else {
      throw Error(fmt::format(
          "ONNX export: the network uses {}, which has no ONNX translation yet (src/models/onnx_export.cpp)", op));
    }
  }

  // --- operators --------------------------------------------------------------

  void convolution(const Node* node, const std::string& type, const Value* x, const Value* weight, const Value* bias,
                   std::vector<int64_t> stride, std::vector<int64_t> padding, std::vector<int64_t> dilation,
                   std::vector<int64_t> output_padding, int64_t groups) {
    const torch::Tensor w = tensor(weight);
    if (w.dim() != 4) throw Error(fmt::format("ONNX export: {} expects a 4-D weight", op_name(node)));
    std::vector<std::string> inputs = {name_of(x), name_of(weight)};
    if (!is_none(bias)) inputs.push_back(name_of(bias));
    onnx::NodeProto& conv = add_node(type, inputs, {name_of(node->output())});
    add_attribute(conv, "kernel_shape", std::vector<int64_t>{w.size(2), w.size(3)});
    add_attribute(conv, "strides", pair(stride));
    add_attribute(conv, "pads", pads(padding));
    add_attribute(conv, "dilations", pair(dilation));
    add_attribute(conv, "group", groups);
    if (type == "ConvTranspose") add_attribute(conv, "output_padding", pair(output_padding));
  }

  void batch_norm(const Node* node) {
    const auto in = node->inputs();
    if (boolean(in[5])) throw Error("ONNX export: BatchNorm in training mode");
    const torch::Tensor mean = tensor(in[3]);
    const std::string scale = is_none(in[1]) ? add_initializer(torch::ones_like(mean), "bn_scale") : name_of(in[1]);
    const std::string shift = is_none(in[2]) ? add_initializer(torch::zeros_like(mean), "bn_shift") : name_of(in[2]);
    onnx::NodeProto& bn = add_node("BatchNormalization", {name_of(in[0]), scale, shift, name_of(in[3]), name_of(in[4])},
                                   {name_of(node->output())});
    add_attribute(bn, "epsilon", static_cast<float>(number(in[7])));
  }

  void hard_sigmoid(const std::string& x, const std::string& y) {
    onnx::NodeProto& node = add_node("HardSigmoid", {x}, {y});
    add_attribute(node, "alpha", 1.0f / 6.0f);  // PyTorch's relu6(x + 3) / 6
    add_attribute(node, "beta", 0.5f);
  }

  void prelu(const Node* node) {
    // PyTorch's slope is per channel (C); ONNX broadcasts from the last axis, so (C, 1, 1).
    const torch::Tensor slope = tensor(node->inputs()[1]);
    const std::string name =
        add_initializer(slope.numel() == 1 ? slope.reshape({1}) : slope.reshape({slope.numel(), 1, 1}), "prelu");
    add_node("PRelu", {name_of(node->inputs()[0]), name}, {name_of(node->output())});
  }

  void adaptive_average_pool(const Node* node) {
    const std::vector<int64_t> in_size = concrete_sizes(node->inputs()[0]), out_size = concrete_sizes(node->output());
    const int64_t in_h = in_size[2], in_w = in_size[3], out_h = out_size[2], out_w = out_size[3];
    const std::string x = name_of(node->inputs()[0]), y = name_of(node->output());
    if (out_h == 1 && out_w == 1) {
      add_node("GlobalAveragePool", {x}, {y});
    } else if (in_h % out_h == 0 && in_w % out_w == 0) {
      const std::vector<int64_t> kernel = {in_h / out_h, in_w / out_w};
      onnx::NodeProto& pool = add_node("AveragePool", {x}, {y});
      add_attribute(pool, "kernel_shape", kernel);
      add_attribute(pool, "strides", kernel);
    } else {
      // Overlapping windows of unequal sizes, no ONNX pooling: separable, so a
      // constant matrix along W (MatMul on the last axis), then along H (the same
      // between two Transposes, as MatMul's constant must be its second input).
      const bool along_h = in_h != out_h;
      std::string pooled_w = x;
      if (in_w != out_w) {
        pooled_w = along_h ? fresh_name("pooled_w") : y;
        add_node("MatMul", {x, add_initializer(pooling_matrix(in_w, out_w), "pool")}, {pooled_w});
      }
      if (along_h) {
        const std::vector<int64_t> swap_hw = {0, 1, 3, 2};
        const std::string transposed = fresh_name("transposed"), pooled = fresh_name("pooled_h");
        add_attribute(add_node("Transpose", {pooled_w}, {transposed}), "perm", swap_hw);
        add_node("MatMul", {transposed, add_initializer(pooling_matrix(in_h, out_h), "pool")}, {pooled});
        add_attribute(add_node("Transpose", {pooled}, {y}), "perm", swap_hw);
      }
    }
  }

  // (in, out): column i averages PyTorch's adaptive window floor(i·in/out) .. ceil((i+1)·in/out).
  static torch::Tensor pooling_matrix(int64_t in, int64_t out) {
    torch::Tensor m = torch::zeros({in, out});
    for (int64_t i = 0; i < out; ++i) {
      const int64_t start = i * in / out, end = ((i + 1) * in + out - 1) / out;
      m.index({torch::indexing::Slice(start, end), i}).fill_(1.0 / static_cast<double>(end - start));
    }
    return m;
  }

  void pooling(const Node* node, bool average) {
    const auto in = node->inputs();
    std::vector<int64_t> kernel = pair(ints(in[1])), stride = ints(in[2]), padding = pair(ints(in[3]));
    stride = stride.empty() ? kernel : pair(stride);
    std::string x = name_of(in[0]);
    // PyTorch's average pooling counts the zero padding (count_include_pad); OpenCV's
    // AveragePool leaves it out at the borders whatever the attribute says, so the
    // zeros are padded explicitly and the pooling itself is unpadded.
    const bool explicit_padding = average && boolean(in[5]) && (padding[0] > 0 || padding[1] > 0);
    if (explicit_padding) {
      const std::string padded = fresh_name("padded");
      const std::string amounts = add_initializer(torch::tensor({int64_t{0}, int64_t{0}, padding[0], padding[1],
                                                                 int64_t{0}, int64_t{0}, padding[0], padding[1]}),
                                                  "pads");
      add_attribute(add_node("Pad", {x, amounts}, {padded}), "mode", std::string("constant"));
      x = padded;
      padding = {0, 0};
    }
    onnx::NodeProto& pool = add_node(average ? "AveragePool" : "MaxPool", {x}, {name_of(node->output())});
    add_attribute(pool, "kernel_shape", kernel);
    add_attribute(pool, "strides", stride);
    add_attribute(pool, "pads", pads(padding));
    if (average) {
      add_attribute(pool, "ceil_mode", static_cast<int64_t>(boolean(in[4])));
      if (!is_none(in[6])) throw Error("ONNX export: avg_pool2d with divisor_override is not supported");
    } else {
      if (pair(ints(in[4])) != std::vector<int64_t>{1, 1})
        throw Error("ONNX export: dilated max_pool2d is not supported");
      add_attribute(pool, "ceil_mode", static_cast<int64_t>(boolean(in[5])));
    }
  }

  void resize(const Node* node, bool bilinear) {
    // The traced output size is exact whichever overload (sizes or scale factors) was called.
    const std::vector<int64_t> size = concrete_sizes(node->output());
    const std::string sizes = add_initializer(torch::tensor(size, torch::kLong), "resize_sizes");
    onnx::NodeProto& r = add_node("Resize", {name_of(node->inputs()[0]), "", "", sizes}, {name_of(node->output())});
    if (bilinear) {
      const bool align_corners = boolean(node->inputs()[2]);
      add_attribute(r, "mode", std::string("linear"));
      add_attribute(r, "coordinate_transformation_mode", std::string(align_corners ? "align_corners" : "half_pixel"));
    } else {
      add_attribute(r, "mode", std::string("nearest"));
      add_attribute(r, "coordinate_transformation_mode", std::string("asymmetric"));
      add_attribute(r, "nearest_mode", std::string("floor"));
    }
  }

  // --- values -----------------------------------------------------------------

  // The ONNX name of a tensor value; a tensor constant becomes an initializer once.
  std::string name_of(const Value* value) {
    auto it = names_.find(value);
    if (it != names_.end()) return it->second;
    std::string name;
    if (value->node()->kind() == c10::prim::Constant)
      name = add_initializer(tensor(value), "w");
    else
      name = value == output_ ? "logits" : fresh_name("t");
    names_[value] = name;
    return name;
  }

  // A binary operand: a tensor value, or a number (a scalar initializer).
  std::string operand(const Value* value) {
    auto constant = constant_of(value);
    if (constant && (constant->isDouble() || constant->isInt()))
      return scalar_initializer(constant->toScalar().toDouble());
    return name_of(value);
  }

  void alias(const Value* out, const Value* in) {
    if (out == output_) {
      add_node("Identity", {name_of(in)}, {name_of(out)});
    } else {
      names_[out] = name_of(in);
    }
  }

  std::string fresh_name(const std::string& prefix) { return fmt::format("{}{}", prefix, counter_++); }

  std::string add_initializer(torch::Tensor t, const std::string& prefix) {
    t = t.detach().to(torch::kCPU).contiguous();
    onnx::TensorProto* proto = graph_.add_initializer();
    const std::string name = fresh_name(prefix);
    proto->set_name(name);
    for (int64_t d : t.sizes()) proto->add_dims(d);
    if (t.scalar_type() == torch::kLong) {
      proto->set_data_type(onnx::TensorProto::INT64);
    } else {
      t = t.to(torch::kFloat);
      proto->set_data_type(onnx::TensorProto::FLOAT);
    }
    proto->set_raw_data(t.data_ptr(), t.numel() * t.element_size());  // ONNX raw data is little-endian, as here
    return name;
  }

  std::string scalar_initializer(double v) { return add_initializer(torch::tensor({static_cast<float>(v)}), "c"); }

  onnx::NodeProto& add_node(const std::string& type, const std::vector<std::string>& inputs,
                            const std::vector<std::string>& outputs) {
    onnx::NodeProto* node = graph_.add_node();
    node->set_op_type(type);
    node->set_name(fresh_name(type + "_"));
    for (const auto& i : inputs) node->add_input(i);
    for (const auto& o : outputs) node->add_output(o);
    return *node;
  }

  static void add_attribute(onnx::NodeProto& node, const std::string& name, int64_t v) {
    auto* a = node.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void add_attribute(onnx::NodeProto& node, const std::string& name, float v) {
    auto* a = node.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void add_attribute(onnx::NodeProto& node, const std::string& name, const std::string& v) {
    auto* a = node.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  static void add_attribute(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = node.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }

  static void add_value_info(onnx::ValueInfoProto* info, const std::string& name, const Value* value) {
    info->set_name(name);
    auto* type = info->mutable_type()->mutable_tensor_type();
    type->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : concrete_sizes(value)) type->mutable_shape()->add_dim()->set_dim_value(d);
  }

  // --- constants --------------------------------------------------------------

  static c10::optional<c10::IValue> constant_of(const Value* value) {
    if (value->node()->kind() != c10::prim::Constant) return c10::nullopt;
    return torch::jit::toIValue(value);
  }
  static c10::IValue constant(const Value* value) {
    auto c = constant_of(value);
    if (!c)
      throw Error(fmt::format("ONNX export: an argument of {} is computed, not constant", op_name(value->node())));
    return *c;
  }
  static bool is_none(const Value* value) {
    auto c = constant_of(value);
    return c && c->isNone();
  }
  static torch::Tensor tensor(const Value* value) {
    c10::IValue c = constant(value);
    if (!c.isTensor()) throw Error("ONNX export: expected a weight tensor");
    return c.toTensor();
  }
  static int64_t integer(const Value* value) { return constant(value).toInt(); }
  static bool boolean(const Value* value) { return constant(value).toBool(); }
  static double number(const Value* value) { return constant(value).toScalar().toDouble(); }
  static std::vector<const Value*> list_inputs(const Value* list) {
    if (list->node()->kind() != c10::prim::ListConstruct)
      throw Error(fmt::format("ONNX export: expected a list built in the graph, got {}", op_name(list->node())));
    return {list->node()->inputs().begin(), list->node()->inputs().end()};
  }
  static std::vector<int64_t> ints(const Value* value) {
    if (value->node()->kind() == c10::prim::ListConstruct) {
      std::vector<int64_t> out;
      for (const Value* v : list_inputs(value)) out.push_back(integer(v));
      return out;
    }
    return constant(value).toIntVector();
  }
  static std::vector<int64_t> pair(std::vector<int64_t> v) {
    return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : v;
  }
  static std::vector<int64_t> pads(const std::vector<int64_t>& padding) {
    const auto p = pair(padding);
    return {p[0], p[1], p[0], p[1]};  // begin (h, w), end (h, w)
  }
  static std::vector<int64_t> concrete_sizes(const Value* value) {
    auto type = value->type()->cast<c10::TensorType>();
    auto sizes = type ? type->sizes().concrete_sizes() : c10::nullopt;
    if (!sizes)
      throw Error(fmt::format("ONNX export: the trace lost the shape of a {} output", op_name(value->node())));
    return *sizes;
  }

  onnx::GraphProto& graph_;
  const Value* output_ = nullptr;
  std::unordered_map<const Value*, std::string> names_;
  int64_t counter_ = 0;
};

}  // namespace

OnnxExportSummary export_onnx(SegmentationModelImpl& model, cv::Size input_size, const std::string& path) {
  OnnxExportSummary summary;
  model.eval();
  summary.folded_batch_norms = fold_batch_norm(model);
  std::shared_ptr<torch::jit::Graph> traced = trace_forward(model, input_size);

  onnx::ModelProto proto;
  proto.set_ir_version(onnx::IR_VERSION);  // 8, the newest ONNX 1.12 knows
  proto.set_producer_name("segtransfer");
  proto.set_producer_version("0.1.0");
  proto.set_doc_string(fmt::format("{} traced at {}x{}; input: normalised RGB (see the .json sidecar)",
                                   model.architecture(), input_size.width, input_size.height));
  auto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto* graph = proto.mutable_graph();
  graph->set_name(model.architecture());
  OnnxGraphWriter writer(*graph);
  writer.translate(*traced);
  summary.nodes = graph->node_size();
  summary.initializers = writer.initializers();
  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& e) {
    const std::string message = e.what();
    throw Error("ONNX export produced an invalid graph (a bug): " + message.substr(0, message.find('\n')));
  }
  write_atomically(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    if (!proto.SerializeToOstream(&out) || !out.flush()) throw Error(fmt::format("cannot write ONNX model {}", path));
  });
  return summary;
}

}  // namespace segtransfer
