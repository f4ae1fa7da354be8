# The local broker: Tansu 0.6.0 (Kafka-compatible) on loopback, memory storage, so a restart loses everything.

broker_pid_file() { echo "$SAGAKIT_RUN_DIR/tansu.pid"; }
broker_bootstrap() { echo "127.0.0.1:$SAGAKIT_KAFKA_PORT"; }

broker_running() {
    pid_alive "$(broker_pid_file)"
}

broker_topics() {
    "$SAGAKIT_VENV/bin/python" "$SAGAKIT_ROOT/infra/lib/topics.py" "$(broker_bootstrap)" "$@"
}

broker_start() {
    [ -x "$SAGAKIT_TANSU" ] || die "the tansu broker is not installed; run infra/dev setup"
    mkdir -p "$SAGAKIT_RUN_DIR" "$SAGAKIT_LOG_DIR"
    if broker_running; then
        say "tansu: already running on $(broker_bootstrap)"
    else
        if port_open "$SAGAKIT_KAFKA_PORT"; then
            die "port $SAGAKIT_KAFKA_PORT is taken by another process; set SAGAKIT_KAFKA_PORT"
        fi
        step "starting tansu on $(broker_bootstrap)"
        # A new broker holds nothing, whatever pid it gets: it needs recovering (broker_recover).
        rm -f "$SAGAKIT_RUN_DIR/broker-recovered"
        local url="tcp://$(broker_bootstrap)"
        nohup "$SAGAKIT_TANSU" broker --listener-url "$url" --advertised-listener-url "$url" \
            --storage-engine memory://tansu/ >>"$SAGAKIT_LOG_DIR/tansu.log" 2>&1 </dev/null &
        echo $! >"$(broker_pid_file)"
    fi
    wait_until "$SAGAKIT_UP_TIMEOUT" port_open "$SAGAKIT_KAFKA_PORT" \
        || die "tansu is not accepting connections on $(broker_bootstrap) after ${SAGAKIT_UP_TIMEOUT}s (log: $SAGAKIT_LOG_DIR/tansu.log)"
    broker_create_topics
}

broker_create_topics() {
    local topics=() t
    for t in "${SAGAKIT_TOPICS[@]}"; do topics+=("$t" "$t.dlq"); done
    broker_topics create --partitions "$SAGAKIT_PARTITIONS" --timeout "$SAGAKIT_UP_TIMEOUT" "${topics[@]}"
}

broker_stop() {
    local pidf
    pidf=$(broker_pid_file)
    if broker_running; then
        step "stopping tansu"
        local pid
        pid=$(cat "$pidf")
        kill "$pid" 2>/dev/null || true
        wait_until 10 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidf"
}

# Memory storage: a restart is a total wipe of topics, records and committed offsets. The demo's services are
# stopped around it (their Kafka clients would talk to topics and groups that no longer exist) and started again,
# after the recovery, if they were running.
broker_restart() {
    local running=0
    services_running && running=1
    [ $running -eq 0 ] || services_stop
    broker_stop
    broker_start
    broker_recover || die "broker: restarted, but not recovered (build the services first: swift build); services left stopped"
    [ $running -eq 0 ] || services_start
}

# The services' databases outlive the broker: after it came back empty, what they say was published is not there.
# Each service with outbox rows publishes them again and its consumer groups start from the beginning
# (`<service> outbox recover`; the inboxes skip what was applied), so the stack is consistent again. Done once per
# broker process (a marker holds its pid); needs the service binaries, so a stack not built yet recovers when the
# demo has built them; it returns 2 then, so a restart does not carry on as if it had recovered.
broker_recover() {
    local marker="$SAGAKIT_RUN_DIR/broker-recovered" pid db binary rows todo=()
    pid=$(cat "$(broker_pid_file)" 2>/dev/null || true)
    [ -n "$pid" ] || return 0
    [ "$(cat "$marker" 2>/dev/null || true)" != "$pid" ] || return 0
    for db in "${SAGAKIT_DATABASES[@]}"; do
        rows=$(pg_psql -d "$db" -tA -c "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'sagakit_outbox') AND EXISTS (SELECT 1 FROM sagakit_outbox)" 2>/dev/null || echo f)
        [ "$rows" = t ] && todo+=("$db")
    done
    if [ ${#todo[@]} -gt 0 ]; then
        local bin="${SAGAKIT_BIN_DIR:-$SAGAKIT_ROOT/.build/debug}"
        for db in "${todo[@]}"; do
            [ -x "$bin/$(service_binary "$db")" ] || { say "broker: recovery of ${todo[*]} waits for a build (swift build, or infra/dev demo)"; return 2; }
        done
        step "broker: recovering what the new broker lacks from the outboxes of ${todo[*]}"
        (
            eval "$(cmd_env)"
            for db in "${todo[@]}"; do
                binary=$(service_binary "$db")
                "$bin/$binary" outbox recover --log-level warning | sed "s/^/$binary: /" >&2 \
                    || die "$binary outbox recover failed; see docs/OPERATIONS.md, 'The broker lost its data'"
            done
        ) || return 1
    fi
    echo "$pid" >"$marker"
}
