import Foundation
import GRDB
import LotseCore
import LotseImport
import LotseOffice
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// The cells the triggers maintain equal the cells of every case folded from scratch, after random (seeded)
/// sequences of imports, page views, hand-offs, payments of every channel, dunning runs, cancels, corrections of
/// a case's cell (QR flag, deadline) and deletions, with the statistics read at random points in between.
@Suite struct StatisticsCellsPropertyTests {
    /// The cells computed in Swift from the case rows alone (an oracle independent of the fold's SQL).
    static func fromScratch(_ store: Store) throws -> StatisticsSnapshot {
        try store.read { db in
            var ends: [String: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT deadline, end_utc FROM deadline_ends") { ends[row[0]] = row[1] }
            var snapshot = StatisticsSnapshot()
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT issued_day, qr_printed, deadline, status, paid_channel, paid_at, issued_at, first_viewed_at, view_lang,
                           handoff_at, reminded_at, amount_cents, received_cents FROM cases
                    """
            ) {
                let day: String = row[0]
                let deadline: String = row[2]
                let status: String = row[3]
                let channel: String? = row[4]
                let paidAt: Int64? = row[5]
                let issuedAt: Int64 = row[6]
                let live = status != "cancelled"
                let paid = status == "paid"
                func one(_ b: Bool) -> Int { b ? 1 : 0 }
                let key = StatisticsSnapshot.CellKey(day: day, qrPrinted: row[1], deadline: deadline)
                var counts = snapshot.cells[key] ?? Array(repeating: 0, count: 9)
                let onTime = paid && paidAt != nil && ends[deadline].map { paidAt! < $0 } == true
                let add = [
                    one(live), one(live && row[7] as Int64? != nil), one(live && row[9] as Int64? != nil), one(paid),
                    // paid online: PayPal and the city's e-payment platform (v16)
                    one(paid && (channel == "paypal" || channel == "epayment")), one(paid && channel == "bank_transfer"),
                    one(paid && channel == "cash"),
                    one(onTime), one(live && row[10] as Int64? != nil),
                ]
                counts = zip(counts, add).map { $0 + $1 }
                snapshot.cells[key] = counts
                if paid, let paidAt, let channel {
                    let bucket = StatisticsSnapshot.PayTimeKey(day: day, channel: channel, bucket: Int((paidAt - issuedAt) / 21600))
                    snapshot.payTimes[bucket, default: 0] += 1
                }
                if live, let language = row[8] as String? {
                    snapshot.languages[StatisticsSnapshot.LanguageKey(day: day, language: language), default: 0] += 1
                }
                snapshot.statuses[status, default: 0] += 1
                // money: fines, paid online, bank, cash, parts received, outstanding, handed over (cents)
                let amount: Int = row[11]
                let received: Int = row[12]
                let payable = ["open", "overdue", "reminded"].contains(status)
                let owed = max(amount - received, 0)
                let money = [
                    live ? amount : 0, paid && (channel == "paypal" || channel == "epayment") ? amount : 0,
                    paid && channel == "bank_transfer" ? amount : 0, paid && channel == "cash" ? amount : 0,
                    payable || status == "handed_over" ? received : 0, payable ? owed : 0, status == "handed_over" ? owed : 0,
                ]
                snapshot.money[day] = zip(snapshot.money[day] ?? Array(repeating: 0, count: 7), money).map { $0 + $1 }
            }
            snapshot.cells = snapshot.cells.filter { $0.value.contains { $0 != 0 } }
            snapshot.money = snapshot.money.filter { $0.value.contains { $0 != 0 } }
            return snapshot
        }
    }

    /// The entries that differ, a few of them, for a readable failure.
    static func describe(_ a: StatisticsSnapshot, against b: StatisticsSnapshot) -> String {
        let cells = Set(a.cells.keys).union(b.cells.keys).filter { a.cells[$0] != b.cells[$0] }.sorted().prefix(3)
            .map { "\($0.day) qr=\($0.qrPrinted) \($0.deadline): maintained \(a.cells[$0] ?? []) from scratch \(b.cells[$0] ?? [])" }
        let buckets = Set(a.payTimes.keys).union(b.payTimes.keys).filter { a.payTimes[$0] != b.payTimes[$0] }.prefix(3)
            .map { "pay time \($0.day) \($0.channel) \($0.bucket): \(a.payTimes[$0] ?? 0) vs \(b.payTimes[$0] ?? 0)" }
        let languages = Set(a.languages.keys).union(b.languages.keys).filter { a.languages[$0] != b.languages[$0] }.prefix(3)
            .map { "language \($0.day) \($0.language): \(a.languages[$0] ?? 0) vs \(b.languages[$0] ?? 0)" }
        let statuses = Set(a.statuses.keys).union(b.statuses.keys).filter { a.statuses[$0] != b.statuses[$0] }
            .map { "status \($0): \(a.statuses[$0] ?? 0) vs \(b.statuses[$0] ?? 0)" }
        let money = Set(a.money.keys).union(b.money.keys).filter { a.money[$0] != b.money[$0] }.sorted().prefix(3)
            .map { "money \($0): maintained \(a.money[$0] ?? []) from scratch \(b.money[$0] ?? [])" }
        return "\(a.differences(from: b)) entries differ: " + (cells + buckets + languages + statuses + money).joined(separator: "; ")
    }

    struct Scenario {
        let dir = TestSupport.tempDir("lotse-stats-cells")
        let store: Store
        let importer: Importer
        var random: SeededRandom
        var ticket = 0
        var payment = 0
        var files = 0
        var foldedChecks = 0

        init(seed: UInt64) throws {
            var config = try LotseConfig(environment: [:])
            config.dataDir = dir
            store = try Store(path: dir + "/lotse.sqlite")
            importer = Importer(store: store, config: config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath))
            random = SeededRandom(seed: seed)
        }

        /// A random existing case: id, amount, issue time.
        mutating func someCase() throws -> (id: Int64, amount: Int, issuedAt: Int64)? {
            let rows = try store.read { db in
                try Row.fetchAll(db, sql: "SELECT id, amount_cents, issued_at FROM cases").map { row -> (Int64, Int, Int64) in
                    (row[0], row[1], row[2])
                }
            }
            guard !rows.isEmpty else { return nil }
            let row = random.pick(rows)
            return (row.0, row.1, row.2)
        }

        mutating func importFile() throws {
            var lines = ["ticket_no;device_id;issued_at;plate;tbnr;street;city;qr_printed"]
            for _ in 0..<random.int(1...8) {
                // now and then a ticket imported before (a duplicate, or a new case if that one was deleted)
                var number = ticket + 1
                if ticket > 3 && random.chance(0.15) {
                    number = random.int(1...ticket)
                } else {
                    ticket += 1
                }
                let day = CivilDate(year: 2026, month: 1, day: 1).adding(days: random.int(0...300))
                let time = "\(day)T\(String(format: "%02d:%02d", random.int(6...20), random.int(0...59)))"
                if random.chance(0.15) {
                    // paid online before the export: a provisional case from what the token signs (the time now and
                    // then another day), which the export then completes
                    let signedDay = random.chance(0.7) ? day : day.adding(days: random.int(-3...3))
                    let offence = try #require(importer.catalogue.offences["141312"])
                    let signed = SignedTicket(
                        deviceID: "HH-\(number % 3)",
                        ticketNumber: UInt32(number),
                        issuedAt: BerlinTime.utc(date: signedDay, hour: 9, minute: 0),
                        amountCents: offence.amountCents,
                        offence: offence
                    )
                    let paid = random.chance(0.6)
                    payment += 1
                    let key = "property-\(payment)"
                    _ = try store.write { db in
                        let id = try ProvisionalCases.open(db, signed, prefix: "KL", paymentDays: 7, now: signed.issuedAt + 60)
                        if paid {
                            let incoming = IncomingPayment(
                                channel: .paypal,
                                amountCents: offence.amountCents,
                                paidAt: signed.issuedAt + 600,
                                source: "property test",
                                dedupKey: key
                            )
                            _ = try Ledger.record(db, incoming, caseID: id, now: signed.issuedAt + 600)
                        }
                    }
                }
                lines.append(
                    "\(number);HH-\(number % 3);\(time);KL-AB \(number % 9000 + 1);\(random.pick(["141312", "112216", "117161"]));"
                        + "Markt;Kaiserslautern;\(random.chance(0.8) ? 1 : 0)"
                )
            }
            files += 1
            let path = dir + "/shift-\(files).csv"
            TestSupport.write(path, lines.joined(separator: "\n") + "\n")
            _ = try importer.importFile(path)
        }

        mutating func step() throws {
            let choice = random.int(0...99)
            let now = Int64(Date().timeIntervalSince1970)
            switch choice {
            case 0..<15:
                try importFile()
            case 15..<35:
                // page views (some earlier than the first one seen so far) and hand-offs
                guard let c = try someCase() else { return }
                let at = c.issuedAt + Int64(random.int(60...20 * 86400))
                let kind: EventKind = random.chance(0.7) ? .pageViewed : .handoffStarted
                let detail = kind == .pageViewed ? random.pick(["lang=de", "lang=en", "lang=de", "other"]) : nil
                try store.write { db in try CaseQueries.addEvents(db, [NewEvent(caseID: c.id, kind: kind, at: at, detail: detail)]) }
            case 35..<55:
                // a payment of any channel: exact, short, too much, late, or for nobody
                guard let c = try someCase() else { return }
                payment += 1
                let amount = random.pick([c.amount, c.amount, c.amount / 2, c.amount + 500])
                let incoming = IncomingPayment(
                    channel: random.pick(PaymentChannel.allCases),
                    amountCents: amount,
                    paidAt: c.issuedAt + Int64(random.int(600...25 * 86400)),
                    source: "property test",
                    dedupKey: "property-\(payment)"
                )
                let target: Int64? = random.chance(0.1) ? nil : c.id
                _ = try store.write { db in try Ledger.record(db, incoming, caseID: target, now: now) }
            case 55..<63:
                let asOf = CivilDate(year: 2026, month: 1, day: 1).adding(days: random.int(0...330))
                files += 1
                _ = try Dunning.run(store: store, asOf: asOf, graceDays: 5, at: now, out: dir + "/reminders-\(files).csv")
            case 63..<70:
                guard let c = try someCase() else { return }
                try store.write { db in try Ledger.cancel(db, caseID: c.id, reason: "property test", at: now) }
            case 70..<76:
                // corrections that move a case to another cell, or change its fine; a hand-over
                guard let c = try someCase() else { return }
                if random.chance(0.2) {
                    try store.write { db in
                        try db.execute(sql: "UPDATE cases SET amount_cents = amount_cents + 500 WHERE id = ?", arguments: [c.id])
                    }
                } else if random.chance(0.2) {
                    try store.write { db in
                        try db.execute(
                            sql: "UPDATE cases SET status = 'handed_over' WHERE id = ? AND status IN ('overdue', 'reminded')",
                            arguments: [c.id]
                        )
                    }
                } else if random.chance(0.5) {
                    try store.write { db in try db.execute(sql: "UPDATE cases SET qr_printed = 1 - qr_printed WHERE id = ?", arguments: [c.id]) }
                } else {
                    let deadline = CivilDate(year: 2026, month: 1, day: 1).adding(days: random.int(0...330))
                    try store.write { db in
                        try Schema.noteDeadline(db, deadline)
                        try db.execute(sql: "UPDATE cases SET deadline = ? WHERE id = ?", arguments: [deadline.description, c.id])
                    }
                }
            case 76..<80:
                // a case without events or payments is deleted, often the newest (its id is given out again)
                let newest = random.chance(0.5)
                try store.write { db in
                    try db.execute(
                        sql: """
                            DELETE FROM cases WHERE id = (SELECT id FROM cases c WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.case_id = c.id)
                                AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.case_id = c.id) ORDER BY \(newest ? "id DESC" : "random()") LIMIT 1)
                            """
                    )
                }
            default:
                // the statistics are read: new cases are folded, and the cells must be right at this point too
                let maintained = try store.statisticsSnapshot()
                let truth = try StatisticsCellsPropertyTests.fromScratch(store)
                #expect(
                    maintained.differences(from: truth) == 0,
                    "after \(foldedChecks) reads: \(StatisticsCellsPropertyTests.describe(maintained, against: truth))"
                )
                foldedChecks += 1
            }
        }
    }

    @Test(arguments: [1, 2, 3, 20_261_201] as [UInt64])
    func triggersAgreeWithFoldingFromScratch(seed: UInt64) throws {
        var scenario = try Scenario(seed: seed)
        defer { try? FileManager.default.removeItem(atPath: scenario.dir) }
        for _ in 0..<400 { try scenario.step() }
        let maintained = try scenario.store.statisticsSnapshot()
        let truth = try Self.fromScratch(scenario.store)
        #expect(scenario.foldedChecks > 10)
        #expect(!truth.cells.isEmpty && !truth.payTimes.isEmpty && !truth.languages.isEmpty)
        // money of every kind was counted: collected by each channel, parts received, outstanding
        for column in 0..<6 { #expect(truth.money.values.contains { $0[column] > 0 }, "money column \(column)") }
        #expect(maintained.differences(from: truth) == 0, "\(Self.describe(maintained, against: truth))")
        // Folding every case from scratch in SQL (the rebuild) gives the same cells and finds nothing to repair.
        let rebuild = try scenario.store.rebuildStatistics()
        #expect(rebuild.repaired == 0)
        #expect(try scenario.store.statisticsSnapshot() == truth)
        // Each kind of change happened.
        let counts = try scenario.store.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT sum(status = 'paid'), sum(status = 'cancelled'), sum(reminded_at IS NOT NULL), sum(first_viewed_at IS NOT NULL),
                           sum(handoff_at IS NOT NULL), count(DISTINCT paid_channel) FROM cases
                    """
            ).map { row in (0..<6).map { row[$0] as Int } } ?? []
        }
        #expect(counts.count == 6 && counts.prefix(5).allSatisfy { $0 > 0 } && counts[5] == PaymentChannel.allCases.count, "\(counts)")
    }

    /// A trigger that was wrong would show here: a case paid after it was folded moves the paid counters.
    @Test func aCasePaidAfterTheFoldIsCountedOnce() throws {
        var scenario = try Scenario(seed: 7)
        defer { try? FileManager.default.removeItem(atPath: scenario.dir) }
        try scenario.importFile()
        _ = try scenario.store.statisticsSnapshot()
        let c = try scenario.someCase()!
        let incoming = IncomingPayment(channel: .paypal, amountCents: c.amount, paidAt: c.issuedAt + 3600, source: "test", dedupKey: "once")
        _ = try scenario.store.write { db in try Ledger.record(db, incoming, caseID: c.id) }
        let maintained = try scenario.store.statisticsSnapshot()
        #expect(maintained.cells.values.map { $0[3] }.reduce(0, +) == 1)
        #expect(maintained.cells.values.map { $0[4] }.reduce(0, +) == 1)
        #expect(maintained == (try Self.fromScratch(scenario.store)))
    }
}
