"""The fault campaign: mixed sagas through the real intake while processes die and servers restart, then saga-check.

Run by `infra/dev chaos` (which empties the service databases and the broker first and exports the stack's
settings). Two processes per service (so a kill causes a consumer-group rebalance and, for the lease holder, a relay
takeover), and during the load:
  - kill -9 of a random service or tracker process every 2-8 s (restarted a second later, as a supervisor would);
  - one relay paused with SIGSTOP past its lease, then resumed;
  - one PostgreSQL restart (immediate stop: a crash);
  - one broker restart (memory storage: everything lost) with the automatic recovery: services stopped, broker
    back with its topics, `outbox recover` for every service (infra/dev broker-restart), services started again.
Then it waits for quiescence (every saga terminal, every outbox drained), runs `saga-check --require-terminal`,
compares each saga's state with its scenario's, and writes a JSON report. Exit 0 only when every saga ended as its
scenario says, saga-check found nothing, and every kind of fault happened.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

SERVICES = ["inventory-service", "payment-service", "notification-service", "saga-tracker"]
DATABASE_VARIABLE = {
    "inventory-service": "INVENTORY_DATABASE_URL",
    "payment-service": "PAYMENT_DATABASE_URL",
    "notification-service": "NOTIFICATION_DATABASE_URL",
    "saga-tracker": "TRACKER_DATABASE_URL",
}
SKUS = ["chaos-a", "chaos-b", "chaos-c"]
STOCK = 1_000_000
TERMINAL = ("completed", "compensated", "failed", "compensation_failed")
# Scenario by order number: the happy path, a failed confirmation, a declined payment, more than the stock.
SCENARIOS = [("normal", "completed"), ("fail-confirmation", "compensated"), ("fail-payment", "compensated"),
             ("too-many", "failed")]
# The failing scenarios come from the participants' fault options, by order id: the ids carry a marker and the
# processes this campaign starts match it (docs/ARCHITECTURE.md, "Fault options").
ID_MARKER = {"fail-confirmation": "failconfirm-", "fail-payment": "decline-"}
FAULT_OPTIONS = {"PAYMENT_DECLINE_ORDERS": "*-decline-*", "NOTIFICATION_FAIL_CONFIRMATIONS": "*-failconfirm-*"}


def say(message):
    print(f"chaos: {message}", file=sys.stderr, flush=True)


class Stack:
    def __init__(self, args):
        self.bin = args.bin
        self.dev = os.environ["SAGAKIT_DEV"]
        self.log_dir = args.log_dir
        self.instances = args.instances
        self.lease_seconds = 5
        self.lock = threading.Lock()
        self.processes = {}  # name -> Popen
        self.paused = set()
        self.faults = {"kill9": 0, "relay_pause": 0, "pg_restart": 0, "broker_restart": 0}
        self.events = []

    def note(self, kind, detail):
        self.events.append({"t": round(time.monotonic() - START, 1), "fault": kind, "detail": detail})
        say(f"{kind}: {detail}")

    def run(self, *command, check=True, timeout=300):
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
        return result

    def psql(self, service, sql):
        url = os.environ[DATABASE_VARIABLE[service]]
        return self.run("psql", url, "-XAtq", "-c", sql, check=False, timeout=60)

    # Processes

    def names(self):
        return [f"{service}.{i}" for service in SERVICES for i in range(1, self.instances + 1)]

    def start(self, name):
        """Starts a process; returns where its log stood, so a wait reads only what this start wrote."""
        service = name.rsplit(".", 1)[0]
        path = os.path.join(self.log_dir, f"{name}.log")
        offset = os.path.getsize(path) if os.path.exists(path) else 0
        log = open(path, "a")
        process = subprocess.Popen([os.path.join(self.bin, service), "run", "--lease-seconds", str(self.lease_seconds)],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "SAGAKIT_HTTP_ADDRESS": "127.0.0.1:0", **FAULT_OPTIONS})
        log.close()
        with self.lock:
            self.processes[name] = process
        return offset

    def start_all(self):
        offsets = {name: self.start(name) for name in self.names()}
        deadline = time.monotonic() + 120
        for name in self.names():
            path = os.path.join(self.log_dir, f"{name}.log")
            while "partitions assigned" not in open(path).read()[offsets[name]:]:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} got no partitions within 120 s (log {path})")
                time.sleep(0.2)

    def stop_all(self):
        """SIGTERM to every process at once, SIGKILL to those still running 15 s later."""
        with self.lock:
            processes = list(self.processes.values())
            self.processes = {}
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.terminate()
        deadline = time.monotonic() + 15
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill_random(self, rng):
        with self.lock:
            candidates = [name for name, process in self.processes.items() if process.poll() is None and process.pid not in self.paused]
        if not candidates:
            return
        name = rng.choice(candidates)
        with self.lock:
            process = self.processes[name]
        process.kill()
        process.wait()
        self.faults["kill9"] += 1
        self.note("kill9", f"{name} (pid {process.pid})")
        time.sleep(1)
        self.start(name)

    def pause_relay(self, rng):
        """SIGSTOP the process holding one service's relay lease for longer than the lease, then SIGCONT."""
        for service in rng.sample(SERVICES, len(SERVICES)):
            holder = self.psql(service, "SELECT holder FROM sagakit_relay_lease WHERE name = 'outbox' AND expires_at > now()").stdout.strip()
            parts = holder.split("-")
            pid = next((int(p) for p in reversed(parts[:-1]) if p.isdigit()), None)
            with self.lock:
                ours = any(process.pid == pid and process.poll() is None for process in self.processes.values())
            if pid is None or not ours:
                continue
            with self.lock:
                self.paused.add(pid)
            os.kill(pid, signal.SIGSTOP)
            pause = self.lease_seconds + 4
            self.note("relay_pause", f"{service}'s relay (pid {pid}) stopped for {pause} s, lease {self.lease_seconds} s")
            time.sleep(pause)
            os.kill(pid, signal.SIGCONT)
            with self.lock:
                self.paused.discard(pid)
            self.faults["relay_pause"] += 1
            return
        say("relay_pause: no live relay lease held by a campaign process; will try again")

    def restart_postgres(self):
        self.note("pg_restart", "immediate stop and start")
        self.run(self.dev, "pg-restart", timeout=180)
        self.faults["pg_restart"] += 1

    def restart_broker(self):
        began = time.monotonic()
        self.stop_all()
        stopped = time.monotonic()
        result = self.run(self.dev, "broker-restart", timeout=600)
        with open(os.path.join(self.log_dir, "broker-restart.log"), "w") as log:
            log.write(result.stdout + result.stderr)
        recovered = time.monotonic()
        self.start_all()
        self.note("broker_restart", f"services stopped in {stopped - began:.1f} s; broker wiped, restarted and recovered "
                  f"(outbox recover for every service) in {recovered - stopped:.1f} s; services back with partitions in "
                  f"{time.monotonic() - recovered:.1f} s")
        self.faults["broker_restart"] += 1


