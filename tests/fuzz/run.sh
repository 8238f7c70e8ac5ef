#!/usr/bin/env bash
# Builds the libFuzzer targets of every parser of outside data with clang, ASan and
# UBSan, and runs each for FUZZ_SECONDS (default 60; FUZZ_JOBS at a time, default 2)
# from its seed corpus in tests/fuzz/corpus/<target>. A crash, a leak, undefined
# behaviour or an exception other than segtransfer::Error fails the run; the input
# that did it is kept in build/fuzz/findings/<target> (add it to
# tests/fuzz/regressions/<target>/ with the fix: those are replayed first).
#
# Only the parsers' translation units are compiled here (instrumented); the rest
# links from the Release build's libsegtransfer.a, so run scripts/setup.sh first.
# Needs clang-14 and libclang-rt-14-dev (scripts/setup.sh does not install them;
# .ci/run does).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD_DIR:-build}
OUT=$BUILD/fuzz
CXX=${FUZZ_CXX:-clang++-14}
SECONDS_EACH=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-"npy answer config label store"}
mkdir -p "$OUT/obj"

# The Release build's defines and include paths (ABI-relevant: spdlog, fmt, c10d),
# without its optimisation, warnings and precompiled header.
FLAGS=$(python3 - "$BUILD" <<'PY'
import json, shlex, sys
for e in json.load(open(sys.argv[1] + "/compile_commands.json")):
    if e["file"].endswith("src/teachers/npy.cpp"):
        args = shlex.split(e["command"])[1:]
        keep, skip = [], False
        for a in args:
            if skip: skip = False; continue
            if a in ("-o", "-c", "-include"): skip = True; continue
            if a.startswith(("-D", "-I", "-std")) or a == "-isystem" or keep and keep[-1] == "-isystem":
                keep.append(a)
        print(" ".join(shlex.quote(a) for a in keep))
PY
)
LIBS=$(sed -n '/^build segtransfer: /,/LINK_LIBRARIES/p' "$BUILD/build.ninja" | sed -n 's/^ *LINK_LIBRARIES = //p')
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"

compile() {  # source -> instrumented object
  local src=$1 obj=$OUT/obj/$(echo "$1" | tr / _).o
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
    eval "$CXX $FLAGS $SAN -fsanitize=fuzzer-no-link -c $src -o $obj"
  fi
  echo "$obj"
}

sources_of() {
  case $1 in
    npy) echo src/teachers/npy.cpp ;;
    answer) echo src/teachers/teacher.cpp src/teachers/npy.cpp ;;
    config) echo src/core/config.cpp ;;
    label) echo src/data/dataset.cpp src/data/label_space.cpp ;;
    store) echo src/teachers/prediction_store.cpp ;;
    *) echo "unknown fuzz target $1" >&2; exit 2 ;;
  esac
}

# Build every target first, then fuzz FUZZ_JOBS of them at a time (one core each).
for t in $TARGETS; do
  objs=$(compile tests/fuzz/${t}_fuzz.cc)
  for s in $(sources_of "$t"); do objs="$objs $(compile "$s")"; done
  link_objs=""
  for o in $objs; do link_objs="$link_objs ${o#$BUILD/}"; done
  (cd "$BUILD" && eval "$CXX $SAN -fsanitize=fuzzer $link_objs $LIBS -o fuzz/${t}_fuzz")
done

fuzz_one() {  # target -> exit status; the summary and any finding on stdout
  local t=$1
  mkdir -p "$OUT/findings/$t" "$OUT/corpus/$t"
  cp -n tests/fuzz/corpus/$t/* "$OUT/corpus/$t/" 2>/dev/null || true
  # The regressions first: inputs that once crashed must now be handled.
  if [ -d tests/fuzz/regressions/$t ] && ! "$OUT/${t}_fuzz" tests/fuzz/regressions/$t/* > "$OUT/$t.regressions.log" 2>&1; then
    echo "fuzz: $t: a regression input fails again:"; tail -40 "$OUT/$t.regressions.log"; return 1
  fi
  if ! "$OUT/${t}_fuzz" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
      -artifact_prefix="$OUT/findings/$t/" -print_final_stats=1 "$OUT/corpus/$t" > "$OUT/$t.log" 2>&1; then
    echo "fuzz: $t FAILED (input kept in $OUT/findings/$t/):"; tail -40 "$OUT/$t.log"; return 1
  fi
  echo "fuzz: $t: $(grep -E 'DONE' "$OUT/$t.log" | tail -1)"
}

status=0
pids=()
running=0
for t in $TARGETS; do
  fuzz_one "$t" & pids+=($!)
  running=$((running + 1))
  if [ "$running" -ge "${FUZZ_JOBS:-2}" ]; then wait -n || status=1; running=$((running - 1)); fi
done
while [ "$running" -gt 0 ]; do wait -n || status=1; running=$((running - 1)); done
exit $status
