#!/usr/bin/env bash
# Installs what flow needs to build, run and test on Debian 12, then
# configures the build directories. Safe to run again: it installs only
# what is missing and reuses existing build directories.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential pkg-config meson ninja-build flex bison clang
  clang-format libclang-rt-14-dev
  libzmq3-dev libmsgpack-dev libuv1-dev libjansson-dev
  libsqlite3-dev libcurl4-openssl-dev libedit-dev libcriterion-dev
  libyaml-dev
  liblua5.4-dev
  libpcre2-dev
  librdkafka-dev kcat
  postgresql libpq-dev
  python3 python3-zmq python3-msgpack
  scdoc tmux prometheus chromium curl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-o DPkg::Lock::Timeout=600 -q)
  apt-get "${apt_opts[@]}" update
  apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
fi

# Node.js and npm come with the machine (never Debian's nodejs, which would
# replace them); the lock file pins uPlot, playwright-core, and
# kubernetes-models and yaml for the Kubernetes manifests' validation.
if ! command -v npm >/dev/null; then
  echo "setup: npm is not installed; install Node.js 20 or newer first" >&2
  exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules
fi

# The main build (gcc) and the sanitizer + fuzzing build (clang).
if [ ! -f build/build.ninja ]; then
  meson setup build
fi
if [ "${1:-}" = "--with-sanitizers" ] && [ ! -f build-san/build.ninja ]; then
  CC=clang meson setup build-san -Db_sanitize=address,undefined \
    -Db_lundef=false -Dfuzz=true -Dbuildtype=debug
fi
