// NumPy .npy arrays, the format black boxes most often answer in. Hand-written
// because Debian packages no C++ .npy library; the format is small (magic,
// version, a Python-literal header dict, raw C-order data).
#pragma once
#include <torch/types.h>

#include <string>

namespace segtransfer {

// Parses .npy bytes (versions 1.0, 2.0, 3.0; C order; dtypes '<f2', '<f4', '<f8'
// and '|u1') into a CPU float32 tensor of the array's shape. Untrusted input:
// every malformed file (bad magic, truncated, unparsable header, unsupported
// dtype or order, wrong data size) throws Error naming `what` and the cause.
torch::Tensor parse_npy(const std::string& bytes, const std::string& what);
torch::Tensor read_npy_file(const std::string& path);

// Encodes a float16, float32 or uint8 tensor (any rank) as NumPy 1.24's np.save
// writes it: version 1.0, header padded to a multiple of 64 bytes.
std::string encode_npy(const torch::Tensor& t);
void write_npy_file(const std::string& path, const torch::Tensor& t);  // atomically

}  // namespace segtransfer
