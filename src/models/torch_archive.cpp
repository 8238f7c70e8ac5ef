#include "models/torch_archive.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <unordered_map>

#include "core/error.h"

namespace segtransfer {

const TorchValue* TorchValue::find(const std::string& key) const {
  if (kind != Kind::kDict) return nullptr;
  for (const auto& [k, v] : *entries) {
    if (k.kind == Kind::kString && k.text == key) return &v;
  }
  return nullptr;
}

std::string TorchValue::kind_name() const {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kTuple:
      return "tuple";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return "dict";
    case Kind::kTensor:
      return "tensor";
    case Kind::kGlobal:
      return "global " + text;
    case Kind::kOther:
      return "object " + text;
  }
  return "?";
}

namespace {

using Kind = TorchValue::Kind;

TorchValue make(Kind kind) {
  TorchValue v;
  v.kind = kind;
  if (kind == Kind::kTuple || kind == Kind::kList) v.items = std::make_shared<std::vector<TorchValue>>();
  if (kind == Kind::kDict) v.entries = std::make_shared<std::vector<std::pair<TorchValue, TorchValue>>>();
  return v;
}

TorchValue make_int(int64_t i, Kind kind = Kind::kInt) {
  TorchValue v = make(kind);
  v.int_value = i;
  return v;
}

TorchValue make_text(Kind kind, std::string text) {
  TorchValue v = make(kind);
  v.text = std::move(text);
  return v;
}

TorchValue make_tensor(torch::Tensor t) {
  TorchValue v = make(Kind::kTensor);
  v.tensor = std::move(t);
  return v;
}

int64_t as_int(const TorchValue& v, const char* what) {
  if (v.kind != Kind::kInt && v.kind != Kind::kBool) throw Error(std::string("expected an int for ") + what);
  return v.int_value;
}

std::vector<int64_t> as_ints(const TorchValue& v, const char* what) {
  if (v.kind != Kind::kTuple && v.kind != Kind::kList) throw Error(std::string("expected a tuple for ") + what);
  std::vector<int64_t> out;
  for (const auto& item : *v.items) out.push_back(as_int(item, what));
  return out;
}

const std::vector<TorchValue>& tuple_items(const TorchValue& v, size_t min_size, const char* what) {
  if ((v.kind != Kind::kTuple && v.kind != Kind::kList) || v.items->size() < min_size) {
    throw Error(std::string("malformed arguments for ") + what);
  }
  return *v.items;
}

// "torch.FloatStorage" → kFloat: the storage types torch/serialization.py writes.
c10::ScalarType storage_dtype(const TorchValue& storage_type) {
  static const std::map<std::string, c10::ScalarType> dtypes = {
      {"torch.FloatStorage", torch::kFloat},
      {"torch.DoubleStorage", torch::kDouble},
      {"torch.HalfStorage", torch::kHalf},
      {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kLong},
      {"torch.IntStorage", torch::kInt},
      {"torch.ShortStorage", torch::kShort},
      {"torch.CharStorage", torch::kChar},
      {"torch.ByteStorage", torch::kByte},
      {"torch.BoolStorage", torch::kBool},
      {"torch.ComplexFloatStorage", torch::kComplexFloat},
      {"torch.ComplexDoubleStorage", torch::kComplexDouble},
  };
  // Legacy files saved from a GPU name torch.cuda.FloatStorage etc.
  std::string name = storage_type.text;
  if (name.rfind("torch.cuda.", 0) == 0) name.erase(6, 5);
  auto it = dtypes.find(name);
  if (storage_type.kind != Kind::kGlobal || it == dtypes.end()) {
    throw Error("unsupported storage type " + storage_type.kind_name());
  }
  return it->second;
}

// The pickle opcodes (Python's Lib/pickle.py) the Unpickler below understands.
enum class Op : uint8_t {
  kMark = '(',
  kStop = '.',
  kPop = '0',
  kPopMark = '1',
  kDup = '2',
  kBinFloat = 'G',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kNone = 'N',
  kBinPersId = 'Q',
  kReduce = 'R',
  kBinString = 'T',
  kShortBinString = 'U',
  kBinUnicode = 'X',
  kAppend = 'a',
  kBuild = 'b',
  kGlobal = 'c',
  kDict = 'd',
  kEmptyDict = '}',
  kAppends = 'e',
  kBinGet = 'h',
  kLongBinGet = 'j',
  kList = 'l',
  kEmptyList = ']',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kSetItem = 's',
  kTuple = 't',
  kEmptyTuple = ')',
  kSetItems = 'u',
  kBinBytes = 'B',
  kShortBinBytes = 'C',
  kProto = 0x80,
  kNewObj = 0x81,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kLong1 = 0x8a,
  kLong4 = 0x8b,
  kShortBinUnicode = 0x8c,
  kBinUnicode8 = 0x8d,
  kBinBytes8 = 0x8e,
  kEmptySet = 0x8f,
  kAddItems = 0x90,
  kFrozenSet = 0x91,
  kNewObjEx = 0x92,
  kStackGlobal = 0x93,
  kMemoize = 0x94,
  kFrame = 0x95,
};

// A pickle virtual machine for the opcodes torch.save (protocol 2) and plain
// pickle protocols up to 5 emit for containers of tensors.
class Unpickler {
 public:
  // Maps a persistent id (the tuple torch.save writes for a storage) to a value.
  using PersistentLoad = std::function<TorchValue(const TorchValue&)>;

