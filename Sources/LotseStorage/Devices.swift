import GRDB
import LotseCore

/// One enrolment of a handheld (formats §2b): its number, the generation of its key, and whether it was revoked.
public struct DeviceRecord: Sendable, Equatable {
    /// The id the handheld writes into its exports (`device_id`), as enrolled.
    public var deviceID: String
    public var number: Int
    public var generation: Int
    /// The signing key of `keys.json` its device key is derived from.
    public var keyID: Int
    public var enrolledAt: Int64
    public var revokedAt: Int64?

    init(row: Row) {
        deviceID = row["device_id"]
        number = row["number"]
        generation = row["generation"]
        keyID = row["key_id"]
        enrolledAt = row["enrolled_at"]
        revokedAt = row["revoked_at"]
    }
}

/// What a genuine ticket token leads to: the enrolment it was signed under (nil: not enrolled here) and the
/// imported case of its ticket, if the export has arrived.
public struct TicketLookup: Sendable, Equatable {
    public var device: DeviceRecord?
    public var caseID: Int64?
}

enum Devices {
    /// Frozen SQL. A case is found by its device and the decimal value of its ticket number (`0004711` is 4711).
    static func migrateV12(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE devices (
                    number INTEGER NOT NULL CHECK (number BETWEEN 1 AND 65535),
                    generation INTEGER NOT NULL CHECK (generation BETWEEN 1 AND 255),
                    device_id TEXT NOT NULL,
                    key_id INTEGER NOT NULL,
                    enrolled_at INTEGER NOT NULL,
                    revoked_at INTEGER,
                    PRIMARY KEY (number, generation)
                ) WITHOUT ROWID;
                CREATE UNIQUE INDEX devices_enrolment ON devices (device_id, generation);
                CREATE INDEX cases_device_ticket ON cases (device_id, CAST(ticket_no AS INTEGER));
                """
        )
    }

    static let columns = "device_id, number, generation, key_id, enrolled_at, revoked_at"

    /// The imported case of a ticket: `device_id` as enrolled, and a ticket number of digits only with the same value.
    static func caseID(_ db: Database, ticket: TicketReference) throws -> Int64? {
        try Int64.fetchOne(
            db,
            sql: """
                SELECT id FROM cases WHERE device_id = ? AND CAST(ticket_no AS INTEGER) = ?
                    AND ticket_no NOT GLOB '*[^0-9]*' ORDER BY status = 'cancelled', id LIMIT 1
                """,
            arguments: [ticket.deviceID, Int64(ticket.number)]
        )
    }

    static func latest(_ db: Database, deviceID: String) throws -> DeviceRecord? {
        try Row.fetchOne(
            db,
            sql: "SELECT \(columns) FROM devices WHERE device_id = ? ORDER BY generation DESC LIMIT 1",
            arguments: [deviceID]
        ).map(DeviceRecord.init(row:))
    }
}

extension Store {
    /// Enrols a handheld: a new device gets the next number with generation 1; a revoked one keeps its number and
    /// gets the next generation. An enrolled device that is not revoked is an error (revoke it first).
    public func enrollDevice(id deviceID: String, keyID: Int, now: Int64) throws -> DeviceRecord {
        try write { db in
            var number: Int
            var generation = 1
            if let latest = try Devices.latest(db, deviceID: deviceID) {
                guard latest.revokedAt != nil else {
                    throw LotseError.input("device \(deviceID) is enrolled (generation \(latest.generation)); revoke it first to give it a new key")
                }
                guard latest.generation < 255 else { throw LotseError.input("device \(deviceID) has used all 255 generations") }
                number = latest.number
                generation = latest.generation + 1
            } else {
                number = (try Int.fetchOne(db, sql: "SELECT max(number) FROM devices") ?? 0) + 1
                guard number <= 65535 else { throw LotseError.input("65535 devices are enrolled: no number is left") }
            }
            try db.execute(
                sql: "INSERT INTO devices (device_id, number, generation, key_id, enrolled_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [deviceID, number, generation, keyID, now]
            )
            return try Devices.latest(db, deviceID: deviceID)!
        }
    }

    /// Revokes the device's current generation: its tokens with a time after `now` are refused from then on.
    public func revokeDevice(id deviceID: String, now: Int64) throws -> DeviceRecord {
        try write { db in
            guard let latest = try Devices.latest(db, deviceID: deviceID) else { throw LotseError.input("device \(deviceID) is not enrolled") }
            guard latest.revokedAt == nil else { throw LotseError.input("device \(deviceID) generation \(latest.generation) is revoked already") }
            try db.execute(
                sql: "UPDATE devices SET revoked_at = ? WHERE number = ? AND generation = ?",
                arguments: [now, latest.number, latest.generation]
            )
            return try Devices.latest(db, deviceID: deviceID)!
        }
    }

    /// The device's current enrolment if it is not revoked (the device API's sender).
    public func activeDevice(id deviceID: String) async throws -> DeviceRecord? {
        try await readAsync { db in
            guard let latest = try Devices.latest(db, deviceID: deviceID), latest.revokedAt == nil else { return nil }
            return latest
        }
    }

    /// Every enrolment, by number and generation.
    public func devices() throws -> [DeviceRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT \(Devices.columns) FROM devices ORDER BY number, generation").map(DeviceRecord.init(row:))
        }
    }

    /// The enrolment a ticket token was signed under and the imported case of its ticket (one read, on GRDB's
    /// threads): the case whose `device_id` is the enrolled id and whose ticket number, all digits, has the value
    /// `ticketNumber`.
    public func ticket(deviceNumber: Int, generation: Int, ticketNumber: UInt32) async throws -> TicketLookup {
        try await readAsync { db in
            guard
                let device = try Row.fetchOne(
                    db,
                    sql: "SELECT \(Devices.columns) FROM devices WHERE number = ? AND generation = ?",
                    arguments: [deviceNumber, generation]
                ).map(DeviceRecord.init(row:))
            else { return TicketLookup(device: nil, caseID: nil) }
            let caseID = try Devices.caseID(db, ticket: TicketReference(deviceID: device.deviceID, number: ticketNumber))
            return TicketLookup(device: device, caseID: caseID)
        }
    }
}

/// A ticket named by a payment's reference: the enrolled device id and the ticket number's value.
public struct TicketReference: Sendable, Equatable {
    public var deviceID: String
    public var number: UInt32

    public init(deviceID: String, number: UInt32) {
        self.deviceID = deviceID
        self.number = number
    }
}

extension Devices {
    /// Payments that wait for their ticket: unmatched, with `ticket_device`/`ticket_number` (migration v13). When
    /// an import brings the ticket, `applyWaitingPayments` applies them to its case.
    static func migrateV13(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE payments ADD COLUMN ticket_device TEXT;
                ALTER TABLE payments ADD COLUMN ticket_number INTEGER;
                CREATE INDEX payments_waiting_for_ticket ON payments (ticket_device, ticket_number)
                    WHERE ticket_device IS NOT NULL AND disposition = 'unmatched';
                """
        )
    }

    /// Applies every payment that waits for a ticket now imported to that ticket's case (inside the import's
    /// transaction; nothing to do, one lookup in an empty index, when no payment waits). Returns how many.
    static func applyWaitingPayments(_ db: Database) throws -> Int {
        let pairs = try Row.fetchAll(
            db,
            sql: """
                SELECT p.id, c.id FROM payments p
                JOIN cases c ON c.device_id = p.ticket_device AND CAST(c.ticket_no AS INTEGER) = p.ticket_number
                    AND c.ticket_no NOT GLOB '*[^0-9]*'
                WHERE p.ticket_device IS NOT NULL AND p.disposition = 'unmatched'
                ORDER BY p.id
                """
        )
        for pair in pairs {
            try db.execute(sql: "UPDATE payments SET note = 'paid before its ticket was imported' WHERE id = ?", arguments: [pair[0] as Int64])
            try Ledger.apply(db, paymentID: pair[0], caseID: pair[1])
        }
        return pairs.count
    }
}

extension Store {
    /// Payments that waited longer than `pendingDays` for a ticket that was never imported go to the refund list
    /// (the daily dunning run does this). Returns how many.
    public func refundPaymentsWaitingSince(before cutoff: Int64, pendingDays: Int) throws -> Int {
        try write { db in
            try db.execute(
                sql: """
                    UPDATE payments SET disposition = 'refund', refund_cents = amount_cents,
                        note = 'its ticket was not imported within ' || ? || ' days'
                    WHERE ticket_device IS NOT NULL AND disposition = 'unmatched' AND paid_at < ?
                    """,
                arguments: [pendingDays, cutoff]
            )
            return db.changesCount
        }
    }
}
