import Foundation
import GRDB
import LotseBank
import LotseCore
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// The bank side of the ledger under random histories (seeded): transfers announced in camt.054 files (with
/// or without the bank's references, booking time or day), repeated in the day's camt.053, files imported
/// again, cut short, cases cancelled in between; partial payments, overpayments, payments to paid,
/// cancelled and unknown cases, and transfers that say exactly the same. Whatever the order:
/// every case is paid at most once, and every transfer is in the ledger exactly once (paid, partial,
/// refund or unmatched), to the cent.
@Suite struct BankLedgerPropertyTests {
    /// One transfer the bank booked.
    struct Transfer {
        var index: Int
        var day: String
        var cents: Int
        var iban: String
        var reference: String?
        var text: [String]
        /// Unique per transfer, and not part of what identifies a booking: shows which transfer a payment is.
        var payer: String
        /// Carries the bank's references in every file (needed when another transfer says the same).
        var alwaysReferenced = false

        var content: String { "\(day)|\(cents)|\(iban)|\(reference ?? "")|\(text.joined())" }
    }

    /// An entry: one transfer, or a batch of several.
    struct Entry {
        var ref: String
        var transfers: [Int]
    }

    static let days = ["2026-03-18", "2026-03-19", "2026-03-20"]
    static let ibans = ["DE02120300000000202051", "DE89370400440532013000", "DE75512108001245126199"]

    static func transfers(cases: [CaseRecord], random: inout SeededRandom) -> [Transfer] {
        var list: [Transfer] = []
        let n = 30 + Int(random.next() % 20)
        for i in 0..<n {
            var t = Transfer(
                index: i,
                day: days[Int(random.next() % 3)],
                cents: 0,
                iban: ibans[Int(random.next() % 3)],
                reference: nil,
                text: [],
                payer: "Payer \(i)"
            )
            if random.chance(0.15) || cases.isEmpty {
                t.cents = 100 + Int(random.next() % 5000)
                t.text = ["Miete \(random.next() % 4)"]
            } else {
                let c = cases[Int(random.next() % UInt64(cases.count))]
                switch random.next() % 4 {
                case 0: t.cents = max(1, c.amountCents - 100 - Int(random.next() % 500))  // too little
                case 1: t.cents = c.amountCents + 1 + Int(random.next() % 2000)  // too much
                default: t.cents = c.amountCents
                }
                if random.chance(0.6) { t.reference = rf(c) } else { t.text = ["Az.", c.caseNumber] }
            }
            // Now and then the same motorist sends the very same transfer again.
            if i > 0 && random.chance(0.12) {
                let twin = list[Int(random.next() % UInt64(list.count))]
                t.day = twin.day
                t.cents = twin.cents
                t.iban = twin.iban
                t.reference = twin.reference
                t.text = twin.text
            }
            list.append(t)
        }
        // Bookings that say the same are told apart only by the bank's references (README "Bank transfers").
        let groups = Dictionary(grouping: list.indices, by: { list[$0].content })
        for (_, members) in groups where members.count > 1 {
            for m in members { list[m].alwaysReferenced = true }
        }
        return list
    }

    /// The day's entries: mostly single transfers, some batches.
    static func entries(_ transfers: [Transfer], random: inout SeededRandom) -> [String: [Entry]] {
        var byDay: [String: [Entry]] = [:]
        for day in days {
            var open = transfers.filter { $0.day == day }.map(\.index)
            var list: [Entry] = []
            while !open.isEmpty {
                let size = random.chance(0.2) ? min(open.count, 2 + Int(random.next() % 3)) : 1
                list.append(
                    Entry(
                        ref: "\(day.replacingOccurrences(of: "-", with: ""))\(String(format: "%05d", list.count + 1))",
                        transfers: Array(open.prefix(size))
                    )
                )
                open.removeFirst(size)
            }
            byDay[day] = list
        }
        return byDay
    }

    /// A camt file of `entries`; `notification` files may leave out references and give a booking time.
    static func file(_ entries: [Entry], _ transfers: [Transfer], notification: Bool, random: inout SeededRandom) -> String {
        let version = random.chance(0.5) ? "02" : "08"
        var camt = Camt(kind: (notification ? "camt.054.001." : "camt.053.001.") + version)
        for e in entries {
            let ts = e.transfers.map { transfers[$0] }
            let referenced = !notification || ts.contains(where: \.alwaysReferenced) || random.chance(0.5)
            let day = ts[0].day
            let date = notification && random.chance(0.5) ? day + "T0\(random.next() % 10):\(10 + random.next() % 50):00+01:00" : day
            let txs = ts.enumerated().map { i, t in
                Camt.Tx(
                    amount: eur(t.cents),
                    ref: t.reference,
                    text: t.text,
                    bankRef: referenced && (e.transfers.count > 1 || random.chance(0.5)) ? e.ref + "-\(i + 1)" : nil,
                    name: t.payer,
                    iban: t.iban
                )
            }
            let total = ts.reduce(0) { $0 + $1.cents }
            camt.entry(
                eur(total),
                ref: referenced ? e.ref : nil,
                date: date,
                batch: ts.count > 1 ? (ts.count, eur(total)) : nil,
                txs
            )
        }
        return camt.xml
    }

