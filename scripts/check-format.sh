#!/usr/bin/env bash
# Fails, listing the files, when any C source has drifted from .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h')
[ ${#files[@]} -gt 0 ] || exit 0
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/flow-format.$$; then
  grep -oE '^[^:]+\.(c|h)' /tmp/flow-format.$$ | sort -u | sed 's/^/format drift: /' >&2
  echo "run: clang-format -i \$(git ls-files '*.c' '*.h')" >&2
  rm -f /tmp/flow-format.$$
  exit 1
fi
rm -f /tmp/flow-format.$$
