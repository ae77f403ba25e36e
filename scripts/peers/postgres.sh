# PostgreSQL: a throwaway cluster under $SCRATCH, trust authentication on loopback only, with
# the superuser `postgres` (tests may CREATE DATABASE one per test). Sourced by scripts/test.

APT_PACKAGES+=(postgresql)  # Debian's: binaries under /usr/lib/postgresql/VERSION/bin.

# Runs a command as the postgres OS user. setpriv execs the command itself, so the pid that
# run_in_background records is the server's own: runuser and su would stay in between as a
# parent that turns SIGTERM into SIGKILL two seconds later, and a shell function would run in
# a subshell whose death leaves the server behind.
AS_POSTGRES=(setpriv --reuid=postgres --regid=postgres --init-groups --)

start_postgres() {
    local bin port dir="$SCRATCH/postgres"
    # The newest installed major version, whichever Debian ships.
    bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    if [[ ! -x "$bin/postgres" ]]; then
        echo "no PostgreSQL server under /usr/lib/postgresql" >&2
        return 1
    fi
    # mktemp made $SCRATCH 0700 for root; the postgres user needs only to pass through it.
    chmod a+x "$SCRATCH"
    install -d -o postgres -g postgres -m 700 "$dir" "$dir/data" "$dir/socket"
    # cd: the postgres user may not be allowed into the current directory.
    (cd "$dir" && "${AS_POSTGRES[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust \
        -E UTF8 --locale=C.UTF-8) >"$SCRATCH/postgres-initdb.log" 2>&1 ||
        { cat "$SCRATCH/postgres-initdb.log" >&2; return 1; }
    # Trust on the socket and loopback only; nothing else may connect.
    cat >"$dir/data/pg_hba.conf" <<'EOF'
local all all               trust
host  all all 127.0.0.1/32  trust
EOF
    chown postgres:postgres "$dir/data/pg_hba.conf"
    port=$(free_port)
    # Foreground postmaster: cleanup's SIGTERM is a smart shutdown, and the tests are over by then.
    run_in_background postgres "${AS_POSTGRES[@]}" "$bin/postgres" -D "$dir/data" -k "$dir/socket" \
        -h 127.0.0.1 -p "$port" -c max_connections=200 -c shared_buffers=128MB
    wait_for_port "$port" postgres
    # Listening is not yet accepting: wait out recovery and startup too.
    for _ in $(seq 300); do
        "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres && break
        sleep 0.1
    done
    "$bin/psql" -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c 'CREATE DATABASE herald_test' >>"$SCRATCH/postgres-initdb.log" 2>&1 ||
        { cat "$SCRATCH/postgres.log" "$SCRATCH/postgres-initdb.log" >&2; return 1; }
    export HERALD_TEST_POSTGRES_HOST=127.0.0.1
    export HERALD_TEST_POSTGRES_PORT=$port
    export HERALD_TEST_POSTGRES_USER=postgres
    export HERALD_TEST_POSTGRES_DATABASE=herald_test
    export HERALD_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/herald_test"
}
