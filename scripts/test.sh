#!/usr/bin/env bash
# Sets up everything and runs flow's whole test suite:
#   1. formatting check (.clang-format)
#   2. gcc build with -Werror: unit, integration and browser tests
#   3. clang build with AddressSanitizer + UndefinedBehaviorSanitizer:
#      unit tests and the deterministic libFuzzer runs (fixed seed,
#      committed corpus and regression inputs)
# Ends with one line "tests: N passed, N failed" and exits non-zero on any
# failure.
set -uo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh --with-sanitizers || exit 1

status=0
step() {
  echo
  echo "==> $*"
}

step "format"
./scripts/check-format.sh || status=1

step "build (gcc)"
./scripts/build.sh build || exit 1
step "tests (gcc): unit, integration, browser"
meson test -C build --print-errorlogs --num-processes 2 --no-rebuild || status=1

step "build (clang, ASan+UBSan, fuzzers)"
./scripts/build.sh build-san || exit 1
step "tests (clang, ASan+UBSan): unit and fuzz"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  meson test -C build-san --print-errorlogs --num-processes 2 --no-rebuild \
  --suite unit --suite fuzz || status=1

# One closing line over both runs, counted from meson's test logs.
python3 - build/meson-logs/testlog.json build-san/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        if not line.strip():
            continue
        r = json.loads(line).get("result", "")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print()
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
