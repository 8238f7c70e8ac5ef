#include "cli/app.h"
#include "engine/runtime.h"

int main(int argc, char** argv) {
  segtransfer::configure_allocator();
  return segtransfer::run_cli(argc, argv);
}
