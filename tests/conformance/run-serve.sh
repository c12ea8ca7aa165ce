#!/bin/sh
# run-serve.sh NODE PHONELY_MCP OUTDIR: the 0.1.16 scenarios every server
# must pass, whatever its tools, against the real `phonely-mcp serve`
# (private_auth no, loopback, ports picked by the kernel, a scratch
# database: an SQLite file, or a PostgreSQL database). No expected failures.
set -u
# shellcheck source=tests/conformance/lib.sh
. "$(dirname "$0")/lib.sh"
conf_init "$@"
# With PHONELY_CONFORMANCE_DB=postgresql (conformance_serve_pg), a new
# database on the throwaway PostgreSQL cluster of CTest's pg fixture.
db="$WORK/phonely.db"
if [ "${PHONELY_CONFORMANCE_DB:-}" = postgresql ]; then
    db=$(sh "$PHONELY_TEST_PG_SCRIPT" newdb "$PHONELY_TEST_PG_CLUSTER") || exit 1
fi
conf_start 's|.*private listener ready on \(http://127\.0\.0\.1:[0-9]*\)$|\1|p' \
    "$BIN" serve --db "$db" --webhook-listen 127.0.0.1:0 \
    --private-listen 127.0.0.1:0 --private-auth no
status=0
for scenario in server-initialize ping logging-set-level tools-list resources-list \
    prompts-list server-sse-multiple-streams dns-rebinding-protection; do
    "$NODE" "$CONF_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js" server \
        --url "$URL" --scenario "$scenario" -o "$OUT" || status=1
done
conf_finish $status
