#!/usr/bin/env bash
# Sets up everything, builds flow and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
ninja -C build
exec build/cli/flowctl validate streams/*.flow
