#!/usr/bin/env bash
# Builds one build directory (default: build) with ninja, and folds the
# linker's expected warnings about glibc's NSS functions in the static
# apps ("Using 'getaddrinfo' in statically linked applications requires
# at runtime the shared libraries ...", about 90 lines; see "How the apps
# are linked" in docs/apps.md) into one line. Every other line of output,
# warnings and errors included, is shown as ninja printed it, and the exit
# status is ninja's.
set -uo pipefail
dir="${1:-build}"
ninja -C "$dir" 2>&1 | awk '
  /in statically linked applications requires at runtime the shared libraries/ {
    nss++; held = ""; next
  }
  /: in function `/ {
    # The line before each such warning names the function; print it only
    # if what follows is not one of them.
    if (held != "") print held
    held = $0; next
  }
  {
    if (held != "") { print held; held = "" }
    print
  }
  END {
    if (held != "") print held
    if (nss)
      printf "build: %d linker warnings about glibc NSS functions in the " \
             "static apps left out (expected, see docs/apps.md)\n", nss
  }'
exit "${PIPESTATUS[0]}"
