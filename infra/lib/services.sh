# The four service processes `infra/dev demo` runs in the background, with their logs and pids in the stack folder.

SERVICES=(inventory-service payment-service notification-service saga-tracker)

service_pid_file() { echo "$SAGAKIT_RUN_DIR/$1.pid"; }

# The binary of the service that owns a database.
service_binary() {
    case "$1" in
    tracker) echo saga-tracker ;;
    *) echo "$1-service" ;;
    esac
}

# Whether any service process demo or bench started is running.
services_running() {
    local pidf
    for pidf in "$SAGAKIT_RUN_DIR"/*-service*.pid "$SAGAKIT_RUN_DIR"/saga-tracker*.pid; do
        [ -e "$pidf" ] && pid_alive "$pidf" && return 0
    done
    return 1
}

# SAGAKIT_SERVICE_INSTANCES [1] processes per service, in one consumer group each: the second is
# `<service>.2`, with its own pid file and log. At most one per partition, or one would idle.
service_instances() {
    local n=${SAGAKIT_SERVICE_INSTANCES:-1} name i
    for name in "${SERVICES[@]}"; do
        echo "$name"
        for ((i = 2; i <= n; i++)); do echo "$name.$i"; done
    done
}

# The HTTP port of a service instance: SAGAKIT_HTTP_PORT_BASE [9470] + 1..4 (inventory, payment, notification,
# tracker), + 10 per further instance: inventory-service 9471, inventory-service.2 9481, saga-tracker 9474.
service_http_port() {
    local id=$1 name=${1%.*} instance=1 index
    [[ "$id" == *.* ]] && instance=${id##*.}
    case "$name" in
    inventory-service) index=1 ;; payment-service) index=2 ;; notification-service) index=3 ;; saga-tracker) index=4 ;;
    *) die "no HTTP port for $name" ;;
    esac
    echo $((${SAGAKIT_HTTP_PORT_BASE:-9470} + index + 10 * (instance - 1)))
}

# services_start [bin-dir [extra run args...]]
services_start() {
    local bin="${1:-$SAGAKIT_ROOT/.build/debug}" id
    [ $# -gt 0 ] && shift
    local extra=("$@")
    local n=${SAGAKIT_SERVICE_INSTANCES:-1}
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "SAGAKIT_SERVICE_INSTANCES must be a whole number from 1, not '$n'"
    mkdir -p "$SAGAKIT_RUN_DIR" "$SAGAKIT_LOG_DIR" "$SAGAKIT_STACK_DIR/spool"
    eval "$(cmd_env)"
    # The participants' fault options, for the demo and the bench (docs/ARCHITECTURE.md, "Fault options"): Payment
    # declines the demo's ORD-2003 and every order id containing -decline- (saga-bench's declined payments);
    # Notification fails the confirmation of ORD-2002 and of every id containing -failconfirm-. Setting either
    # variable, even to nothing, replaces its default.
    export PAYMENT_DECLINE_ORDERS="${PAYMENT_DECLINE_ORDERS-ORD-2003,*-decline-*}"
    export NOTIFICATION_FAIL_CONFIRMATIONS="${NOTIFICATION_FAIL_CONFIRMATIONS-ORD-2002,*-failconfirm-*}"
    [ "$n" -le "$SAGAKIT_PARTITIONS" ] || die "SAGAKIT_SERVICE_INSTANCES=$n exceeds the $SAGAKIT_PARTITIONS partitions per topic"
    # SAGAKIT_SERVICE_MALLOC [jemalloc]: the services' allocator. Under glibc's malloc their resident memory crept
    # by 0.1-0.25 MiB/min per process at 500 sagas/s with a flat live heap; on jemalloc (LD_PRELOAD) it stays flat
    # (docs/PERFORMANCE.md). `glibc` runs them without it.
    local launch=()
    case "${SAGAKIT_SERVICE_MALLOC:-jemalloc}" in
    glibc) ;;
    jemalloc)
        local lib
        lib=$(dpkg -L libjemalloc2 2>/dev/null | grep '/libjemalloc\.so\.2$' | head -1 || true)
        [ -n "$lib" ] || die "libjemalloc2 is not installed: run infra/dev setup, or set SAGAKIT_SERVICE_MALLOC=glibc"
        launch=(env "LD_PRELOAD=$lib")
        ;;
    *) die "SAGAKIT_SERVICE_MALLOC must be glibc or jemalloc, not '$SAGAKIT_SERVICE_MALLOC'" ;;
    esac
    for id in $(service_instances); do
        if pid_alive "$(service_pid_file "$id")"; then
            say "$id: already running"
            continue
        fi
        # Each gets its own log; `run` applies its migrations first (concurrent instances take turns: the
        # migrator holds an advisory lock).
        # Each its own HTTP port for /metrics and /health (service_http_port).
        nohup "${launch[@]}" env "SAGAKIT_HTTP_ADDRESS=127.0.0.1:$(service_http_port "$id")" "$bin/${id%.*}" run "${extra[@]}" \
            >"$SAGAKIT_LOG_DIR/$id.log" 2>&1 </dev/null &
        echo $! >"$(service_pid_file "$id")"
        say "$id: started (log $SAGAKIT_LOG_DIR/$id.log)"
    done
    # A consumer is ready once its group assigned it partitions (about 3 s on the local broker).
    for id in $(service_instances); do
        wait_until 60 grep -q "partitions assigned" "$SAGAKIT_LOG_DIR/$id.log" \
            || die "$id did not join its consumer group within 60 s; see $SAGAKIT_LOG_DIR/$id.log"
    done
}

services_stop() {
    local id pidf pid
    # Every instance a pid file names, whatever SAGAKIT_SERVICE_INSTANCES says now.
    for pidf in "$SAGAKIT_RUN_DIR"/*-service*.pid "$SAGAKIT_RUN_DIR"/saga-tracker*.pid; do
        [ -e "$pidf" ] || continue
        id=$(basename "$pidf" .pid)
        if pid_alive "$pidf"; then
            pid=$(cat "$pidf")
            kill -TERM "$pid" 2>/dev/null || true
            wait_until 30 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
            say "$id: stopped"
        fi
        rm -f "$pidf"
    done
}

services_status() {
    local id
    for id in $(service_instances); do
        if pid_alive "$(service_pid_file "$id")"; then
            say "$id: running (pid $(cat "$(service_pid_file "$id")"), log $SAGAKIT_LOG_DIR/$id.log)"
        else
            say "$id: stopped"
        fi
    done
}

# The order saga's four scenarios, end to end. Exits 1, naming them, when a scenario does not reach its expected
# final state.
cmd_demo() {
    cmd_setup
    if [ "${SAGAKIT_SKIP_BUILD:-0}" != 1 ]; then
        step "swift build"
        (cd "$SAGAKIT_ROOT" && swift build)
    fi
    cmd_up
    eval "$(cmd_env)"
    step "starting the services"
    services_start
    local bin="$SAGAKIT_ROOT/.build/debug"
    step "inventory-service stock set --sku demo-widget --available 100"
    "$bin/inventory-service" stock set --sku demo-widget --available 100
    local common=(--sku demo-widget --amount 59.99 --email buyer@example.com)
    step "starting four sagas (a second demo finds them started and shows them again)"
    "$bin/saga-tracker" start --order-id ORD-2001 --quantity 1 "${common[@]}" || true
    # ORD-2002's confirmation fails and ORD-2003's payment is declined by the services' fault options (services_start).
    "$bin/saga-tracker" start --order-id ORD-2002 --quantity 1 "${common[@]}" || true
    "$bin/saga-tracker" start --order-id ORD-2003 --quantity 1 "${common[@]}" || true
    "$bin/saga-tracker" start --order-id ORD-2004 --quantity 1000 "${common[@]}" || true
    local order expected state failed=()
    for order in ORD-2001:completed ORD-2002:compensated ORD-2003:compensated ORD-2004:failed; do
        expected=${order#*:}
        order=${order%%:*}
        wait_until "${SAGAKIT_DEMO_TIMEOUT:-60}" saga_terminal "$order" || true
        echo
        "$bin/saga-tracker" status "$order" || true
        state=$(saga_state "$order")
        [ "$state" = "$expected" ] || failed+=("$order is ${state:-unknown}, expected $expected")
    done
    echo
    "$bin/inventory-service" stock list
    if [ ${#failed[@]} -gt 0 ]; then
        local line
        for line in "${failed[@]}"; do say "demo: $line"; done
        die "demo: ${#failed[@]} of 4 scenarios did not reach their expected final state"
    fi
    cat <<EOT

The services keep running. Try your own:  eval "\$(infra/dev env)"; .build/debug/saga-tracker start --help
Stop the services:  infra/dev stop-services      Stop everything:  infra/dev down
Logs: $SAGAKIT_LOG_DIR/*.log    Confirmations: $SAGAKIT_STACK_DIR/spool/*.eml
EOT
}

saga_terminal() {
    case "$(saga_state "$1")" in completed | compensated | failed | compensation_failed) return 0 ;; *) return 1 ;; esac
}

saga_state() {
    "$SAGAKIT_ROOT/.build/debug/saga-tracker" status --json "$1" 2>/dev/null | sed -n 's/.*"state":"\([a-z_]*\)".*/\1/p' | head -1
}

