#include "teachers/npy.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "test_util.h"

namespace segtransfer {
namespace {

using testing::contains;
using testing::error_of;

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// Written by real NumPy 1.24 (Debian's python3-numpy) once, with np.save:
// np.array([[0.5, -1.25, 3.0], [1e-3, 65504.0, -0.0]], dtype=np.float16)
const std::string kNumpyFloat16 = from_hex(
    "934e554d5059010076007b276465736372273a20273c6632272c2027666f727472616e5f6f72646572273a2046616c73652c"
    "20277368617065273a2028322c2033292c207d20202020202020202020202020202020202020202020202020202020202020"
    "2020202020202020202020202020202020202020202020202020200a003800bd00421914ff7b0080");
// np.arange(6, dtype=np.float32).reshape(1, 2, 3) / 4
const std::string kNumpyFloat32 = from_hex(
    "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c"
    "20277368617065273a2028312c20322c2033292c207d20202020202020202020202020202020202020202020202020202020"
    "2020202020202020202020202020202020202020202020202020200a000000000000803e0000003f0000403f0000803f0000"
    "a03f");
// np.array([0, 1, 254, 255], dtype=np.uint8)
const std::string kNumpyUint8 = from_hex(
    "934e554d5059010076007b276465736372273a20277c7531272c2027666f727472616e5f6f72646572273a2046616c73652c"
    "20277368617065273a2028342c292c207d202020202020202020202020202020202020202020202020202020202020202020"
    "2020202020202020202020202020202020202020202020202020200a0001feff");

// A .npy file of any version with the given header text (padded as NumPy does) and data.
std::string make_npy(int major, const std::string& header_dict, const std::string& data) {
  const size_t preamble = major == 1 ? 10 : 12;
  std::string header = header_dict;
  header.append(64 - (preamble + header.size() + 1) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  const size_t len = header.size();
  for (size_t i = 0; i < preamble - 8; ++i) out += static_cast<char>((len >> (8 * i)) & 0xFF);
  return out + header + data;
}

std::string float_bytes(std::vector<float> values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

TEST(Npy, ReadsFilesWrittenByNumpy) {
  torch::Tensor f16 = parse_npy(kNumpyFloat16, "f16.npy");
  EXPECT_EQ(f16.sizes().vec(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f16.scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(f16[0][1].item<float>(), -1.25f);
  EXPECT_FLOAT_EQ(f16[1][1].item<float>(), 65504.0f);
  EXPECT_NEAR(f16[1][0].item<float>(), 1e-3f, 1e-6);

  torch::Tensor f32 = parse_npy(kNumpyFloat32, "f32.npy");
  EXPECT_TRUE(torch::equal(f32, torch::arange(6, torch::kFloat32).reshape({1, 2, 3}) / 4));

  torch::Tensor u8 = parse_npy(kNumpyUint8, "u8.npy");
  EXPECT_TRUE(torch::equal(u8, torch::tensor({0.f, 1.f, 254.f, 255.f})));
}

TEST(Npy, EncodesByteForByteAsNumpy) {
  EXPECT_EQ(encode_npy(parse_npy(kNumpyFloat16, "x").to(torch::kFloat16)), kNumpyFloat16);
  EXPECT_EQ(encode_npy(torch::arange(6, torch::kFloat32).reshape({1, 2, 3}) / 4), kNumpyFloat32);
  EXPECT_EQ(encode_npy(torch::tensor({0, 1, 254, 255}, torch::kUInt8)), kNumpyUint8);
}

TEST(Npy, RoundTripsEveryDtypeAndRank) {
  torch::manual_seed(0);
  const std::vector<torch::Tensor> tensors = {
      torch::rand({19, 5, 7}),
      torch::rand({2, 3, 4, 5}).to(torch::kFloat16),
      torch::randint(0, 256, {6, 9}, torch::kUInt8),
      torch::tensor(3.5f),      // rank 0
      torch::zeros({0, 3}),     // empty
      torch::rand({4, 6}).t(),  // not contiguous
      torch::rand({12345}),     // shape[0] with many digits
  };
  for (const torch::Tensor& t : tensors) {
    const std::string bytes = encode_npy(t);
    EXPECT_EQ((bytes.size() - t.nbytes()) % 64, 0u) << t.sizes();
    torch::Tensor back = parse_npy(bytes, "t.npy");
    EXPECT_EQ(back.sizes(), t.sizes());
    EXPECT_TRUE(torch::equal(back, t.to(torch::kFloat32))) << t.sizes();
  }
  EXPECT_TRUE(contains(error_of([] { encode_npy(torch::zeros({2}, torch::kInt64)); }), "unsupported dtype"));
}

TEST(Npy, ReadsVersions2And3AndFloat64) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  for (int major : {2, 3}) {
    torch::Tensor t = parse_npy(make_npy(major, dict, float_bytes({1.5f, -2.f})), "v.npy");
    EXPECT_TRUE(torch::equal(t, torch::tensor({1.5f, -2.f}))) << major;
  }
  const double d[2] = {0.25, 7.0};
  torch::Tensor t = parse_npy(make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2)}",
                                       std::string(reinterpret_cast<const char*>(d), sizeof d)),
                              "d.npy");
  EXPECT_TRUE(torch::equal(t, torch::tensor({{0.25f, 7.f}})));
}

TEST(Npy, MalformedFilesGetOneClearLine) {
  const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string data = float_bytes({1.f, 2.f});
  auto error = [](const std::string& bytes) { return error_of([&] { parse_npy(bytes, "p.npy"); }); };

  EXPECT_TRUE(contains(error("PK\x03\x04 not numpy at all"), "p.npy: not a NumPy .npy file (bad magic)"));
  EXPECT_TRUE(contains(error(std::string("\x93NUMPY", 6)), "bad magic"));
  EXPECT_TRUE(contains(error(std::string("\x93NUMPY\x01\x00\x76", 9)), "truncated"));
  EXPECT_TRUE(contains(error(make_npy(1, ok_dict, data).substr(0, 40)), "truncated .npy file (the header announces"));
  EXPECT_TRUE(contains(error(make_npy(4, ok_dict, data)), "unsupported .npy format version 4.0"));
  EXPECT_TRUE(contains(error(make_npy(1, "{'descr': '<f4', 'shape': (2,)}", data)), "unparsable .npy header"));
  EXPECT_TRUE(contains(error(make_npy(1, "not a dict", data)), "unparsable .npy header"));
  EXPECT_TRUE(contains(error(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", data)),
                       "unexpected or repeated key 'x'"));
  EXPECT_TRUE(contains(error(make_npy(1, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}", data)),
                       "expected True or False"));
  EXPECT_TRUE(contains(error(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", data)),
                       "non-negative integer"));
  EXPECT_TRUE(contains(error(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} extra", data)),
                       "after the closing brace"));
  EXPECT_TRUE(contains(error(make_npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,)}", data)),
                       "unsupported .npy dtype '<i4'"));
  EXPECT_TRUE(
      contains(error(make_npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}", data)), "big-endian"));
  EXPECT_TRUE(contains(error(make_npy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", data)),
                       "structured"));
  EXPECT_TRUE(
      contains(error(make_npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}", data)), "Fortran-order"));
  EXPECT_TRUE(contains(error(make_npy(1, ok_dict, data.substr(0, 7))),
                       "truncated .npy file (shape [2] of <f4 needs 8 bytes of data, the file has 7)"));
  EXPECT_TRUE(contains(error(make_npy(1, ok_dict, data + "!")), "trailing bytes"));
  // Byte counts that overflow 64 bits are refused, not wrapped around to a small number.
  EXPECT_TRUE(
      contains(error(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,)}", data)),
               "needs more than 2^63 bytes"));
  EXPECT_TRUE(contains(error(make_npy(1,
                                      "{'descr': '<f4', 'fortran_order': False, "
                                      "'shape': (0, 4611686018427387904, 4611686018427387904)}",
                                      "")),
                       "shape [0, 4611686018427387904, 4611686018427387904] is too large"));
  for (const std::string& message :
       {error(std::string("\x93NUMPY\x01\x00\x06\x00{'a\n  ", 16)), error(make_npy(1, ok_dict, data + "!"))})
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

// Every prefix and single-byte corruption of a valid file either parses or throws
// Error: never a crash or an out-of-bounds read (run under ASan to be sure).
TEST(Npy, SurvivesTruncationAndCorruption) {
  const std::string good = encode_npy(torch::rand({2, 3, 4}).to(torch::kFloat16));
  for (size_t n = 0; n < good.size(); ++n) EXPECT_FALSE(error_of([&] { parse_npy(good.substr(0, n), "x"); }).empty());
  std::mt19937 rng(1);
  for (int i = 0; i < 2000; ++i) {
    std::string bad = good;
    bad[rng() % 128] = static_cast<char>(rng() % 256);
    try {
      parse_npy(bad, "x");
    } catch (const Error&) {
    }
  }
}

TEST(Npy, FilesAreWrittenAtomicallyAndErrorsNameThePath) {
  testing::TempDir dir;
  const std::string path = (dir / "sub" / "a.npy").string();
  write_npy_file(path, torch::ones({3, 2}, torch::kUInt8));
  EXPECT_TRUE(torch::equal(read_npy_file(path), torch::ones({3, 2})));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "sub"), {}), 1);  // no temporary left
  EXPECT_TRUE(contains(error_of([&] { read_npy_file((dir / "missing.npy").string()); }), "missing.npy"));
  std::ofstream(dir / "bad.npy") << "garbage";
  EXPECT_TRUE(contains(error_of([&] { read_npy_file((dir / "bad.npy").string()); }), "bad.npy: not a NumPy"));
}

}  // namespace
}  // namespace segtransfer
