#!/usr/bin/env bash
# Runs the whole test suite: installs what is needed, builds with AddressSanitizer and
# UndefinedBehaviorSanitizer, runs the unit tests (doctest), the integration tests (real server
# processes driven by redis-cli, redis-py and hiredis), the kill -9 durability test, and the two
# libFuzzer targets for a bounded time. Exits non-zero on any failure.
#
# EVENTFUL_SANITIZE=0 builds without sanitizers; EVENTFUL_FUZZ_SECONDS sets the fuzzing time
# (default 60 s per target, 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

JOBS=$(nproc)
SANITIZE=${EVENTFUL_SANITIZE:-1}
FUZZ_SECONDS=${EVENTFUL_FUZZ_SECONDS:-60}
build_dir=build-test
[ "$SANITIZE" = 1 ] || build_dir=build-test-nosan

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DEVENTFUL_SANITIZE=$([ "$SANITIZE" = 1 ] && echo ON || echo OFF) -DEVENTFUL_TESTS=ON > /dev/null
cmake --build "$build_dir" -j "$JOBS"

# ASan: RocksDB and the other system libraries are not instrumented; leak checks stay on.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

status=0
(cd "$build_dir" && ctest --output-on-failure -j "$JOBS") || status=1

if [ "$FUZZ_SECONDS" != 0 ]; then
  CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEVENTFUL_FUZZ=ON -DEVENTFUL_FUZZ_SECONDS="$FUZZ_SECONDS" > /dev/null
  cmake --build build-fuzz -j "$JOBS" --target resp_parser_fuzz add_request_fuzz schema_change_fuzz
  (cd build-fuzz && ctest --output-on-failure -j "$JOBS" -R '^fuzz') || status=1
fi

exit $status
