#include "cli/app.h"

int main(int argc, char** argv) { return segtransfer::run_cli(argc, argv); }