# The benchmark on the local stack: release builds of the services and saga-bench, the services at notice log
# level (their one info line per event is the first thing to cost at a thousand sagas a second).
cmd_bench() {
    cmd_setup
    cmd_up
    step "swift build -c release"
    (cd "$SAGAKIT_ROOT" && swift build -c release)
    eval "$(cmd_env)"
    services_stop
    # A run starts from empty service databases and an empty broker, so runs compare: tables that earlier runs
    # filled (and their autovacuums) slow a run down by a third or more. SAGAKIT_BENCH_KEEP_DATA=1 keeps both.
    if [ "${SAGAKIT_BENCH_KEEP_DATA:-0}" != 1 ]; then
        bench_reset
    fi
    # The confirmations a bench sends are thrown away: a spool folder holding millions of files slows every write.
    # In memory (tmpfs) when there is one: on an ext4 without a journal, as here, creating a file scans past every
    # inode deleted in the last minutes, so the spool a previous run (or test) removed cost a third of the
    # machine's CPU in the next run (docs/PERFORMANCE.md). The file system under a demo's mail is not SagaKit's.
    # Only with room for a long run's files (a few KiB each, held in memory); a killed run's folder is removed here.
    local spool_default="$SAGAKIT_STACK_DIR/bench/spool" stale
    if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -ge 4194304 ]; then
        spool_default="/dev/shm/sagakit-bench-spool.$$"
        for stale in /dev/shm/sagakit-bench-spool.*; do
            if [ -d "$stale" ] && ! kill -0 "${stale##*.}" 2>/dev/null; then rm -rf "$stale"; fi
        done
    fi
    export NOTIFICATION_SPOOL_DIR="${SAGAKIT_BENCH_SPOOL_DIR:-$spool_default}"
    rm -rf "$NOTIFICATION_SPOOL_DIR"
    trap 'services_stop; rm -rf "$NOTIFICATION_SPOOL_DIR"' EXIT
    local bin="$SAGAKIT_ROOT/.build/release"
    # The fewest processes that keep up: one per service up to 500 sagas/s offered, where a single consumer keeps
    # up and every further one adds its idle polling to the broker's CPU (and so to every hop's queueing); above
    # that, or in a closed loop, one per partition, the way a Kafka consumer group scales out (docs/PERFORMANCE.md).
    export SAGAKIT_SERVICE_INSTANCES=${SAGAKIT_SERVICE_INSTANCES:-$(bench_instances "$@")}
    SAGAKIT_LOG_LEVEL=${SAGAKIT_LOG_LEVEL:-notice} services_start "$bin" ${SAGAKIT_BENCH_RUN_ARGS:-}
    mkdir -p "$SAGAKIT_STACK_DIR/bench"
    # After the reset the first 20 s warm the caches and let autoanalyze see the new tables (see bench_reset).
    local args=(--warmup 20s --idle 20s)
    if [ $# -eq 0 ]; then
        args+=(--rate 1000 --duration 60s --with-pgbench --json-out "$SAGAKIT_STACK_DIR/bench/$(date -u +%Y%m%dT%H%M%SZ).json")
    else
        args+=("$@")
    fi
    step "saga-bench ${args[*]}"
    "$bin/saga-bench" "${args[@]}"
}

