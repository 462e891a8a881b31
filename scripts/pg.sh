#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the store's tests, on any Debian machine (run as root).
#
#   scripts/pg.sh start DIR   creates a cluster in DIR, starts it on a free port of 127.0.0.1
#                             and prints its URL (the only thing on stdout)
#   scripts/pg.sh url DIR     prints the URL of the cluster running in DIR
#   scripts/pg.sh stop DIR    stops it at once and removes DIR
#
#   url=$(scripts/pg.sh start /tmp/pgtest)
#   SCFD_TEST_PG_URL=$url SCFD_REQUIRE_PG=1 cargo nextest run -p scf-store
#   scripts/pg.sh stop /tmp/pgtest
#
# The cluster belongs to the `postgres` user (PostgreSQL refuses to run as root), trusts every
# local connection, listens on 127.0.0.1 only, keeps its Unix socket in DIR, and runs with
# fsync off: it exists for tests and is thrown away after. Machine-wide clusters are left
# alone. Without PostgreSQL, Debian's `postgresql` package is installed, without the machine-wide
# cluster it would otherwise create.
set -euo pipefail

usage() {
    echo "usage: $0 start|url|stop DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
[ -n "$dir" ] && [ "$dir" != / ] || usage
# Marks a directory this script made, so that `stop` never removes anything else.
marker=.scfd-pg

as_postgres() {
    runuser -u postgres -- "$@"
}

# The newest installed server's bin directory, if any.
find_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

install_postgresql() {
    echo "pg.sh: installing PostgreSQL (Debian's postgresql package)" >&2
    # Debian creates and starts a machine-wide cluster when the server is installed; a test
    # cluster needs none of that.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/scfd-no-main.conf
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "pg.sh: no free port found" >&2
    return 1
}

url() {
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
}

start() {
    if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
        echo "pg.sh: $dir exists and is not empty (scripts/pg.sh stop $dir removes a cluster made here)" >&2
        exit 1
    fi
    local bin
    bin=$(find_bin) || { install_postgresql && bin=$(find_bin); } || {
        echo "pg.sh: no initdb under /usr/lib/postgresql/*/bin" >&2
        exit 1
    }
    id postgres >/dev/null 2>&1 || {
        echo "pg.sh: there is no postgres user" >&2
        exit 1
    }
    mkdir -p "$dir"
    touch "$dir/$marker"
    chown postgres: "$dir"
    chmod 700 "$dir"
    if ! as_postgres test -w "$dir"; then
        echo "pg.sh: the postgres user cannot reach $dir (is a parent directory private?)" >&2
        exit 1
    fi
    as_postgres "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    local port tries=0
    while :; do
        port=$(free_port)
        if as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" \
            start >&2; then
            break
        fi
        # Another process may have taken the port between the probe and the start.
        tries=$((tries + 1))
        if [ "$tries" -ge 3 ]; then
            cat "$dir/server.log" >&2
            exit 1
        fi
    done
    echo "$port" >"$dir/port"
    for _ in $(seq 100); do
        if as_postgres "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
            url
            return
        fi
        sleep 0.1
    done
    echo "pg.sh: the server did not become ready" >&2
    cat "$dir/server.log" >&2
    exit 1
}

stop() {
    [ -e "$dir" ] || return 0
    if [ ! -e "$dir/$marker" ]; then
        echo "pg.sh: $dir was not made by pg.sh start; leaving it" >&2
        exit 1
    fi
    local bin
    if [ -e "$dir/data/postmaster.pid" ] && bin=$(find_bin); then
        as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
    fi
    rm -rf "$dir"
}

case $cmd in
start) start ;;
url) [ -e "$dir/port" ] || { echo "pg.sh: no cluster in $dir" >&2; exit 1; }; url ;;
stop) stop ;;
*) usage ;;
esac
