#!/bin/sh
# bench-doc.sh: rewrite the figures section of docs/performance.md from a
# results file written by `make bench` (one "name value unit" line per
# figure, "# key text" notes). Everything between the BEGIN FIGURES and
# END FIGURES markers is replaced: the machine, summary tables, and the
# targets with met / not met worked out from the figures. The rest of the
# document (method, how to run) is left alone.
#
# usage: tests/bench-doc.sh RESULTS DOC [BUILD_DIR]
#   BUILD_DIR (the bench build, for its compiler) defaults to RESULTS' directory.
set -eu

results=${1:?usage: bench-doc.sh RESULTS DOC [BUILD_DIR]}
doc=${2:?usage: bench-doc.sh RESULTS DOC [BUILD_DIR]}
build=${3:-$(dirname "$results")}
begin='<!-- BEGIN FIGURES: written by tests/bench-doc.sh from the last `make bench BENCH_DOC=1` -->'
end='<!-- END FIGURES -->'

[ -r "$results" ] || { echo "bench-doc: cannot read $results" >&2; exit 1; }
[ -r "$doc" ] || { echo "bench-doc: cannot read $doc" >&2; exit 1; }
grep -qF "$begin" "$doc" && grep -qF "$end" "$doc" ||
    { echo "bench-doc: $doc has no BEGIN FIGURES / END FIGURES markers" >&2; exit 1; }

# ---- the machine ----
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -n 1)
cores=$(nproc 2>/dev/null || echo '?')
ram=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)
kernel=$(uname -sr)
debian=$(cat /etc/debian_version 2>/dev/null || echo 'not Debian')
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null | head -n 1)
compiler=$("${cc:-cc}" --version 2>/dev/null | head -n 1)
sqlite=$(sed -n 's/^# sqlite //p' "$results" | head -n 1)
when=$(date -u -r "$results" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || date -u '+%Y-%m-%d')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
if [ -n "$(git status --porcelain -- src include tests 2>/dev/null)" ]; then
    commit="$commit with uncommitted changes"
fi
seconds=$(sed -n 's/^# ingest \([0-9.]*\) s per point.*/\1/p' "$results" | head -n 1)

section=$(mktemp)
out=$(mktemp)
trap 'rm -f "$section" "$out"' EXIT

# ---- the tables, from the figures ----
awk -v cpu="$cpu" -v cores="$cores" -v ram="$ram" -v kernel="$kernel" -v debian="$debian" \
    -v compiler="$compiler" -v sqlite="$sqlite" -v when="$when" -v commit="$commit" \
    -v seconds="${seconds:-?}" '
