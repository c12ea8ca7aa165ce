#!/bin/sh
# The verdict of a valgrind run of the suite (see tests/CMakeLists.txt):
# every process wrote its memcheck findings to its own file in LOGDIR, and
# a clean process leaves its file empty. Prints every finding; fails on any.
set -eu
dir=${1:?usage: valgrind-report.sh LOGDIR}
[ -d "$dir" ] || { echo "no valgrind logs in $dir" >&2; exit 1; }
total=0
dirty=0
for f in "$dir"/*.log; do
    [ -e "$f" ] || continue
    total=$((total + 1))
    if [ -s "$f" ]; then
        dirty=$((dirty + 1))
        echo "== $f"
        cat "$f"
    fi
done
echo "valgrind memcheck: $total processes, $dirty with findings"
[ "$total" -gt 0 ] || { echo "no process ran under valgrind" >&2; exit 1; }
[ "$dirty" -eq 0 ]
