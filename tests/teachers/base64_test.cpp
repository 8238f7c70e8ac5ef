#include "teachers/base64.h"

#include <gtest/gtest.h>

#include "core/error.h"

using namespace segtransfer;

// RFC 4648 section 10's test vectors, both ways.
TEST(Base64, Rfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors{{"", ""},
                                                                 {"f", "Zg=="},
                                                                 {"fo", "Zm8="},
                                                                 {"foo", "Zm9v"},
                                                                 {"foob", "Zm9vYg=="},
                                                                 {"fooba", "Zm9vYmE="},
                                                                 {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded, "test"), plain);
  }
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  EXPECT_EQ(base64_decode(base64_encode(bytes), "test"), bytes);
}

TEST(Base64, RejectsWhatIsNotBase64) {
  EXPECT_THROW(base64_decode("Zm9", "answer"), Error);   // length
  EXPECT_THROW(base64_decode("Zm9*", "answer"), Error);  // alphabet
  EXPECT_THROW(base64_decode("Z=9v", "answer"), Error);  // padding inside
}
