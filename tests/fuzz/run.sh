#!/bin/sh
# run.sh: run libFuzzer targets built by `make fuzz` for a fixed time each.
#
#   FUZZ_BUILD=build-fuzz FUZZ_SECONDS=60 tests/fuzz/run.sh payload sig ...
#
# Each target fuzzes a scratch copy of tests/fuzz/corpus/<name> in
# $FUZZ_BUILD/fuzz-work/<name> (new inputs land there, never in the repo),
# with tests/fuzz/dict/<name>.dict when there is one. Its log is
# $FUZZ_BUILD/fuzz-logs/<name>.log; a crash, leak, sanitizer report,
# invariant violation or timeout leaves its reproducer in
# $FUZZ_BUILD/fuzz-findings/<name>/. Each target runs inside its work
# directory. Prints one line per target (executions, executions per second,
# coverage edges, corpus size, result) and exits 1 when anything was found.
set -u

build=$(mkdir -p "${FUZZ_BUILD:-build-fuzz}" && cd "${FUZZ_BUILD:-build-fuzz}" && pwd)
seconds=${FUZZ_SECONDS:-60}
src=$(cd "$(dirname "$0")" && pwd)
failed=0

printf '%-10s %14s %10s %7s %9s  %s\n' target executions exec/s edges corpus result
for name in "$@"; do
    bin=$build/tests/fuzz/fuzz_$name
    work=$build/fuzz-work/$name
    findings=$build/fuzz-findings/$name
    log=$build/fuzz-logs/$name.log
    if [ ! -x "$bin" ]; then
        echo "$bin is missing: build it with make fuzz" >&2
        exit 2
    fi
    rm -rf "$work" "$findings"
    mkdir -p "$work" "$findings" "$(dirname "$log")"
    cp "$src/corpus/$name"/* "$work"/
    dict=
    [ -f "$src/dict/$name.dict" ] && dict=-dict=$src/dict/$name.dict
    # Run inside the scratch directory: a relative path the fuzzer puts in a
    # *_file setting (fuzz_config) then names nothing outside it. -timeout:
    # an input running 10 s counts as a hang; leaks are findings too.
    (cd "$work" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
        "$bin" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
            -artifact_prefix="$findings/" $dict "$work" </dev/null >"$log" 2>&1)
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    edges=$(sed -n 's/.*DONE *cov: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    files=$(ls "$work" | wc -l)
    if [ "$rc" -eq 0 ] && [ -z "$(ls "$findings")" ]; then
        result="no finding"
        rmdir "$findings"
    else
        result="FOUND (exit $rc): $(ls "$findings" | tr '\n' ' ')see $log"
        failed=1
    fi
    printf '%-10s %14s %10s %7s %9s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "${edges:-?}" "$files" \
        "$result"
done
exit $failed
