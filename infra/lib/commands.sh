# infra/dev's commands.

cmd_up() {
    need_root "up"
    pg_start
    broker_start
    # Without built binaries the recovery waits for the demo's build (it says so); up itself carries on.
    broker_recover || [ $? -eq 2 ]
    say "stack: up (postgres 127.0.0.1:$SAGAKIT_PG_PORT, kafka $(broker_bootstrap)); \`eval \"\$(infra/dev env)\"\` for its settings"
}

cmd_down() {
    services_stop
    broker_stop
    pg_stop
    say "stack: down"
}

cmd_status() {
    local rc=0
    if pg_running; then
        say "postgres: running on 127.0.0.1:$SAGAKIT_PG_PORT (data $(pg_data_dir))"
    else
        say "postgres: stopped"; rc=1
    fi
    if broker_running; then
        say "tansu:    running on $(broker_bootstrap) (pid $(cat "$(broker_pid_file)"))"
        broker_topics list | sed 's/^/          topic /' >&2 || true
    else
        say "tansu:    stopped"; rc=1
    fi
    return $rc
}

# The settings binaries and tests read. Local consumers use a short session timeout (Tansu's group joins take
# about half of it) and a 20 ms fetch wait: Tansu looks for data at once and again after half the remaining wait,
# so 20 ms costs ~3 ms a hop, while each consumer's polling of an idle broker costs it ~0.05 of a core (10 ms:
# about the same latency for a third more CPU; 50 ms: half the CPU for ~10 ms a hop; docs/PERFORMANCE.md).
# Consumer and producer properties already set in the environment are kept, so a bench can try others.
cmd_env() {
    local db upper
    echo "export SAGAKIT_BOOTSTRAP_SERVERS=$(broker_bootstrap)"
    echo "export SAGAKIT_KAFKA_CONSUMER_PROPERTIES='${SAGAKIT_KAFKA_CONSUMER_PROPERTIES:-session.timeout.ms=6000;heartbeat.interval.ms=1000;fetch.wait.max.ms=20}'"
    [ -n "${SAGAKIT_KAFKA_PRODUCER_PROPERTIES:-}" ] && echo "export SAGAKIT_KAFKA_PRODUCER_PROPERTIES='$SAGAKIT_KAFKA_PRODUCER_PROPERTIES'"
    echo "export SAGAKIT_PARTITIONS=$SAGAKIT_PARTITIONS"
    for db in "${SAGAKIT_DATABASES[@]}"; do
        upper=$(echo "$db" | tr '[:lower:]' '[:upper:]')
        echo "export ${upper}_DATABASE_URL='$(pg_url "$db")'"
    done
    echo "export SAGAKIT_ADMIN_DATABASE_URL='$(pg_url "$PG_ADMIN_ROLE")'"
    for db in "${SAGAKIT_DATABASES[@]}"; do
        upper=$(echo "$db" | tr '[:lower:]' '[:upper:]')
        echo "export SAGA_CHECK_${upper}_DATABASE_URL='$(pg_url "$PG_CHECK_ROLE" "$db")'"
    done
    echo "export SAGAKIT_STACK_DIR=$SAGAKIT_STACK_DIR"
    echo "export SAGAKIT_PYTHON=$SAGAKIT_VENV/bin/python"
    echo "export SAGAKIT_PROMTOOL=$SAGAKIT_PROMTOOL"
    echo "export SAGAKIT_DEV=$SAGAKIT_ROOT/infra/dev"
    echo "export SAGAKIT_SPOOL_DIR=$SAGAKIT_STACK_DIR/spool"
    # The first instance of each service started by demo or bench (more instances: +10 each, see services.sh).
    local id
    for id in inventory-service payment-service notification-service saga-tracker; do
        upper=$(echo "${id%-service}" | sed 's/saga-//' | tr '[:lower:]' '[:upper:]')
        echo "export ${upper}_HTTP_URL=http://127.0.0.1:$(service_http_port "$id")"
    done
}

stack_running() {
    pg_running && broker_running
}

# The pure tests, the *UnitTests targets: no PostgreSQL, no broker, no child process, so neither setup nor up (the
# build itself still needs librdkafka >= 2.8 and libpq-dev, which setup installs). ARGS go to swift test.
cmd_unit() {
    cd "$SAGAKIT_ROOT"
    step "swift build"
    swift build --build-tests
    step "swift test --filter UnitTests $*"
    swift test --skip-build --filter UnitTests "$@"
}

