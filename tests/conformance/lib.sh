# shellcheck shell=sh
# lib.sh: sourced by the run-*.sh scripts. Starts one server on 127.0.0.1
# with a port the kernel picks, remembers its pid, and stops exactly that
# process (and removes its scratch files) however the script ends.
#
#   conf_init NODE BIN OUTDIR     check the tools, prepare OUTDIR, set traps
#   conf_start PATTERN CMD...     run CMD, wait for PATTERN (a sed -n
#                                 expression printing the base URL) in its
#                                 output, set URL to BASE/mcp
#   conf_finish STATUS            stop the server, exit with STATUS (or 1 if
#                                 the server did not stop cleanly)

# NODE, BIN, OUT and CONF_DIR are for the scripts that source this file.
# shellcheck disable=SC2034
conf_init()
{
    if [ $# -ne 3 ]; then
        echo "usage: $0 NODE SERVER_BINARY OUTDIR" >&2
        exit 2
    fi
    NODE=$1
    BIN=$2
    OUT=$3
    CONF_DIR=$(cd "$(dirname "$0")" && pwd)
    PID=
    WORK=
    trap conf_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    for f in "$NODE" "$BIN"; do
        if [ ! -x "$f" ]; then
            echo "conformance: $f is missing or not executable" >&2
            exit 1
        fi
    done
    major=$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null)
    if [ -z "$major" ] || [ "$major" -lt 22 ]; then
        echo "conformance: the suite needs Node.js >= 22; $NODE is ${major:-unusable}" >&2
        exit 1
    fi
    rm -rf "$OUT"
    mkdir -p "$OUT" || exit 1
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/phonely-conformance-run.XXXXXX") || exit 1
    # Settings from the caller's environment must not leak into the server.
    for v in $(env | sed -n 's/^\(PHONELY_MCP_[A-Za-z0-9_]*\)=.*/\1/p'); do
        unset "$v"
    done
}

conf_start()
{
    pattern=$1
    shift
    "$@" >"$OUT/server.out" 2>"$OUT/server.err" &
    PID=$!
    tries=0
    base=
    while [ -z "$base" ]; do
        base=$(sed -n "$pattern" "$OUT/server.out" "$OUT/server.err" | head -n 1)
        [ -n "$base" ] && break
        if ! kill -0 "$PID" 2>/dev/null; then
            wait "$PID"
            echo "conformance: the server exited (status $?) before it was ready:" >&2
            cat "$OUT/server.err" >&2
            PID=
            exit 1
        fi
        tries=$((tries + 1))
        if [ "$tries" -gt 300 ]; then
            echo "conformance: the server did not get ready within 30 s" >&2
            exit 1
        fi
        sleep 0.1 2>/dev/null || sleep 1
    done
    URL=$base/mcp
    echo "conformance: server pid $PID at $URL"
}

# Stop the server we started (TERM, then wait); sets SERVER_STATUS.
conf_stop()
{
    SERVER_STATUS=0
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null
        wait "$PID"
        SERVER_STATUS=$?
        PID=
    fi
}

conf_cleanup()
{
    conf_stop
    [ -n "$WORK" ] && rm -rf "$WORK"
    WORK=
}

conf_finish()
{
    status=$1
    conf_stop
    if [ "$SERVER_STATUS" -ne 0 ]; then
        echo "conformance: the server exited with status $SERVER_STATUS after SIGTERM:" >&2
        tail -n 40 "$OUT/server.err" >&2
        [ "$status" -eq 0 ] && status=1
    fi
    echo "conformance: suite status $status; results in $OUT"
    exit "$status"
}
