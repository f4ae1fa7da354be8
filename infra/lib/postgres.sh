# The project-local PostgreSQL 15 cluster: loopback only, a non-default port, run as the `postgres` user
# (PostgreSQL refuses root), one database and one login role per service.

PG_BIN=${SAGAKIT_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_ADMIN_ROLE=sagakit_admin
PG_CHECK_ROLE=sagakit_check

as_postgres() {
    runuser -u postgres -- "$@"
}

# The folder holding the cluster's data and socket. It lives in the stack folder when the postgres user can
# reach it; a clone under a root-only parent (say /root) gets a folder in /var/tmp instead, linked from the
# stack folder so `status` and `down` still find it.
pg_base_dir() {
    if [ -n "${SAGAKIT_PG_DIR:-}" ]; then
        echo "$SAGAKIT_PG_DIR"
        return
    fi
    local link="$SAGAKIT_STACK_DIR/pg"
    if [ -L "$link" ]; then
        readlink "$link"
        return
    fi
    mkdir -p "$SAGAKIT_STACK_DIR"
    if [ -d "$link" ] || as_postgres test -x "$SAGAKIT_STACK_DIR" 2>/dev/null; then
        echo "$link"
        return
    fi
    local hash
    hash=$(printf '%s' "$SAGAKIT_STACK_DIR" | sha256sum | cut -c1-12)
    echo "/var/tmp/sagakit-pg-$hash"
}

pg_data_dir() { echo "$(pg_base_dir)/data"; }
pg_socket_dir() { echo "$(pg_base_dir)/socket"; }

pg_prepare_dirs() {
    local base link="$SAGAKIT_STACK_DIR/pg"
    base=$(pg_base_dir)
    mkdir -p "$base/data" "$base/socket"
    chown postgres:postgres "$base" "$base/data" "$base/socket"
    chmod 0700 "$base/data"
    chmod 0755 "$base" "$base/socket"
    if [ "$base" != "$link" ] && [ ! -e "$link" ]; then
        ln -s "$base" "$link"
    fi
}

pg_password() {
    local file="$SAGAKIT_SECRETS_DIR/pg-$1.password"
    if [ ! -s "$file" ]; then
        mkdir -p "$SAGAKIT_SECRETS_DIR"
        chmod 0700 "$SAGAKIT_SECRETS_DIR"
        (umask 077 && head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file")
    fi
    cat "$file"
}

pg_running() {
    [ -f "$(pg_data_dir)/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$(pg_data_dir)" status >/dev/null 2>&1
}

pg_write_config() {
    local data
    data=$(pg_data_dir)
    cat >"$data/sagakit.conf" <<EOF
# Written by infra/dev up; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $SAGAKIT_PG_PORT
unix_socket_directories = '$(pg_socket_dir)'
# Consumers commit their Kafka offset after their database commit: a committed transaction must survive a crash.
synchronous_commit = on
fsync = on
max_connections = 300
shared_buffers = 256MB
# Write-heavy: every saga step inserts and updates rows. With the defaults (1GB of WAL between checkpoints, 8MB of
# WAL buffers) a bench forced a checkpoint every few seconds, and each one makes the next write to every page log
# the whole page again; backends also wrote WAL and dirty pages themselves. pgbench runs against the same settings.
max_wal_size = 8GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
wal_buffers = 64MB
wal_compression = lz4
# Tables start empty (tests, benches): prepared statements planned then keep sequential-scan plans until the first
# autoanalyze invalidates them. Looking every 10 s instead of every minute shortens that window.
autovacuum_naptime = 10s
idle_in_transaction_session_timeout = '60s'
password_encryption = 'scram-sha-256'
# Per-statement counters (time, calls, rows) for docs/PERFORMANCE.md's profiles: pg_stat_statements in the
# postgres database, readable by the superuser.
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
EOF
    chown postgres:postgres "$data/sagakit.conf"
    # Local clients reach the server over its Unix socket (a round trip costs less than over TCP loopback): the
    # superuser by peer authentication, every other role by password. TCP on 127.0.0.1 stays open, by password.
    cat >"$data/pg_hba.conf" <<EOF
# Written by infra/dev up; edits are overwritten.
local   all   postgres                 peer
local   all   all                      scram-sha-256
host    all   all       127.0.0.1/32   scram-sha-256
EOF
    chown postgres:postgres "$data/pg_hba.conf"
    grep -q "include_if_exists = 'sagakit.conf'" "$data/postgresql.conf" \
        || echo "include_if_exists = 'sagakit.conf'" >>"$data/postgresql.conf"
}

pg_start() {
    [ -x "$PG_BIN/pg_ctl" ] || die "PostgreSQL 15 is not installed; run infra/dev setup"
    pg_prepare_dirs
    local data
    data=$(pg_data_dir)
    if [ ! -f "$data/PG_VERSION" ]; then
        step "initdb $data"
        as_postgres "$PG_BIN/initdb" -D "$data" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
            -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    pg_write_config
    if pg_running; then
        say "postgres: already running on port $SAGAKIT_PG_PORT"
        as_postgres "$PG_BIN/pg_ctl" -D "$data" reload >/dev/null
    else
        if port_open "$SAGAKIT_PG_PORT"; then
            die "port $SAGAKIT_PG_PORT is taken by another process; set SAGAKIT_PG_PORT"
        fi
        mkdir -p "$SAGAKIT_LOG_DIR"
        touch "$SAGAKIT_LOG_DIR/postgres.log"
        chown postgres:postgres "$SAGAKIT_LOG_DIR/postgres.log"
        step "starting postgres on 127.0.0.1:$SAGAKIT_PG_PORT"
        # The log goes next to the data when the postgres user cannot write into the stack's log folder.
        local log="$SAGAKIT_LOG_DIR/postgres.log"
        as_postgres test -w "$log" 2>/dev/null || log="$(pg_base_dir)/postgres.log"
        as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t "$SAGAKIT_UP_TIMEOUT" start >/dev/null \
            || { tail -n 20 "$log" >&2; die "postgres did not start within ${SAGAKIT_UP_TIMEOUT}s (log: $log)"; }
    fi
    wait_until "$SAGAKIT_UP_TIMEOUT" "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$SAGAKIT_PG_PORT" \
        || die "postgres is not accepting connections on 127.0.0.1:$SAGAKIT_PG_PORT after ${SAGAKIT_UP_TIMEOUT}s"
    pg_bootstrap
}

pg_psql() {
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$(pg_socket_dir)" -p "$SAGAKIT_PG_PORT" -U postgres "$@"
}

# Roles and databases, idempotently. Each service role owns its database (so its binary can migrate it) and is
# the only role besides the superuser allowed to connect to it.
pg_bootstrap() {
    local db sql=""
    # saga-check's role: it reads every service's database and can change none (pg_read_all_data, and every
    # transaction read-only by default).
    sql+="
SELECT format('CREATE ROLE %I LOGIN', '$PG_CHECK_ROLE') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_CHECK_ROLE') \\gexec
ALTER ROLE $PG_CHECK_ROLE WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '$(pg_password "$PG_CHECK_ROLE")';
ALTER ROLE $PG_CHECK_ROLE SET default_transaction_read_only = on;
GRANT pg_read_all_data TO $PG_CHECK_ROLE;"
    for db in "${SAGAKIT_DATABASES[@]}"; do
        sql+="
SELECT format('CREATE ROLE %I LOGIN', '$db') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$db') \\gexec
ALTER ROLE \"$db\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '$(pg_password "$db")';
SELECT format('CREATE DATABASE %I OWNER %I', '$db', '$db') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db') \\gexec
REVOKE ALL ON DATABASE \"$db\" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE \"$db\" TO \"$db\";
GRANT CONNECT ON DATABASE \"$db\" TO $PG_CHECK_ROLE;"
    done
    # The admin role creates throwaway databases for tests; it is not a superuser either.
    sql+="
SELECT format('CREATE ROLE %I LOGIN', '$PG_ADMIN_ROLE') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ADMIN_ROLE') \\gexec
ALTER ROLE $PG_ADMIN_ROLE WITH LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION PASSWORD '$(pg_password "$PG_ADMIN_ROLE")';
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_ADMIN_ROLE', '$PG_ADMIN_ROLE') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_ADMIN_ROLE') \\gexec
REVOKE ALL ON DATABASE $PG_ADMIN_ROLE FROM PUBLIC;
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
    printf '%s\n' "$sql" | pg_psql -d postgres >/dev/null
}

pg_stop() {
    local data
    data=$(pg_data_dir)
    if pg_running; then
        step "stopping postgres"
        as_postgres "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
}

# For fault tests: an immediate stop (like a crash), then a normal start.
pg_restart() {
    local data
    data=$(pg_data_dir)
    pg_running || die "postgres is not running"
    step "restarting postgres (immediate stop)"
    as_postgres "$PG_BIN/pg_ctl" -D "$data" -m "${1:-immediate}" -w -t 60 stop >/dev/null
    pg_start
}

pg_url() {
    local role=$1 db=${2:-$1}
    echo "postgresql://$role:$(pg_password "$role")@/$db?host=$(pg_socket_dir)&port=$SAGAKIT_PG_PORT"
}
