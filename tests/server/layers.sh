#!/bin/sh
# Checks that server/ runs one way: no object file of flowd uses a srv_
# function defined in a layer above its own, and no file of server/ (a
# source or a header) includes a header of a layer above its own, nor one
# of another layer's private headers. Arguments: the server source
# directory, then the directories holding flowd's object files (*.c.o;
# meson names the object of server/deploy/x.c deploy_x.c.o).
#
# The layers, top to bottom (a file not listed fails the check, so a new
# file must be placed):
#   5 rest:    HTTP routes, JSON, server-sent events, start-up
#   4 deploy:  deploy/: deploy, undeploy, scale, restore, wiring,
#              supervision, recovery, the operating system
#   3 checkpoint: checkpoint/: regions, the checkpoint coordinator, the
#              committed counters, epochs and recovery times
#   2 model:   streams, registry, analytics, taps, dead letters, control
#              channel, keys
#   1 bottom:  store, HTTP glue, properties, router, status, utilities
# Each layer's headers are placed in header_layer_of; deploy/deploy.h is
# the deployment layer's private header, for deploy/ alone, and
# checkpoint/coordinator.h the coordinator's, for checkpoint/ alone.
set -u
src=$1
shift

layer_of() {
    case $1 in
    main.c | api.c | streams.c | metrics.c | events.c | static.c | auth.c | load.c | \
        fnapi.c | destinations.c)
        echo 5 ;;
    deploy_*.c)
        echo 4 ;;
    checkpoint_*.c)
        echo 3 ;;
    model.c | registry.c | analytics.c | tap.c | deadletter.c | control.c | keys.c | kafka.c | \
        paths.c | functions.c)
        echo 2 ;;
    store.c | error.c | http.c | httpparse.c | props.c | router.c | status.c | util.c | \
        apppath.c)
        echo 1 ;;
    *) echo 0 ;;
    esac
}

header_layer_of() {
    case $1 in
    api.h) echo 5 ;;
    deploy/deployer.h | deploy/deploy.h | deploy/k8s_manifests.h | \
        deploy/k8s_client.h | deploy/kubernetes.h)
        echo 4 ;;
    checkpoint/checkpoint.h | checkpoint/coordinator.h) echo 3 ;;
    model.h | analytics.h) echo 2 ;;
    util.h | store.h | http.h | httpparse.h | props.h | router.h | status.h | \
        error.h | bucket.h | apppath.h)
        echo 1 ;;
    *) echo 0 ;;
    esac
}

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
for dir in "$@"; do
    for o in "$dir"/*.c.o; do
        f=$(basename "$o" .o)
        if [ "$(layer_of "$f")" = 0 ]; then
            echo "layers: $f is in no layer; add it to tests/server/layers.sh"
            fail=1
        fi
        nm -g --defined-only "$o" | awk -v f="$f" '$3 ~ /^srv_/ {print $3, f}' \
            >>"$tmp/defs"
        nm -u "$o" | awk -v f="$f" '$2 ~ /^srv_/ {print f, $2}' >>"$tmp/uses"
    done
done
[ -s "$tmp/defs" ] || { echo "layers: no object files in $*"; exit 1; }
while read -r user sym; do
    def=$(awk -v s="$sym" '$1 == s {print $2; exit}' "$tmp/defs")
    [ -n "$def" ] || continue
    lu=$(layer_of "$user")
    ld=$(layer_of "$def")
    if [ "$ld" -gt "$lu" ]; then
        echo "layers: $user (layer $lu) calls $sym of $def (layer $ld)"
        fail=1
    fi
done <"$tmp/uses"
for c in "$src"/*.[ch] "$src"/*/*.[ch]; do
    [ -f "$c" ] || continue
    rel=${c#"$src"/}
    dir=$(dirname "$rel")
    case $rel in
    *.h)
        lf=$(header_layer_of "$rel")
        [ "$lf" = 0 ] && {
            echo "layers: $rel is in no layer; add it to tests/server/layers.sh"
            fail=1
            continue
        } ;;
    *) lf=$(layer_of "$(echo "$rel" | tr / _)") ;;
    esac
    [ "$lf" = 0 ] && continue
    for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$c"); do
        # Quoted includes resolve against the including file's directory
        # first, then server/ itself.
        if [ "$dir" != . ] && [ -f "$src/$dir/$inc" ]; then
            h=$dir/$inc
        elif [ -f "$src/$inc" ]; then
            h=$inc
        else
            continue
        fi
        lh=$(header_layer_of "$h")
        if [ "$lh" -gt "$lf" ]; then
            echo "layers: $rel (layer $lf) includes $h (layer $lh)"
            fail=1
        fi
        if [ "$h" = deploy/deploy.h ] && [ "$dir" != deploy ]; then
            echo "layers: $rel includes deploy/deploy.h, private to deploy/"
            fail=1
        fi
        if [ "$h" = checkpoint/coordinator.h ] && [ "$dir" != checkpoint ]; then
            echo "layers: $rel includes checkpoint/coordinator.h, private to checkpoint/"
            fail=1
        fi
    done
done
[ "$fail" = 0 ] && echo "layers: every call and include runs down"
exit $fail
