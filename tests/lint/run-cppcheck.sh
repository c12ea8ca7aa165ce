#!/bin/sh
# lint_cppcheck: cppcheck over every src/*.c and src/store/*.c and the
# project headers they include, with the build's preprocessor definitions (passed by CMake), the
# library configuration phonely.cfg and the suppressions in
# cppcheck-suppressions.txt. Single-threaded, so that the whole-program
# (CTU) checks see every file. Any finding fails the test.
#
# usage: run-cppcheck.sh <source-dir> [-D<name>[=<value>]]...
set -u

src=$1
shift

if ! command -v cppcheck >/dev/null 2>&1; then
    echo "lint_cppcheck: cppcheck is not installed; install the Debian package cppcheck" \
        "(make test-deps does)" >&2
    exit 1
fi
echo "lint_cppcheck: $(cppcheck --version)"

cd "$src" || exit 1
cppcheck --quiet --error-exitcode=1 --std=c11 \
    --enable=warning,performance,portability --inline-suppr \
    --library=posix --library=tests/lint/phonely.cfg \
    --suppressions-list=tests/lint/cppcheck-suppressions.txt \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]\n{code}' \
    -I include "$@" src/*.c src/store/*.c
status=$?
if [ "$status" -ne 0 ]; then
    echo "lint_cppcheck: findings above; fix them, or suppress one with" \
        "\"cppcheck-suppress id ; reason\" (docs/development.md)" >&2
else
    echo "lint_cppcheck: $(find src -maxdepth 2 -name '*.c' | wc -l) files, no findings"
fi
exit "$status"