# setup, up (unless already up), swift build, swift test, and down for what this command started, also on failure.
# The tests that restart a shared server run last, on their own.
cmd_test() {
    cmd_setup
    if ! stack_running; then
        trap 'cmd_down' EXIT
        cmd_up
    fi
    eval "$(cmd_env)"
    cd "$SAGAKIT_ROOT"
    step "swift build"
    swift build --build-tests
    if [ $# -gt 0 ]; then
        step "swift test $*"
        SAGAKIT_DISRUPTIVE=1 swift test --skip-build "$@"
        return
    fi
    step "swift test (all but the disruptive suite)"
    local rc=0
    # At most SAGAKIT_TEST_WIDTH [6] tests at once: every suite at once (dozens of real services, databases and
    # producers) loaded the local broker past librdkafka's 10 s message timeout on two cores.
    swift test --skip-build --skip DisruptiveTests --experimental-maximum-parallelization-width "${SAGAKIT_TEST_WIDTH:-6}" || rc=$?
    step "swift test (disruptive suite: restarts PostgreSQL and the broker)"
    SAGAKIT_DISRUPTIVE=1 swift test --skip-build --no-parallel --filter DisruptiveTests || rc=$?
    [ $rc -eq 0 ] || die "tests failed"
    say "tests: all passed"
}

# The fault campaign (infra/lib/chaos.py): empties the service databases and the broker as bench does, then runs
# mixed sagas through the real intake with two processes per service while it kills processes and restarts
# PostgreSQL and the broker, and ends with saga-check. Exits 1 unless every saga ended as its scenario says, with no
# violation and every kind of fault injected. The report goes to .stack/chaos/ (or --json-out).
cmd_chaos() {
    local sagas=10000 minutes=10 instances=2 json="" seed=()
    while [ $# -gt 0 ]; do
        case "$1" in
        --sagas) sagas=${2:-}; shift 2 ;;
        --minutes) minutes=${2:-}; shift 2 ;;
        --instances) instances=${2:-}; shift 2 ;;
        --json-out) json=${2:-}; shift 2 ;;
        --seed) seed=(--seed "${2:-}"); shift 2 ;;
        *) echo "infra/dev chaos: unknown argument '$1' (--sagas N --minutes M --instances K --json-out FILE --seed S)" >&2; exit 2 ;;
        esac
    done
    [[ "$sagas" =~ ^[1-9][0-9]*$ ]] || { echo "infra/dev chaos: --sagas must be a positive whole number, not '$sagas'" >&2; exit 2; }
    [[ "$minutes" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "infra/dev chaos: --minutes must be a number, not '$minutes'" >&2; exit 2; }
    [[ "$instances" =~ ^[1-9][0-9]*$ ]] && [ "$instances" -le "$SAGAKIT_PARTITIONS" ] \
        || { echo "infra/dev chaos: --instances must be from 1 to $SAGAKIT_PARTITIONS" >&2; exit 2; }
    cmd_setup
    cmd_up
    if [ "${SAGAKIT_SKIP_BUILD:-0}" != 1 ]; then
        step "swift build"
        (cd "$SAGAKIT_ROOT" && swift build)
    fi
    services_stop
    bench_reset
    eval "$(cmd_env)"
    local dir="$SAGAKIT_STACK_DIR/chaos/$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$dir"
    [ -n "$json" ] || json="$dir/report.json"
    step "chaos: $sagas sagas over $minutes min, $instances processes per service (logs in $dir)"
    "$SAGAKIT_VENV/bin/python" "$SAGAKIT_ROOT/infra/lib/chaos.py" --sagas "$sagas" --minutes "$minutes" --instances "$instances" \
        "${seed[@]}" --bin "$SAGAKIT_ROOT/.build/debug" --log-dir "$dir" --json-out "$json"
}