    /// Notifications: each day's entries over one to three camt.054 files; then the day's camt.053.
    static func files(_ f: BankFixture, _ transfers: [Transfer], _ entries: [String: [Entry]], random: inout SeededRandom) -> [String] {
        var files: [String] = []
        for day in days {
            let list = entries[day] ?? []
            let parts = 1 + Int(random.next() % 3)
            for p in 0..<parts {
                let mine = list.enumerated().filter { $0.offset % parts == p }.map(\.element)
                if !mine.isEmpty || random.chance(0.3) {
                    files.append(f.file("n-\(day)-\(p).xml", file(mine, transfers, notification: true, random: &random)))
                }
            }
            files.append(f.file("s-\(day).xml", file(list, transfers, notification: false, random: &random)))
        }
        return files
    }

    /// 12 seeds here; 300 passed when this was written (raise the range to hunt).
    @Test(arguments: Array(1...12) as [UInt64])
    func everyTransferIsBookedExactlyOnceAndNoCaseIsPaidTwice(seed: UInt64) throws {
        var random = SeededRandom(seed: seed * 7919)
        let f = try BankFixture()
        let cases = Array(try f.cases().prefix(12))
        let transfers = Self.transfers(cases: cases, random: &random)
        let entries = Self.entries(transfers, random: &random)

        let files = Self.files(f, transfers, entries, random: &random)
        // Any order, files again, files cut short (the import fails and changes nothing), cancels in between.
        var steps: [String] = files + (0..<files.count / 2).map { _ in files[Int(random.next() % UInt64(files.count))] }
        steps.shuffle(using: &random)
        var cancelled: Set<Int64> = []
        var history: [String] = []
        for (n, path) in steps.enumerated() {
            if random.chance(0.1) {
                let c = cases[Int(random.next() % UInt64(cases.count))]
                try f.store.write { try Ledger.cancel($0, caseID: c.id, reason: "test", at: 1_800_000_000) }
                cancelled.insert(c.id)
                history.append("cancel \(c.caseNumber)")
            }
            if random.chance(0.1) {
                let text = try String(contentsOfFile: path, encoding: .utf8)
                let cut = f.file("cut-\(n).xml", String(text.prefix(Int(random.next() % UInt64(max(text.count, 1))))))
                #expect(throws: LotseError.self) { try f.reconciler.reconcile(cut) }
                history.append("cut " + (path as NSString).lastPathComponent)
            }
            let s = try f.reconciler.reconcile(path)
            #expect(s.rejected == 0, "seed \(seed): \(s.problems)")
            history.append((path as NSString).lastPathComponent + ": " + s.line.split(separator: ":").last!)
        }
        let trail = "seed \(seed): " + history.joined(separator: "; ")

        try Self.checkLedger(f, cases: cases, transfers: transfers, cancelled: cancelled, trail: trail)
    }