/^# reused / { reused[$3] = 1; next }
/^#/ { next }
NF >= 3 { v[$1] = $2; u[$1] = $3; if ($1 ~ /^search\.[^.]+\./) { split($1, p, "."); db[p[2]] = 1 } }
function f(name) { return (name in v) ? v[name] : "-" }
function has(name) { return name in v }
function fu(name, unit) { return (name in v) ? v[name] unit : "-" }
function row(cells) { print "| " cells " |" }
# How a database label is shown: 100k, 1M.
function shown(label) { return label ~ /m$/ ? substr(label, 1, length(label) - 1) "M" : label }
END {
    print "Last run: " when ", commit " commit ", " seconds " s per measured point" \
        (has("bench.total") ? ", " v["bench.total"] " s in all" : "") "."
    print ""
    print "| machine | |"
    print "|---|---|"
    row("CPU | " cpu " (" cores " cores as seen by the system)")
    row("memory | " ram)
    row("kernel | " kernel)
    row("Debian | " debian)
    row("SQLite | " sqlite)
    row("compiler | " compiler)
    print ""

    print "### Webhook ingest (durable: WAL flushed before each 200, full-text index)"
    print ""
    print "| connections | grouped req/s | p50 ms | p99 ms | one commit per request req/s | p50 ms | p99 ms | grouped / single |"
    print "|---:|---:|---:|---:|---:|---:|---:|---:|"
    n = split("1 8 32 128", conns, " ")
    for (i = 1; i <= n; i++) {
        c = "c" conns[i]
        row(conns[i] " | " f("ingest.grouped." c ".rps") " | " f("ingest.grouped." c ".p50") " | " \
            f("ingest.grouped." c ".p99") " | " f("ingest.single." c ".rps") " | " \
            f("ingest.single." c ".p50") " | " f("ingest.single." c ".p99") " | " \
            fu("ingest.gain." c, "x"))
    }
    errors = 0
    for (k in v) if (k ~ /^ingest\..*\.errors$/) errors += v[k]
    print ""
    print "Requests that did not get 200: " errors "."
    print ""

    print "### MCP (100,000-call database)"
    print ""
    print "| transport | tool | load | calls/s | p50 ms | p99 ms |"
    print "|---|---|---|---:|---:|---:|"
    split("get_call search_calls", tools, " ")
    for (i = 1; i <= 2; i++) {
        t = "mcp.stdio." tools[i]
        row("stdio | " tools[i] " | sequential | " f(t ".seq.cps") " | " f(t ".seq.p50") " | " f(t ".seq.p99"))
        row("stdio | " tools[i] " | 16 in flight | " f(t ".if16.cps") " | " f(t ".if16.p50") " | " f(t ".if16.p99"))
    }
    t = "mcp.http.get_call.c32"
    row("HTTP | get_call | 32 clients | " f(t ".cps") " | " f(t ".p50") " | " f(t ".p99"))
    print ""
    print "search_calls above cycles through the query kinds of the next table."
    print ""

    print "### Search latency (search_calls over stdio, newest first, sequential)"
    print ""
    # SQLite databases (dbs), then PostgreSQL copies of them (label "pg..."), in search columns (sdbs)
    ndb = 0
    if ("100k" in db) dbs[++ndb] = "100k"
    if ("1m" in db) dbs[++ndb] = "1m"
    for (k in db) if (k != "100k" && k != "1m" && k !~ /^pg/) dbs[++ndb] = k
    nsdb = 0
    for (i = 1; i <= ndb; i++) sdbs[++nsdb] = dbs[i]
    for (i = 1; i <= ndb; i++) if (("pg" dbs[i]) in db) sdbs[++nsdb] = "pg" dbs[i]
    head = "| query | matches |"
    line = "|---|---|"
    for (i = 1; i <= nsdb; i++) { head = head " " shown(sdbs[i]) " p50 ms | " shown(sdbs[i]) " p99 ms |"; line = line "---:|---:|" }
    print head
    print line
    split("rare common two_common phone week common_week common_phone rare_week", cls, " ")
    what["rare"] = "one rare word (6 words, 0.01-0.1% of calls each)"
    what["common"] = "one common word (4 words, 10-25% of calls each)"
    what["two_common"] = "two common words, both"
    what["phone"] = "a repeat caller'"'"'s number"
    what["week"] = "a one-week date range"
    what["common_week"] = "common word + one week"
    what["common_phone"] = "common word + number"
    what["rare_week"] = "rare word + one week"
    for (j = 1; j <= 8; j++) {
        r = what[cls[j]] " | "
        for (i = 1; i <= nsdb; i++) {
            r = r f("search." sdbs[i] "." cls[j] ".p50") " | " f("search." sdbs[i] "." cls[j] ".p99") " | "
        }
        sub(/ $/, "", r)
        print "| " cls[j] " | " r
    }
    print ""
    if (nsdb > ndb)
        print "Columns named pg... are the same database copied into PostgreSQL (`phonely-mcp migrate`)."
    print ""
    print "How often the queried values occur, counted with SQL on each database:"
    print ""
    head = "| value |"
    line = "|---|"
    for (i = 1; i <= ndb; i++) { head = head " " shown(dbs[i]) " |"; line = line "---:|" }
    print head
    print line
    split("cancellation insurance warranty parking chandelier saxophone trampoline greenhouse kayak aquarium two_common", terms, " ")
    for (j = 1; j <= 11; j++) {
        r = "| " (terms[j] == "two_common" ? "two common words" : terms[j]) " |"
        for (i = 1; i <= ndb; i++) r = r " " fu("df." dbs[i] "." terms[j], "%") " |"
        print r
    }
    r = "| calls per queried number |"
    for (i = 1; i <= ndb; i++) r = r " " f("df." dbs[i] ".phone") " |"
    print r
    r = "| calls per one-week range |"
    for (i = 1; i <= ndb; i++) r = r " " f("df." dbs[i] ".week") " |"
    print r
    print ""

    if (has("ingest.pg1.c32.rps")) {
        print "### PostgreSQL (a throwaway cluster on the same machine, fsync and synchronous_commit on)"
        print ""
        print "| what | load | figure | p50 ms | p99 ms |"
        print "|---|---|---:|---:|---:|"
        row("durable ingest, one daemon | 32 connections | " fu("ingest.pg1.c32.rps", " req/s") " | " \
            f("ingest.pg1.c32.p50") " | " f("ingest.pg1.c32.p99"))
        row("durable ingest, two daemons on one database | 16 connections each | " \
            fu("ingest.pg2.c32.rps", " req/s") " | " f("ingest.pg2.c32.p50") " | " f("ingest.pg2.c32.p99"))
        for (i = 1; i <= ndb; i++) {
            t = "mcp.stdio.pg" dbs[i] ".get_call"
            if (!has(t ".seq.cps")) continue
            row("get_call over stdio, " shown(dbs[i]) " calls | sequential | " fu(t ".seq.cps", " calls/s") " | " \
                f(t ".seq.p50") " | " f(t ".seq.p99"))
            row("get_call over stdio, " shown(dbs[i]) " calls | 16 in flight | " fu(t ".if16.cps", " calls/s") " | " \
                f(t ".if16.p50") " | " f(t ".if16.p99"))
            row("`phonely-mcp migrate` of the " shown(dbs[i]) " SQLite database | - | " \
                fu("migrate." dbs[i] ".rate", " calls/s") " (" fu("migrate." dbs[i] ".seconds", " s") ") | - | -")
        }
        if (has("ingest.pg2.c32.rps") && v["ingest.pg1.c32.rps"] > 0) {
            pgratio = sprintf("%.2f", v["ingest.pg2.c32.rps"] / v["ingest.pg1.c32.rps"])
            v["ingest.pg.ratio"] = pgratio
        }
        print ""
        print "Two daemons over one: " (has("ingest.pg.ratio") ? v["ingest.pg.ratio"] "x" : "-") \
            ". PostgreSQL search latencies are in the search table above."
        print ""
    }

    print "### Memory and start-up"
    print ""
    print "| process | state | resident memory |"
    print "|---|---|---:|"
    row("serve, empty database | idle after start | " f("mem.serve.idle") " kB")
    row("serve, empty database | peak through the grouped ingest runs (up to 128 connections) | " f("mem.serve.ingest_peak") " kB")
    row("serve, 100k database | idle after start | " f("mem.serve.mcp_idle") " kB")
    row("serve, 100k database | peak after 32 HTTP MCP clients | " f("mem.serve.mcp_peak") " kB")
    row("stdio, 100k database | idle after initialize | " f("mem.stdio.idle") " kB")
    row("stdio, 100k database | peak under get_call and search_calls load | " f("mem.stdio.loaded") " kB")
    print ""
    print "| cold start of `phonely-mcp stdio` to its initialize answer | p50 ms | p99 ms |"
    print "|---|---:|---:|"
    for (i = 1; i <= ndb; i++)
        row(shown(dbs[i]) " database | " f("start.stdio." dbs[i] ".p50") " | " f("start.stdio." dbs[i] ".p99"))
    print ""

    print "### Storage"
    print ""
    print "| database | calls | bytes per call | raw payload bytes per call | ratio | built in | build rate |"
    print "|---|---:|---:|---:|---:|---:|---:|"
    row("filled by the grouped ingest run | " f("db.ingest.calls") " | " f("db.ingest.bytes_per_call") " | " \
        f("db.ingest.raw_bytes_per_call") " | " fu("db.ingest.ratio_raw", "x") " | - | -")
    for (i = 1; i <= ndb; i++) {
        d = "db." dbs[i]
        row(shown(dbs[i]) " generated | " f(d ".calls") " | " f(d ".bytes_per_call") " | " \
            f(d ".raw_bytes_per_call") " | " fu(d ".ratio_raw", "x") " | " \
            (has(d ".build") ? v[d ".build"] " s" (d in reused ? " (an earlier run)" : "") : "-") \
            " | " (has(d ".build_rate") ? v[d ".build_rate"] " calls/s" : "-"))
    }
    print ""

    print "### Targets"
    print ""
    print "The targets set for the 2-core development machine, each worked out from the"
    print "figures above (at most / at least the stated value)."
    print ""
    print "| target | figures | met |"
    print "|---|---|---|"
    at_least("durable ingest at 32 connections: at least 6,000 requests/s", "ingest.grouped.c32.rps", 6000, " req/s")
    at_most("durable ingest at 32 connections: p99 under 25 ms", "ingest.grouped.c32.p99", 25, " ms")
    at_least("grouped commits at 32 connections: at least 3x one commit per request", "ingest.gain.c32", 3, "x")
    at_most("search_calls, common word, newest first, 100k calls: p99 at most 5 ms", "search.100k.common.p99", 5, " ms")
    at_most("search_calls, common word, newest first, 1M calls: p99 at most 15 ms", "search.1m.common.p99", 15, " ms")
    at_least("PostgreSQL durable ingest at 32 connections, one daemon: at least 1,500 requests/s", "ingest.pg1.c32.rps", 1500, " req/s")
    at_least("PostgreSQL durable ingest, two daemons: at least 1.5x one", "ingest.pg.ratio", 1.5, "x")
    at_most("PostgreSQL search_calls, common word, newest first, 100k calls: p99 at most 10 ms", "search.pg100k.common.p99", 10, " ms")
    at_least("get_call over stdio, one at a time: at least 10,000 calls/s", "mcp.stdio.get_call.seq.cps", 10000, " calls/s")
    at_least("get_call over stdio, 16 in flight: at least 35,000 calls/s", "mcp.stdio.get_call.if16.cps", 35000, " calls/s")
    at_most("stdio cold start to the initialize answer (100k calls, p50): at most 5 ms", "start.stdio.100k.p50", 5, " ms")
    at_most("serve idle: at most 10 MB resident", "mem.serve.idle", 10240, " kB")
    at_most("serve under the ingest load: at most 64 MB resident", "mem.serve.ingest_peak", 65536, " kB")
    names[1] = "ingest"
    for (i = 1; i <= ndb; i++) names[i + 1] = dbs[i]
    for (i = 1; i <= ndb + 1; i++)
        at_most("database bytes per call, indexes included, at most 2x the raw payload (" shown(names[i]) ")", \
                "db." names[i] ".ratio_raw", 2, "x")
    print ""
}
function at_most(what, name, limit, unit) {
    row(what " | " fu(name, unit) " | " (has(name) ? (v[name] + 0 <= limit ? "met" : "not met") : "not measured"))
}
function at_least(what, name, limit, unit) {
    row(what " | " fu(name, unit) " | " (has(name) ? (v[name] + 0 >= limit ? "met" : "not met") : "not measured"))
}' "$results" > "$section"

# ---- splice it in between the markers ----
awk -v begin="$begin" -v end="$end" -v section="$section" '
$0 == begin { print; while ((getline line < section) > 0) print line; skip = 1; next }
$0 == end { skip = 0 }
!skip { print }' "$doc" > "$out"
cat "$out" > "$doc"
echo "bench-doc: wrote the figures of $results into $doc"