cmd_help() {
    cat <<EOF
usage: infra/dev COMMAND

  setup            install PostgreSQL 15, libpq-dev, pkg-config, kcat, librdkafka >= 2.8 (backported from
                   Debian's trixie source when older), the Tansu broker and the Python test tools; idempotent
  up               start PostgreSQL and Tansu on loopback; create roles, databases and topics
  down             stop the demo's services, then what up started
  status           show what runs (exit 1 when something is stopped)
  env              print export lines: database URLs per service, bootstrap servers, local Kafka settings
  demo             setup, up, build, start the four services, run the four saga scenarios, print their status
  unit [ARGS]      swift build, then swift test --filter UnitTests [ARGS]: each library's pure tests, which need no
                   PostgreSQL, broker or child process, so no setup and no up (building needs librdkafka and libpq)
  test [ARGS]      setup, up, swift build, swift test [ARGS], then down (also on failure) if test started the stack
  bench [ARGS]     release build, empty the service databases and the broker (SAGAKIT_BENCH_KEEP_DATA=1 keeps
                   them), start the four services (one process each up to --rate 500, else one per partition),
                   run saga-bench --warmup 20s --idle 20s [ARGS] (default: --rate 1000
                   --duration 60s --with-pgbench, JSON into .stack/bench/), stop the services
  chaos [ARGS]     the fault campaign: empty the service databases and broker, then --sagas N [10000] mixed sagas
                   over --minutes M [10] with --instances K [2] processes per service, while processes are killed
                   (-9, every 2-8 s), a relay is paused past its lease, PostgreSQL and the broker restart; then
                   saga-check. Report: .stack/chaos/<time>/report.json (--json-out FILE); exit 1 on any violation
  services         show the service processes demo started
  stop-services    stop them (SIGTERM: they finish, commit and exit)
  start-services   start them again from the debug build (after stop-services, or with new settings such as
                   SAGAKIT_ALLOW_ACTIONS=on and SAGAKIT_CONSOLE_TOKEN for the console's actions)
  pg-restart       stop PostgreSQL immediately (as a crash would) and start it again
  pg-stop, pg-start  stop PostgreSQL (fast shutdown) and leave it stopped; start it again (for outage drills)
  broker-restart   restart Tansu (its memory storage loses every topic and offset; topics are recreated empty),
                   then recover: the demo's services stop, every outbox publishes again, lost consumer groups
                   start from the beginning, and the services start again; up recovers the same way
  topics           list topics and partition counts

environment (defaults in brackets):
  SAGAKIT_PG_PORT [55432]  SAGAKIT_KAFKA_PORT [19092]  SAGAKIT_PARTITIONS [3]  SAGAKIT_UP_TIMEOUT [30]
  SAGAKIT_SERVICE_INSTANCES [1; bench: 1 up to --rate 500, else SAGAKIT_PARTITIONS] processes per service
  SAGAKIT_TEST_WIDTH [6] tests run at once by test
  SAGAKIT_HTTP_PORT_BASE [9470] the services' /metrics and /health ports: +1..4 (inventory, payment, notification,
                           tracker), +10 per further instance; `env` prints INVENTORY_HTTP_URL etc.
  SAGAKIT_SKIP_BUILD [0] 1: demo uses the binaries already built   SAGAKIT_DEMO_TIMEOUT [60] seconds per scenario
  SAGAKIT_SERVICE_MALLOC [jemalloc] the allocator of the services demo and bench start; "glibc" for the default one
  PAYMENT_DECLINE_ORDERS [ORD-2003,*-decline-*]  NOTIFICATION_FAIL_CONFIRMATIONS [ORD-2002,*-failconfirm-*]
                           fault options (demos and tests only) of the services demo and bench start: order id globs
  SAGAKIT_STACK_DIR [$SAGAKIT_ROOT/.stack]  SAGAKIT_CACHE_DIR [~/.cache/sagakit]  SAGAKIT_PG_DIR [in the stack dir]
EOF
}

main() {
    local cmd=${1:-help}
    [ $# -gt 0 ] && shift
    case "$cmd" in
        setup) cmd_setup ;;
        up) cmd_up ;;
        down) cmd_down ;;
        status) cmd_status ;;
        env) cmd_env ;;
        unit) cmd_unit "$@" ;;
        test) cmd_test "$@" ;;
        demo) cmd_demo ;;
        bench) cmd_bench "$@" ;;
        chaos) cmd_chaos "$@" ;;
        services) services_status ;;
        stop-services) services_stop ;;
        start-services) services_start ;;
        pg-restart) pg_restart ;;
        pg-stop) pg_stop ;;
        pg-start) pg_start ;;
        broker-restart) need_root "broker-restart"; broker_restart ;;
        topics) broker_topics list ;;
        help | -h | --help) cmd_help ;;
        *) cmd_help >&2; die "unknown command: $cmd" ;;
    esac
}
