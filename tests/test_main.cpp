#include <gtest/gtest.h>
#include <torch/torch.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  torch::set_num_threads(1);  // ctest runs two test processes at once on two cores
  return RUN_ALL_TESTS();
}