# bench_instances [saga-bench args...]: 1 for an open loop of at most 500 sagas/s, else SAGAKIT_PARTITIONS (also
# with no arguments: the default run is 1,000/s).
bench_instances() {
    local rate=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --rate) rate=${2:-}; shift ;;
        --rate=*) rate=${1#--rate=} ;;
        esac
        shift
    done
    if [[ "$rate" =~ ^[0-9]+([.][0-9]+)?$ ]] && awk -v r="$rate" 'BEGIN { exit !(r <= 500) }'; then
        echo 1
    else
        echo "$SAGAKIT_PARTITIONS"
    fi
}

# Drops and recreates the four service databases (the services migrate them on start) and restarts the broker,
# whose memory storage then holds nothing. Statements the services prepare against still-empty tables get
# sequential-scan plans until autoanalyze (every 10 s on this stack) first sees the tables: hence bench's 20 s
# warm-up (a later --warmup wins).
bench_reset() {
    local db
    step "bench: empty service databases and broker (SAGAKIT_BENCH_KEEP_DATA=1 keeps them)"
    for db in "${SAGAKIT_DATABASES[@]}"; do
        printf 'DROP DATABASE IF EXISTS "%s" WITH (FORCE);\n' "$db"
    done | pg_psql -d postgres >/dev/null
    pg_bootstrap
    broker_restart
}
