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

# Memory storage: a restart is a total wipe of topics, records and committed offsets.
broker_restart() {
    broker_stop
    broker_start
}