    /// What the ledger holds: every payment, every case's status, the events and the bookings seen.
    static func snapshot(_ f: BankFixture) throws -> [String] {
        try f.store.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT 'payment ' || coalesce(payer, '') || ' ' || amount_cents || ' ' || disposition || ' '
                        || coalesce(case_id, '-') || ' ' || refund_cents FROM payments
                    UNION ALL SELECT 'case ' || id || ' ' || status FROM cases
                    UNION ALL SELECT 'events ' || count(*) FROM events
                    """
            ).sorted()
        }
    }

    /// `lotse reconcile` killed with SIGKILL at a random moment of reading a file (seeded), between normal reads in
    /// any order: a killed run leaves the ledger as it was or as the whole file makes it, never half a file; read
    /// again, the file books every transfer it holds exactly once.
    @Test(arguments: [101, 102, 103, 104] as [UInt64])
    func aReconcileKilledMidFileLeavesNothingHalfBooked(seed: UInt64) throws {
        var random = SeededRandom(seed: seed * 7919)
        let f = try BankFixture()
        let cases = Array(try f.cases().prefix(12))
        let transfers = Self.transfers(cases: cases, random: &random)
        let entries = Self.entries(transfers, random: &random)
        let files = Self.files(f, transfers, entries, random: &random)
        var steps: [String] = files + (0..<files.count / 2).map { _ in files[Int(random.next() % UInt64(files.count))] }
        steps.shuffle(using: &random)
        let env = ["LOTSE_DATA_DIR": f.dir, "LOTSE_PILOT_DATA": TestSupport.pilotData]
        var slowest = 0.05  // seconds a whole `lotse reconcile` took, so far
        var cancelled: Set<Int64> = []
        var history: [String] = []
        var killedBefore = 0
        var killedAfter = 0
        var signalled = 0
        for path in steps {
            let name = (path as NSString).lastPathComponent
            if random.chance(0.1) {
                let c = cases[Int(random.next() % UInt64(cases.count))]
                try f.store.write { try Ledger.cancel($0, caseID: c.id, reason: "test", at: 1_800_000_000) }
                cancelled.insert(c.id)
                history.append("cancel \(c.caseNumber)")
            }
            let before = try Self.snapshot(f)
            if random.chance(0.6) {
                let delay = slowest * (0.3 + Double(random.next() % 1000) / 1000)
                let child = try TestSupport.start(TestSupport.lotse, ["reconcile", path], env: env)
                usleep(useconds_t(delay * 1_000_000))
                kill(child.process.processIdentifier, SIGKILL)
                child.process.waitUntilExit()
                let killed = child.process.terminationReason == .uncaughtSignal
                let afterKill = try Self.snapshot(f)
                // Read to the end now: the whole file's effect.
                let full = try TestSupport.lotse(["reconcile", path], dataDir: f.dir)
                #expect(full.status == 0, "seed \(seed): \(full.stderr)")
                let whole = try Self.snapshot(f)
                #expect(afterKill == before || afterKill == whole, "seed \(seed): \(name) killed after \(delay) s is half-booked")
                if killed { signalled += 1 }
                if killed && afterKill == before && before != whole { killedBefore += 1 }
                if killed && afterKill == whole && before != whole { killedAfter += 1 }
                history.append("\(name) killed after \(Int(delay * 1000)) ms (\(killed ? "signal" : "had ended")), read again")
            } else {
                let start = Date()
                let run = try TestSupport.lotse(["reconcile", path], dataDir: f.dir)
                slowest = max(slowest, Date().timeIntervalSince(start))
                #expect(run.status == 0, "seed \(seed): \(run.stderr)")
                history.append(name)
            }
        }
        let trail = "seed \(seed): " + history.joined(separator: "; ")
        try Self.checkLedger(f, cases: cases, transfers: transfers, cancelled: cancelled, trail: trail)
        // Kills did stop runs (when this was written: 1 to 5 per seed before the commit of a file with work to do,
        // now and then one after it).
        #expect(signalled > 0, "\(trail)")
        #expect(killedBefore + killedAfter <= signalled)
    }

    /// Every transfer in the ledger exactly once (paid, partial, refund or unmatched), to the cent; every case
    /// paid at most once, a paid case with its amount exactly (the surplus to be refunded).
    static func checkLedger(_ f: BankFixture, cases: [CaseRecord], transfers: [Transfer], cancelled: Set<Int64>, trail: String) throws {
        // Every transfer exactly once, by the payer only it has, with its amount.
        let payments = try f.store.read { try PaymentRecord.fetchAll($0, sql: "SELECT payments.*, NULL AS case_number FROM payments") }
        #expect(payments.count == transfers.count, "\(trail)")
        let booked = Set(payments.map { $0.payer ?? "" })
        for t in transfers where !booked.contains(t.payer) { Issue.record("\(trail): lost \(t)") }
        #expect(payments.map { $0.payer ?? "" }.sorted() == transfers.map(\.payer).sorted(), "\(trail)")
        let amountByPayer = Dictionary(payments.map { ($0.payer ?? "", $0.amountCents) }, uniquingKeysWith: { a, _ in a })
        for t in transfers { #expect(amountByPayer[t.payer] == t.cents, "\(trail): \(t.payer)") }
        let received = transfers.reduce(0) { $0 + $1.cents }
        let kept = payments.filter { [.paid, .partial, .refund, .unmatched].contains($0.disposition) }.reduce(0) { $0 + $1.amountCents }
        #expect(kept == received, "\(trail)")

        // Every case paid at most once; a paid case got its amount exactly (the surplus is to be refunded).
        for c in cases {
            let paidEvents =
                try f.store.read {
                    try Int.fetchOne($0, sql: "SELECT count(*) FROM events WHERE case_id = ? AND kind = 'paid'", arguments: [c.id])
                } ?? 0
            #expect(paidEvents <= 1, "\(trail): \(c.caseNumber) paid \(paidEvents) times")
            let mine = payments.filter { $0.caseID == c.id }
            let status = try f.status(c)
            let paid = mine.filter { $0.disposition == .paid }
            let partial = mine.filter { $0.disposition == .partial }
            switch status {
            case .paid:
                #expect(paid.reduce(0) { $0 + $1.amountCents - $1.refundCents } == c.amountCents, "\(trail): \(c.caseNumber)")
                #expect(partial.isEmpty)
            case .cancelled:
                #expect(paid.isEmpty && partial.isEmpty, "\(trail): \(c.caseNumber)")
            default:
                #expect(paid.isEmpty, "\(trail): \(c.caseNumber)")
                #expect(partial.reduce(0) { $0 + $1.amountCents } < c.amountCents, "\(trail): \(c.caseNumber)")
            }
            for p in mine where p.disposition == .refund { #expect(p.refundCents == p.amountCents) }
            if cancelled.contains(c.id) { #expect(status == .cancelled) }
        }
        // Nothing to pay back but refunds and surpluses.
        for p in payments where p.disposition == .partial || p.disposition == .unmatched { #expect(p.refundCents == 0) }
    }
}