  Unpickler(const char* data, size_t size, size_t position, PersistentLoad persistent_load)
      : data_(data), size_(size), pos_(position), persistent_load_(std::move(persistent_load)) {}

  // Runs one pickle (up to STOP) and returns its value.
  TorchValue load() {
    stack_.clear();
    marks_.clear();
    memo_.clear();
    while (true) {
      const size_t opcode_at = pos_;
      const auto op = static_cast<Op>(read_u8());
      // clang-format off
      switch (op) {
        case Op::kProto: read_u8(); break;
        case Op::kFrame: read_bytes(8); break;
        case Op::kStop: return pop();
        case Op::kMark: marks_.push_back(stack_.size()); break;
        case Op::kPop: pop(); break;
        case Op::kPopMark: stack_.resize(pop_mark()); break;
        case Op::kDup: stack_.push_back(top()); break;
        case Op::kNone: stack_.push_back(make(Kind::kNone)); break;
        case Op::kNewTrue: stack_.push_back(make_int(1, Kind::kBool)); break;
        case Op::kNewFalse: stack_.push_back(make_int(0, Kind::kBool)); break;
        case Op::kBinInt: stack_.push_back(make_int(static_cast<int32_t>(read_le(4)))); break;
        case Op::kBinInt1: stack_.push_back(make_int(read_u8())); break;
        case Op::kBinInt2: stack_.push_back(make_int(static_cast<int64_t>(read_le(2)))); break;
        case Op::kLong1: push_long(read_u8()); break;
        case Op::kLong4: push_long(read_le(4)); break;
        case Op::kBinFloat: {  // big-endian double
          uint64_t bits = 0;
          for (char c : read_bytes(8)) bits = bits << 8 | static_cast<uint8_t>(c);
          TorchValue v = make(Kind::kFloat);
          std::memcpy(&v.float_value, &bits, sizeof bits);
          stack_.push_back(v);
          break;
        }
        // Bytes are kept as strings: nothing torch.save writes needs the difference.
        case Op::kBinUnicode: case Op::kBinBytes: case Op::kBinString:
          stack_.push_back(make_text(Kind::kString, read_bytes(read_le(4))));
          break;
        case Op::kShortBinUnicode: case Op::kShortBinBytes: case Op::kShortBinString:
          stack_.push_back(make_text(Kind::kString, read_bytes(read_u8())));
          break;
        case Op::kBinUnicode8: case Op::kBinBytes8:
          stack_.push_back(make_text(Kind::kString, read_bytes(read_le(8))));
          break;
        case Op::kEmptyTuple: stack_.push_back(make(Kind::kTuple)); break;
        case Op::kTuple: stack_.push_back(collect(Kind::kTuple, pop_mark())); break;
        case Op::kTuple1: case Op::kTuple2: case Op::kTuple3:
          stack_.push_back(collect(Kind::kTuple, checked_depth(static_cast<size_t>(op) - static_cast<size_t>(Op::kTuple1) + 1)));
          break;
        // Sets are kept as lists.
        case Op::kEmptyList: case Op::kEmptySet: stack_.push_back(make(Kind::kList)); break;
        case Op::kList: case Op::kFrozenSet: stack_.push_back(collect(Kind::kList, pop_mark())); break;
        case Op::kAppend: {
          TorchValue item = pop();
          list_at(stack_.size() - 1).items->push_back(std::move(item));
          break;
        }
        case Op::kAppends: case Op::kAddItems: {
          const size_t start = pop_mark();
          auto& list = list_at(start - 1);
          list.items->insert(list.items->end(), stack_.begin() + start, stack_.end());
          stack_.resize(start);
          break;
        }
        case Op::kEmptyDict: stack_.push_back(make(Kind::kDict)); break;
        case Op::kDict: {
          const size_t start = pop_mark();
          stack_.insert(stack_.begin() + start, make(Kind::kDict));
          set_items(start + 1, start);
          break;
        }
        case Op::kSetItem: {
          if (stack_.size() < 3) fail("SETITEM without a dict");
          set_items(stack_.size() - 2, stack_.size() - 3);
          break;
        }
        case Op::kSetItems: {
          const size_t start = pop_mark();
          if (start == 0) fail("SETITEMS without a dict");
          set_items(start, start - 1);
          break;
        }
        case Op::kGlobal: {
          std::string module = read_line();
          stack_.push_back(make_text(Kind::kGlobal, module + "." + read_line()));
          break;
        }
        case Op::kStackGlobal: {
          TorchValue name = pop();
          TorchValue module = pop();
          stack_.push_back(make_text(Kind::kGlobal, module.text + "." + name.text));
          break;
        }
        case Op::kReduce: case Op::kNewObj: {
          TorchValue args = pop();
          TorchValue callable = pop();
          stack_.push_back(call(callable, args));
          break;
        }
        case Op::kNewObjEx: {
          pop();  // keyword arguments
          TorchValue args = pop();
          TorchValue callable = pop();
          stack_.push_back(call(callable, args));
          break;
        }
        case Op::kBuild: pop(); break;  // object state (e.g. a state_dict's _metadata) is not needed
        case Op::kBinPut: memo_[read_u8()] = top(); break;
        case Op::kLongBinPut: memo_[read_le(4)] = top(); break;
        case Op::kMemoize: memo_[memo_.size()] = top(); break;
        case Op::kBinGet: case Op::kLongBinGet: {
          const uint64_t key = op == Op::kBinGet ? read_u8() : read_le(4);
          auto it = memo_.find(key);
          if (it == memo_.end()) fail("memo entry " + std::to_string(key) + " read before written");
          stack_.push_back(it->second);
          break;
        }
        case Op::kBinPersId: stack_.push_back(persistent_load_(pop())); break;
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(op));
          fail(std::string("unsupported pickle opcode ") + hex + " at byte " + std::to_string(opcode_at));
        }
      }
      // clang-format on
    }
  }

  size_t position() const { return pos_; }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw Error("corrupt pickle: " + what); }

  uint8_t read_u8() {
    if (pos_ >= size_) fail("truncated");
    return static_cast<uint8_t>(data_[pos_++]);
  }
  uint64_t read_le(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(read_u8()) << (8 * i);
    return v;
  }
  std::string read_bytes(uint64_t n) {
    if (n > size_ - pos_) fail("truncated");
    std::string s(data_ + pos_, n);
    pos_ += n;
    return s;
  }
  std::string read_line() {
    const void* end = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (!end) fail("truncated");
    std::string line = read_bytes(static_cast<const char*>(end) - (data_ + pos_));
    ++pos_;
    return line;
  }
  // Little-endian two's complement; wider than 64 bits only for magic numbers.
  void push_long(uint64_t n) {
    const std::string bytes = read_bytes(n);
    if (n > 8) {
      std::string hex;
      char byte[3];
      for (char c : bytes) {
        std::snprintf(byte, sizeof byte, "%02x", static_cast<uint8_t>(c));
        hex += byte;
      }
      stack_.push_back(make_text(Kind::kOther, "long:" + hex));
      return;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
    if (n > 0 && n < 8 && (static_cast<uint8_t>(bytes[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);
    stack_.push_back(make_int(static_cast<int64_t>(v)));
  }

  TorchValue& top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  TorchValue pop() {
    TorchValue v = top();
    stack_.pop_back();
    return v;
  }
  size_t pop_mark() {
    if (marks_.empty() || marks_.back() > stack_.size()) fail("missing MARK");
    const size_t start = marks_.back();
    marks_.pop_back();
    return start;
  }
  size_t checked_depth(size_t n) {
    if (stack_.size() < n) fail("stack underflow");
    return stack_.size() - n;
  }
  // Replaces stack_[start..] by one container holding them.
  TorchValue collect(Kind kind, size_t start) {
    TorchValue v = make(kind);
    v.items->assign(stack_.begin() + start, stack_.end());
    stack_.resize(start);
    return v;
  }
  TorchValue& list_at(size_t index) {
    if (index >= stack_.size() || stack_[index].kind != Kind::kList) fail("APPEND to a non-list");
    return stack_[index];
  }
  // Moves the key/value pairs stack_[start..] into the dict at stack_[dict_index].
  void set_items(size_t start, size_t dict_index) {
    if (dict_index >= start || start > stack_.size() || (stack_.size() - start) % 2 != 0) {
      fail("malformed SETITEM(S)");
    }
    TorchValue& dict = stack_[dict_index];
    if (dict.kind == Kind::kDict) {
      for (size_t i = start; i < stack_.size(); i += 2) dict.entries->emplace_back(stack_[i], stack_[i + 1]);
    } else if (dict.kind != Kind::kOther) {
      fail("SETITEM on a " + dict.kind_name());
    }
    stack_.resize(start);
  }

  // The callables torch.save emits; anything else yields an opaque value.
  TorchValue call(const TorchValue& callable, const TorchValue& args) {
    const std::string& name = callable.text;
    if (callable.kind != Kind::kGlobal) return make_text(Kind::kOther, "call of " + callable.kind_name());
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      const auto& a = tuple_items(args, 4, name.c_str());
      if (a[0].kind != Kind::kTensor) fail(name + " without a storage");
      const auto sizes = as_ints(a[2], "tensor size");
      const auto strides = as_ints(a[3], "tensor stride");
      if (sizes.size() != strides.size()) fail("tensor size and stride disagree");
      return make_tensor(a[0].tensor.as_strided(sizes, strides, as_int(a[1], "storage offset")));
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state" ||
        name == "torch.jit._pickle.restore_type_tag" || name.rfind("torch.jit._pickle.build_", 0) == 0) {
      return tuple_items(args, 1, name.c_str())[0];
    }
    if (name == "collections.OrderedDict" || name == "builtins.dict" || name == "__builtin__.dict") {
      TorchValue dict = make(Kind::kDict);
      const auto& a = tuple_items(args, 0, name.c_str());
      if (!a.empty() && (a[0].kind == Kind::kList || a[0].kind == Kind::kTuple)) {
        for (const auto& pair : *a[0].items) {
          const auto& kv = tuple_items(pair, 2, name.c_str());
          dict.entries->emplace_back(kv[0], kv[1]);
        }
      }
      return dict;
    }
    return make_text(Kind::kOther, name);
  }

  const char* data_;
  size_t size_;
  size_t pos_;
  PersistentLoad persistent_load_;
  std::vector<TorchValue> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, TorchValue> memo_;
};

// The persistent id of a storage: ('storage', torch.XStorage, key, location, numel[, view]).
struct StorageId {
  c10::ScalarType dtype;
  std::string key;
  int64_t numel;
  const TorchValue* view;  // legacy format only: (view_key, offset, size) or None
};

StorageId parse_storage_id(const TorchValue& pid) {
  const auto& a = tuple_items(pid, 5, "persistent id");
  if (a[0].kind != Kind::kString || a[0].text != "storage" || a[2].kind != Kind::kString) {
    throw Error("unsupported persistent id (" + a[0].kind_name() + ")");
  }
  const int64_t numel = as_int(a[4], "storage size");
  if (numel < 0) throw Error("negative storage size");
  return {storage_dtype(a[1]), a[2].text, numel, a.size() > 5 ? &a[5] : nullptr};
}

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open weights file '" + path + "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error("cannot read weights file '" + path + "'");
  return bytes;
}

// The zip format: data.pkl plus one record data/<key> per storage.
TorchValue load_zip(const std::string& path) {
  caffe2::serialize::PyTorchStreamReader reader(path);
  std::unordered_map<std::string, torch::Tensor> storages;
  auto [pickle, pickle_size] = reader.getRecord("data.pkl");
  Unpickler unpickler(static_cast<const char*>(pickle.get()), pickle_size, 0, [&](const TorchValue& pid) {
    const StorageId id = parse_storage_id(pid);
    auto it = storages.find(id.key);
    if (it == storages.end()) {
      auto [data, size] = reader.getRecord("data/" + id.key);
      if (size / c10::elementSize(id.dtype) != static_cast<size_t>(id.numel)) {
        throw Error("storage record data/" + id.key + " holds " + std::to_string(size) + " bytes, not " +
                    std::to_string(id.numel) + " elements");
      }
      torch::Tensor storage = torch::empty({id.numel}, torch::TensorOptions().dtype(id.dtype));
      std::memcpy(storage.data_ptr(), data.get(), storage.nbytes());
      it = storages.emplace(id.key, storage).first;
    }
    return make_tensor(it->second);
  });
  return unpickler.load();
}

// The legacy format: pickles of the magic number, protocol version, system
// info, the object and its storage keys, then each storage as an int64 element
// count followed by the raw elements.
TorchValue load_legacy(const std::vector<char>& bytes) {
  std::unordered_map<std::string, torch::Tensor> storages;
  Unpickler header(bytes.data(), bytes.size(), 0,
                   [](const TorchValue&) -> TorchValue { throw Error("unexpected persistent id in the header"); });
  const TorchValue magic = header.load();
  if (magic.kind != Kind::kOther || magic.text != "long:6cfc9c46f9206aa85019") {
    throw Error("not a torch.save file (bad magic number)");
  }
  const TorchValue protocol = header.load();
  if (protocol.kind != Kind::kInt || protocol.int_value != 1001) throw Error("unsupported legacy protocol version");
  const TorchValue sys_info = header.load();
  if (const TorchValue* little = sys_info.find("little_endian"); little && little->int_value == 0) {
    throw Error("big-endian legacy archives are not supported");
  }
  Unpickler body(bytes.data(), bytes.size(), header.position(), [&](const TorchValue& pid) {
    const StorageId id = parse_storage_id(pid);
    auto it = storages.find(id.key);
    if (it == storages.end()) {
      // The raw data follows in the file: a larger storage means a corrupt size.
      if (static_cast<size_t>(id.numel) > bytes.size() / c10::elementSize(id.dtype)) {
        throw Error("storage " + id.key + " is larger than the file");
      }
      it = storages.emplace(id.key, torch::empty({id.numel}, torch::TensorOptions().dtype(id.dtype))).first;
    }
    if (!id.view || id.view->kind == Kind::kNone) return make_tensor(it->second);
    const auto& view = tuple_items(*id.view, 3, "storage view");
    return make_tensor(it->second.narrow(0, as_int(view[1], "view offset"), as_int(view[2], "view size")));
  });
  TorchValue result = body.load();
  Unpickler keys_reader(bytes.data(), bytes.size(), body.position(), [](const TorchValue&) -> TorchValue {
    throw Error("unexpected persistent id in the storage keys");
  });
  const TorchValue keys = keys_reader.load();
  size_t pos = keys_reader.position();
  for (const auto& key : tuple_items(keys, 0, "storage keys")) {
    auto it = storages.find(key.text);
    if (key.kind != Kind::kString || it == storages.end()) throw Error("storage key " + key.text + " is not used");
    torch::Tensor& storage = it->second;
    const size_t nbytes = storage.nbytes();
    if (bytes.size() - pos < 8 + nbytes) throw Error("truncated storage data for key " + key.text);
    int64_t numel;
    std::memcpy(&numel, bytes.data() + pos, 8);
    if (numel != storage.numel()) throw Error("storage " + key.text + " has the wrong size");
    std::memcpy(storage.data_ptr(), bytes.data() + pos + 8, nbytes);
    pos += 8 + nbytes;
  }
  return result;
}

}  // namespace

TorchValue load_torch_save(const std::string& path) {
  const std::vector<char> bytes = read_file(path);
  try {
    if (bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\x03\x04", 4) == 0) return load_zip(path);
    if (bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x80) return load_legacy(bytes);
  } catch (const Error& e) {
    throw Error("weights file '" + path + "': " + e.what());
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    throw Error("weights file '" + path + "' is corrupt: " + what.substr(0, what.find('\n')));
  }
  throw Error("weights file '" + path + "' is not a PyTorch archive (neither torch.save's zip nor legacy format)");
}

}  // namespace segtransfer
