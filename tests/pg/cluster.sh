#!/bin/sh
# cluster.sh: a throwaway PostgreSQL cluster for the tests, never a system one.
#
#   cluster.sh start DIR     initdb into DIR, start it on 127.0.0.1 and a free
#                            port (Unix sockets in DIR only), create the role
#                            phonely (a random password, scram-sha-256) and the
#                            database phonely; print its URI and keep it in DIR/uri
#   cluster.sh newdb DIR     create one more empty database; print its URI
#   cluster.sh restart DIR   stop and start it again on the same port
#   cluster.sh stop DIR      stop it (immediate shutdown) and remove DIR
#
# The server binaries are Debian's (/usr/lib/postgresql/VERSION/bin, package
# postgresql). As root, the cluster belongs to and runs as the postgres user,
# in a new folder under /tmp (which that user can reach wherever the build
# is) that DIR then links to. fsync stays on: what the tests check is
# durability.
set -eu

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
    echo "usage: cluster.sh start|newdb|restart|stop DIR" >&2
    exit 2
}

bin=
for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && bin=$d
done
[ -n "$bin" ] || {
    echo "cluster.sh: no PostgreSQL server (initdb); install the Debian package postgresql" >&2
    exit 1
}

# as_owner CMD...: run as the cluster's owner, from a folder it can enter.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# psql_admin SQL: run SQL as the cluster's superuser over its Unix socket.
psql_admin() {
    as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(cat "$dir/port")" \
        -U postgres -d postgres -c "$1"
}

pg_start() {
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -c port=$(cat "$dir/port")" \
        -o "-c unix_socket_directories=$dir -c fsync=on" start >/dev/null
}

case $cmd in
start)
    if [ -d "$dir/data" ]; then # left by a run that was killed
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || :
    fi
    if [ -L "$dir" ]; then
        rm -rf "$(readlink "$dir")"
    fi
    rm -rf "$dir"
    if [ "$(id -u)" = 0 ]; then
        real=$(mktemp -d /tmp/phonely-pg.XXXXXX)
        chown postgres "$real"
        ln -s "$real" "$dir"
    else
        mkdir -p "$dir"
    fi
    chmod 700 "$dir/"
    dir=$(cd "$dir/" && pwd -P)
    pass=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    printf '%s\n' "$pass" >"$dir/pass"
    chmod 644 "$dir/pass"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    # A free port: try from a random start until the server starts on one.
    port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000))
    tries=0
    while :; do
        echo "$port" >"$dir/port"
        if pg_start 2>/dev/null; then
            break
        fi
        tries=$((tries + 1))
        if [ "$tries" -ge 20 ]; then
            cat "$dir/log" >&2
            echo "cluster.sh: PostgreSQL did not start" >&2
            exit 1
        fi
        port=$((port + 1))
    done
    psql_admin "CREATE ROLE phonely LOGIN PASSWORD '$pass'"
    psql_admin "CREATE DATABASE phonely OWNER phonely"
    uri="postgresql://phonely:$pass@127.0.0.1:$port/phonely"
    printf '%s\n' "$uri" >"$dir/uri"
    echo "$uri"
    ;;
newdb)
    dir=$(cd "$dir/" && pwd -P)
    # Tests ask for databases in parallel: a name is taken by making its
    # folder under dbs.d (mkdir is atomic), starting past the last one made.
    mkdir -p "$dir/dbs.d"
    n=$(($(cat "$dir/dbs" 2>/dev/null || echo 0) + 1))
    while ! mkdir "$dir/dbs.d/$n" 2>/dev/null; do
        n=$((n + 1))
    done
    echo "$n" >"$dir/dbs"
    psql_admin "CREATE DATABASE phonely_$n OWNER phonely"
    echo "postgresql://phonely:$(cat "$dir/pass")@127.0.0.1:$(cat "$dir/port")/phonely_$n"
    ;;
restart)
    dir=$(cd "$dir/" && pwd -P)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    pg_start
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        pid=$(head -n 1 "$dir/data/postmaster.pid")
        # Immediate: the cluster is thrown away, so its shutdown checkpoint
        # (writing and syncing every dirty buffer, tens of seconds after the
        # slow runs under valgrind) would be time spent for nothing. The
        # files go only once the server has exited: SIGKILL after 10 s.
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || :
        i=0
        while kill -0 "$pid" 2>/dev/null; do
            i=$((i + 1))
            [ "$i" -eq 100 ] && kill -KILL "$pid" 2>/dev/null
            sleep 0.1
        done
    fi
    if [ -L "$dir" ]; then
        rm -rf "$(readlink "$dir")"
    fi
    rm -rf "$dir"
    ;;
*)
    echo "cluster.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
