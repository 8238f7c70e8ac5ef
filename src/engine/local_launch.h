// `segtransfer train --nproc N`: a data-parallel run of N processes on this
// machine, started the way torchrun would (RANK, LOCAL_RANK, WORLD_SIZE,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), without needing torchrun.
#pragma once
#include <string>
#include <vector>

namespace segtransfer {

// Runs `processes` copies of this executable with `arguments` (argv[1..]) and
// waits for them. When one fails, the others are stopped. Returns 0 when all
// succeed, else the first failure's exit code (128 + signal for a signal).
int run_local_processes(int processes, const std::vector<std::string>& arguments);

}  // namespace segtransfer
