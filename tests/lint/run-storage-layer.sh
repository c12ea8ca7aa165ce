#!/bin/sh
# lint_storage_layer: storage is a layer. No file of the daemon outside
# src/store/ (every src/*.c and src/*.h, every include/*.h) includes a
# database library's header, calls one of its functions, or holds SQL or a
# full-text query language: each match below is printed and fails the test.
# Inside src/store/, only sqlite.c includes sqlite3.h and only postgres.c
# includes libpq-fe.h.
set -u

src=$1
cd "$src" || exit 1

pattern='sqlite3|libpq|<libpq-fe\.h>|\bPQ[a-z]+\(|\bPG(conn|result)\b'
pattern="$pattern"'|\b(SELECT|INSERT INTO|DELETE FROM|CREATE (TABLE|INDEX|VIRTUAL TABLE)|ALTER TABLE)\b'
pattern="$pattern"'|\b(PRAGMA|MATCH|BEGIN IMMEDIATE|COMMIT|ROLLBACK|bm25|fts5|tsvector|tsquery|ts_rank)\b'
files=$(ls src/*.c src/*.h include/*.h)
found=$(grep -nE "$pattern" $files)
status=0
if [ -n "$found" ]; then
    echo "$found"
    echo "lint_storage_layer: SQL or a database library outside src/store/ (above)" >&2
    status=1
fi
# only_in FILE HEADER: no file of src/store/ but FILE includes HEADER.
only_in() {
    for f in src/store/*.c src/store/*.h; do
        if [ "$f" != "$1" ] && grep -n "#include <$2>" "$f"; then
            echo "lint_storage_layer: $f includes $2 (only $1 may)" >&2
            status=1
        fi
    done
}
only_in src/store/sqlite.c sqlite3.h
only_in src/store/postgres.c libpq-fe.h
[ "$status" -eq 0 ] &&
    echo "lint_storage_layer: $(echo "$files" | wc -l) files outside src/store/, none names SQL or a database library"
exit "$status"
