#!/bin/sh
# lint_clang_tidy: clang-tidy, configured by the top-level .clang-tidy, over
# every src/*.c and src/store/*.c (and, through its HeaderFilterRegex, the
# project headers they include), each file with the flags the build's compile_commands.json
# gives it. .clang-tidy makes every diagnostic an error, so any finding
# fails the test.
#
# usage: run-clang-tidy.sh <source-dir> <build-dir> [<jobs>]
set -u

src=$1
build=$2
jobs=${3:-$(nproc 2>/dev/null || echo 2)}

if ! command -v clang-tidy >/dev/null 2>&1; then
    echo "lint_clang_tidy: clang-tidy is not installed; install the Debian package" \
        "clang-tidy (make test-deps does)" >&2
    exit 1
fi
if [ ! -f "$build/compile_commands.json" ]; then
    echo "lint_clang_tidy: no $build/compile_commands.json; configure with CMake first" >&2
    exit 1
fi
echo "lint_clang_tidy: $(clang-tidy --version | grep -m1 -o 'LLVM version.*')"

out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT

# -Wno-unknown-warning-option: the build may use gcc, whose -W options clang
# does not all know. max-nodes=75000 (the analyzer's "shallow" budget, a
# third of its default) more than halves the run time; here it reports
# the same findings as the default. Largest files first, so the slow ones
# do not end up running last on one core.
# shellcheck disable=SC2016 # the script in quotes expands its own arguments
find "$src/src" -maxdepth 2 -name '*.c' -printf '%s %p\n' | sort -rn | cut -d ' ' -f 2- |
    xargs -r -d '\n' -P "$jobs" -n 1 sh -c '
        log="$1/$(basename "$3").log"
        clang-tidy -p "$2" --quiet --extra-arg=-Wno-unknown-warning-option \
            --extra-arg=-Xclang --extra-arg=-analyzer-config \
            --extra-arg=-Xclang --extra-arg=max-nodes=75000 \
            "$3" >"$log" 2>&1 || : >"$log.failed"' sh "$out" "$build"

files=$(find "$out" -name '*.log' | wc -l)
if [ "$files" -eq 0 ]; then
    echo "lint_clang_tidy: no source files under $src/src" >&2
    exit 1
fi
status=0
for log in "$out"/*.log; do
    if [ -e "$log.failed" ]; then
        status=1
        grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$log"
    fi
done
if [ "$status" -ne 0 ]; then
    echo "lint_clang_tidy: findings above; fix them, or silence one line with" \
        "NOLINTNEXTLINE(check): reason (docs/development.md)" >&2
else
    echo "lint_clang_tidy: $files files, no findings"
fi
exit "$status"
