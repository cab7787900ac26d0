#!/usr/bin/env bash
# The main job: sets everything up, builds flow, and runs flowd in the
# foreground with the stream files of streams/ loaded and the demo deployed
# (account events folded into account state and counted, and a tap that
# counts the event types), then prints where to look. Ctrl-C stops flowd
# and every app it started; running this again picks the streams up where
# they were.
#
# Environment: FLOW_PORT (default 9393), FLOW_BIND (default 127.0.0.1),
# FLOW_DATA_DIR (default build/flow-data), FLOW_TOKEN (optional).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh build

port="${FLOW_PORT:-9393}"
bind="${FLOW_BIND:-127.0.0.1}"
data="${FLOW_DATA_DIR:-build/flow-data}"
url="http://${bind}:${port}"

cat <<MSG
flow is starting (data directory: ${data})
  REST API:   ${url}/streams/definitions   (see docs/rest.md)
  dashboard:  ${url}/
  metrics:    ${url}/metrics
  try:        build/cli/flowctl --server ${url} stream list
Stop with Ctrl-C.
MSG

exec build/server/flowd --bind "${bind}" --port "${port}" \
  --data-dir "${data}" --load streams \
  --deploy accounts --deploy event-types
