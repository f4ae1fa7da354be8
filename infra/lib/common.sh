# Shared settings and helpers for infra/dev. Every path and port can be overridden from the environment.

: "${SAGAKIT_STACK_DIR:=$SAGAKIT_ROOT/.stack}"
: "${SAGAKIT_CACHE_DIR:=${XDG_CACHE_HOME:-$HOME/.cache}/sagakit}"
: "${SAGAKIT_PG_PORT:=55432}"
: "${SAGAKIT_KAFKA_PORT:=19092}"
: "${SAGAKIT_PARTITIONS:=3}"
: "${SAGAKIT_UP_TIMEOUT:=30}"

SAGAKIT_TOOLS_DIR="$SAGAKIT_STACK_DIR/tools"
SAGAKIT_RUN_DIR="$SAGAKIT_STACK_DIR/run"
SAGAKIT_LOG_DIR="$SAGAKIT_STACK_DIR/logs"
SAGAKIT_SECRETS_DIR="$SAGAKIT_STACK_DIR/secrets"
SAGAKIT_VENV="$SAGAKIT_TOOLS_DIR/venv"
SAGAKIT_TANSU="$SAGAKIT_TOOLS_DIR/tansu"
SAGAKIT_PROMTOOL="$SAGAKIT_TOOLS_DIR/promtool"

# The four service databases; each gets a login role of the same name.
SAGAKIT_DATABASES=(inventory payment notification tracker)
# Domain topics; each also gets a dead-letter topic `<topic>.dlq`.
SAGAKIT_TOPICS=(orders inventory payment notification)

say() { printf '%s\n' "$*" >&2; }
step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'infra/dev: %s\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "$1 needs root (apt-get, and running PostgreSQL as the postgres user)"
}

# Whether something already listens on a loopback TCP port.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Polls a command until it succeeds or the deadline (seconds) passes.
wait_until() {
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

pid_alive() {
    [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}
