import Foundation
import PGClient
import Synchronization

/// The relay's hold on the `sagakit_relay_lease` row: holder and epoch, checked in every marking transaction.
final class RelayLease: Sendable {
    struct Lost: Error {}

    let holder: String
    let epoch: Int64
    private let lastRenewal = Mutex(ContinuousClock.now)

    private init(holder: String, epoch: Int64) {
        self.holder = holder
        self.epoch = epoch
    }

    func needsRenewal(leaseDuration: Duration) -> Bool {
        ContinuousClock.now - lastRenewal.withLock { $0 } > leaseDuration / 3
    }

    func renewed() {
        lastRenewal.withLock { $0 = .now }
    }

    /// Renews a lease we hold, or takes the lease if it is free or expired. Nil: another relay holds it.
    static func acquireOrRenew(_ current: RelayLease?, holder: String, duration: Duration, on db: PGConnection) async throws -> RelayLease? {
        let millis = Int(duration.seconds * 1000)
        if let current {
            let renewed = try await db.query("""
                UPDATE sagakit_relay_lease SET expires_at = now() + \(millis) * interval '1 millisecond'
                WHERE name = 'outbox' AND holder = \(current.holder) AND epoch = \(current.epoch)
                """).affectedRows
            guard renewed == 1 else { throw Lost() }
            current.renewed()
            return current
        }
        let rows = try await db.query("""
            UPDATE sagakit_relay_lease
            SET holder = \(holder), epoch = epoch + 1, expires_at = now() + \(millis) * interval '1 millisecond'
            WHERE name = 'outbox' AND (holder IS NULL OR expires_at < now())
            RETURNING epoch
            """)
        guard let row = rows.first else { return nil }
        return RelayLease(holder: holder, epoch: try row.decode("epoch"))
    }

    static func release(_ lease: RelayLease, on db: PGConnection) async throws {
        try await db.query("""
            UPDATE sagakit_relay_lease SET expires_at = '-infinity'
            WHERE name = 'outbox' AND holder = \(lease.holder) AND epoch = \(lease.epoch)
            """)
    }
}
