#!/usr/bin/env bash
# The main job: sets everything up, builds flow, and runs flowd with the
# demo (streams/demo.flow: account events folded into account state and
# counted, and a tap that counts the event types), the accounts' web and
# worker roles (streams/accounts.flow, multi packaging: account-web's HAL
# API on FLOW_ACCOUNTS_PORT, account-events, account-view's read model)
# and the orders saga (streams/orders.flow: order-sim, order, inventory,
# payment and the saga's counters) loaded and deployed
# (docs/architecture.md).
# Once flowd answers /ready it prints where to look, with a dashboard URL
# that logs in with flowd's token; when flowd fails to start (say, the port
# is taken) its error is shown and this script exits non-zero. Ctrl-C (or
# SIGTERM) stops flowd and every app it started; running this again picks
# the streams up where they were.
#
# Environment: FLOW_PORT (default 9393), FLOW_BIND (default 127.0.0.1),
# FLOW_DATA_DIR (default build/flow-data), FLOW_TOKEN (optional: else the
# token flowd keeps in FLOW_DATA_DIR/token), FLOW_BUILD_DIR (default
# build), FLOW_ACCOUNTS_PORT (default FLOW_PORT + 1: account-web's API),
# FLOW_SKIP_SETUP=1 (skip setup.sh and build.sh: use the build that is
# there).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${FLOW_BUILD_DIR:-build}"
if [[ "${FLOW_SKIP_SETUP:-}" != 1 ]]; then
  ./scripts/setup.sh
  ./scripts/build.sh "${build}"
fi

port="${FLOW_PORT:-9393}"
bind="${FLOW_BIND:-127.0.0.1}"
data="${FLOW_DATA_DIR:-build/flow-data}"
accounts_port="${FLOW_ACCOUNTS_PORT:-$((port + 1))}"
case "${bind}" in
  0.0.0.0) host=127.0.0.1 ;;
  ::) host=::1 ;;
  *) host="${bind}" ;;
esac
if [[ "${host}" == *:* ]]; then
  url="http://[${host}]:${port}"
  accounts_url="http://[${host}]:${accounts_port}"
else
  url="http://${host}:${port}"
  accounts_url="http://${host}:${accounts_port}"
fi

# Answers whether flowd says it is ready (GET /ready is 200), in a
# subshell so that a refused connection only fails the check.
ready() (
  exec 3<>"/dev/tcp/${host}/${port}" || exit 1
  printf 'GET /ready HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n' \
    "${host}" "${token}" >&3
  IFS= read -r -t 10 status <&3 || exit 1
  [[ "${status}" == "HTTP/1."?" 200"* ]]
) 2>/dev/null

# The accounts' read model lives in the data directory: streams/accounts.flow
# names the placeholder directory /var/lib/flow/accounts, which its copy
# here replaces with DATA/accounts (flowd allows app paths under it only
# with --allow-path), and account-web's port with FLOW_ACCOUNTS_PORT.
mkdir -p "${data}/accounts"
shared="$(cd "${data}/accounts" && pwd)"
sed -e "s#/var/lib/flow/accounts#${shared}#g" \
  -e "s#account-web --port=9394#account-web --port=${accounts_port}#" \
  streams/accounts.flow >"${data}/accounts.flow"

# Producers before consumers, so that each reader of a destination starts
# with its producers in place.
deploys=(accounts event-types accounts-web accounts-worker accounts-view
  orders-sim orders inventory payment orders-started orders-completed
  orders-cancelled orders-compensated orders-cancelled-by-reason)
deploy_args=()
for name in "${deploys[@]}"; do
  deploy_args+=(--deploy "${name}")
done

# flowd runs as a job of its own (its own process group), so that Ctrl-C
# reaches it once, forwarded from here, and it stops its apps.
set -m
"${build}/server/flowd" --bind "${bind}" --port "${port}" \
  --data-dir "${data}" --allow-path "${shared}" --load streams/demo.flow \
  --load "${data}/accounts.flow" --load streams/orders.flow \
  "${deploy_args[@]}" &
flowd=$!
set +m
stopping=
# shellcheck disable=SC2317 # called from the traps below
forward() {
  stopping=1
  kill -"$1" "${flowd}" 2>/dev/null || true
}
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward HUP' HUP

# Waits for flowd to exit and exits with its status.
finish() {
  local rc=0
  while kill -0 "${flowd}" 2>/dev/null; do
    rc=0
    wait "${flowd}" || rc=$?
  done
  exit "${rc}"
}

token="${FLOW_TOKEN:-}"
until [[ -n "${token}" ]] && ready; do
  if ! kill -0 "${flowd}" 2>/dev/null || [[ -n "${stopping}" ]]; then
    rc=0
    wait "${flowd}" || rc=$?
    if [[ -z "${stopping}" ]]; then
      echo "run.sh: flowd exited with status ${rc} before it was ready;" \
        "its error is above" >&2
      exit $((rc ? rc : 1))
    fi
    finish
  fi
  if [[ -z "${token}" && -s "${data}/token" ]]; then
    token="$(<"${data}/token")"
  fi
  sleep 0.2
done

if [[ "${data}" == build/flow-data ]]; then
  ctl="${build}/cli/flowctl --server ${url}"
else
  ctl="FLOW_DATA_DIR=${data} ${build}/cli/flowctl --server ${url}"
fi
cat <<MSG
flow is running (data directory: ${data})
  dashboard:  ${url}/#token=${token}
              (logs in with flowd's token; keep this URL to yourself)
  REST API:   ${url}/streams/definitions   (send Authorization: Bearer TOKEN,
              the token in ${data}/token; see docs/rest.md)
  metrics:    ${url}/metrics   (with the same token)
  try:        ${ctl} stream list
  accounts:   curl -i -d '{"firstName":"Ada","lastName":"Lovelace","email":"ada@example.com"}' \\
                ${accounts_url}/v1/accounts
              (account-web's HAL API: follow the _links; docs/apps.md "account-web")
  saga:       ${url}/#/saga   (the orders saga's counters)
Stop with Ctrl-C.
MSG
finish
