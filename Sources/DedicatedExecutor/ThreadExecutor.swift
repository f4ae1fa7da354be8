import Foundation

/// A serial executor that runs every job on one thread it owns.
///
/// Actors that wrap a blocking C handle (a `PGconn`, a librdkafka consumer) take this as their executor, so a
/// blocking call stalls only that thread and never one of the cooperative pool's threads, of which a 2-core
/// machine has two. C callbacks fired inside those calls run on the same thread, inside the actor's job, and may
/// re-enter its state with `assumeIsolated`.
public final class ThreadExecutor: SerialExecutor, @unchecked Sendable {
    private enum Work {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
    }

    // @unchecked: every stored var is only touched with `condition` locked.
    private let condition = NSCondition()
    private var jobs: [Work] = []
    private var head = 0
    private var stopping = false
    private var threadRunning = false
    public let name: String

    public init(name: String) {
        self.name = name
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        append(.job(UnownedJob(job)))
    }

    /// Runs a closure on the executor's thread, after the work already queued: for cleanup from a `deinit`, which
    /// cannot be isolated to the actor but must call into C on the actor's thread.
    public func perform(_ work: @escaping @Sendable () -> Void) {
        append(.closure(work))
    }

    private func append(_ work: Work) {
        condition.lock()
        jobs.append(work)
        if threadRunning {
            condition.signal()
        } else {
            threadRunning = true
            startThread()
        }
        condition.unlock()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets the thread exit once its queue is empty. A job enqueued afterwards still runs, on a fresh thread that
    /// exits when idle, so a late caller never hangs.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func startThread() {
        let thread = Thread { [self] in self.runLoop() }
        thread.name = name
        thread.start()
    }

    private func runLoop() {
        let executor = asUnownedSerialExecutor()
        while true {
            condition.lock()
            while head == jobs.count && !stopping {
                condition.wait()
            }
            if head == jobs.count {
                threadRunning = false
                jobs.removeAll()
                head = 0
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head >= 256 && head * 2 >= jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            switch job {
            case .job(let job): job.runSynchronously(on: executor)
            case .closure(let work): work()
            }
        }
    }
}