def order(run_id, i):
    scenario, expected = SCENARIOS[(i // len(SKUS)) % len(SCENARIOS)]
    sku = SKUS[i % len(SKUS)]
    quantity = STOCK * 2 if scenario == "too-many" else 1 + i % 3
    amount = f"{10 + (i * 37) % 90}.{i % 100:02d}"
    saga = f"CHAOS-{run_id}-{ID_MARKER.get(scenario, '')}{i:06d}"
    arguments = ["--order-id", saga, "--sku", sku, "--quantity", str(quantity), "--amount", amount,
                 "--email", f"buyer{i}@example.com"]
    return saga, expected, arguments


def load(stack, run_id, count, seconds, started, failures):
    """Starts `count` sagas through `saga-tracker start` spread over `seconds`; a start that fails (PostgreSQL away)
    is retried until it is accepted or already started: the order id is the idempotency key."""
    interval = seconds / max(count, 1)
    begin = time.monotonic()
    lock = threading.Lock()
    next_index = [0]

    def worker():
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= count:
                return
            due = begin + i * interval
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            saga, expected, arguments = order(run_id, i)
            deadline = time.monotonic() + 180
            while True:
                try:
                    result = subprocess.run([os.path.join(stack.bin, "saga-tracker"), "start", *arguments], capture_output=True, text=True)
                    error = result.stderr.strip()[-200:]
                    if result.returncode == 0:
                        break
                except OSError as failure:  # the start itself could not run: tried again like a refused one
                    error = str(failure)
                if time.monotonic() > deadline:
                    failures.append(f"{saga}: {error}")
                    break
                time.sleep(0.5)
            with lock:
                started[saga] = expected

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sagas", type=int, default=10000)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--json-out", required=True)
    parser.add_argument("--quiescence-timeout", type=float, default=600)
    args = parser.parse_args()
    if args.sagas < 1 or args.minutes <= 0 or args.instances < 1:
        parser.error("--sagas, --minutes and --instances must be positive")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    os.makedirs(args.log_dir, exist_ok=True)
    # The binaries run from a copy of their own: a build during the campaign must not replace them under it. The
    # infra/dev commands the faults run (the broker's recovery) use the same copy.
    copy = os.path.join(args.log_dir, "bin")
    os.makedirs(copy, exist_ok=True)
    for binary in SERVICES + ["saga-check"]:
        shutil.copy2(os.path.join(args.bin, binary), os.path.join(copy, binary))
    original = args.bin
    args.bin = copy
    os.environ["SAGAKIT_BIN_DIR"] = copy
    try:
        return campaign(args, rng, seed)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
        args.bin = original


def campaign(args, rng, seed):
    run_id = f"{int(time.time()) % 100000:05d}"
    stack = Stack(args)

    for service in SERVICES:
        stack.run(os.path.join(args.bin, service), "migrate")
    for sku in SKUS:
        stack.run(os.path.join(args.bin, "inventory-service"), "stock", "set", "--sku", sku, "--available", str(STOCK))
    say(f"seed {seed}; {args.sagas} sagas over {args.minutes} min; {args.instances} processes per service")
    stack.start_all()

    window = args.minutes * 60
    started, failures = {}, []
    global START
    START = time.monotonic()
    loader = threading.Thread(target=load, args=(stack, run_id, args.sagas, window * 0.85, started, failures))
    loader.start()
    # The single faults at fixed points of the window, the kills in between.
    schedule = [(0.25, stack.pause_relay), (0.45, stack.restart_postgres), (0.65, stack.restart_broker)]
    errors = []
    while time.monotonic() - START < window:
        elapsed = (time.monotonic() - START) / window
        if schedule and elapsed >= schedule[0][0]:
            _, fault = schedule.pop(0)
            try:
                fault(rng) if fault == stack.pause_relay else fault()
            except Exception as error:  # a fault that could not be injected is a failed campaign, not a crash
                errors.append(f"{fault.__name__}: {error}")
                say(f"fault failed: {error}")
            if fault == stack.pause_relay and stack.faults["relay_pause"] == 0:
                schedule.insert(0, (elapsed + 0.02, stack.pause_relay))
            continue
        time.sleep(rng.uniform(2, 8))
        if time.monotonic() - START < window:
            stack.kill_random(rng)
    loader.join()
    load_seconds = time.monotonic() - START
    say(f"load done: {len(started)} sagas started in {load_seconds:.0f} s; waiting for quiescence")

    # Quiescence: every saga terminal in the tracker, no stock still held (Inventory marks a completed saga's stock
    # sold after the tracker saw it complete), and every outbox drained.
    quiet_start = time.monotonic()
    terminal_list = ",".join(f"'{state}'" for state in TERMINAL)
    quiescent = False
    while time.monotonic() - quiet_start < args.quiescence_timeout:
        open_sagas = stack.psql("saga-tracker", f"SELECT count(*) FROM orders o LEFT JOIN sagas s ON s.saga_id = o.order_id WHERE s.state IS NULL OR s.state NOT IN ({terminal_list})").stdout.strip()
        pending = sum(int(stack.psql(service, "SELECT count(*) FROM sagakit_outbox WHERE published_at IS NULL").stdout.strip() or 1) for service in SERVICES)
        held = stack.psql("inventory-service", "SELECT count(*) FROM reservations WHERE status = 'reserved'").stdout.strip()
        if open_sagas == "0" and pending == 0 and held == "0":
            quiescent = True
            break
        time.sleep(1)
    quiescence_seconds = time.monotonic() - quiet_start
    say(f"quiescent after {quiescence_seconds:.0f} s" if quiescent else f"not quiescent after {quiescence_seconds:.0f} s")

    check = subprocess.run([os.path.join(args.bin, "saga-check"), "--require-terminal", "--json", "--grace", "0s"], capture_output=True, text=True)
    try:
        report = json.loads(check.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        report = {"violation_count": -1, "violations": [], "error": check.stderr.strip()}
    states = dict(line.split("|") for line in stack.psql("saga-tracker", "SELECT saga_id, state FROM sagas").stdout.split() if "|" in line)
    unexpected = {saga: {"expected": expected, "state": states.get(saga)} for saga, expected in started.items() if states.get(saga) != expected}
    stack.stop_all()

    kinds_missing = [kind for kind, count in stack.faults.items() if count == 0]
    result = {
        "seed": seed,
        "sagas": args.sagas,
        "sagas_started": len(started),
        "processes_per_service": args.instances,
        "load_seconds": round(load_seconds, 1),
        "faults": stack.faults,
        "fault_log": stack.events,
        "quiescent": quiescent,
        "time_to_quiescence_seconds": round(quiescence_seconds, 1),
        "saga_check_exit": check.returncode,
        "violations": report.get("violation_count", -1),
        "violation_list": report.get("violations", [])[:50],
        "sagas_checked": report.get("sagas"),
        "unexpected_outcomes": len(unexpected),
        "unexpected_examples": dict(list(unexpected.items())[:20]),
        "start_failures": failures[:20],
        "fault_errors": errors,
        "kinds_missing": kinds_missing,
    }
    result["passed"] = (quiescent and check.returncode == 0 and result["violations"] == 0 and not unexpected
                        and len(started) == args.sagas and not failures and not errors and not kinds_missing)
    with open(args.json_out, "w") as out:
        json.dump(result, out, indent=2)
    say(f"{len(started)} sagas; faults {stack.faults}; quiescence {quiescence_seconds:.0f} s; "
        f"violations {result['violations']}; unexpected outcomes {len(unexpected)}; report {args.json_out}")
    if not result["passed"]:
        say("FAILED: " + json.dumps({k: result[k] for k in ("quiescent", "violations", "unexpected_outcomes", "start_failures", "fault_errors", "kinds_missing")}))
        return 1
    say("passed")
    return 0


START = time.monotonic()

if __name__ == "__main__":
    sys.exit(main())
