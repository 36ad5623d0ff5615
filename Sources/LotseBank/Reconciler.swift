import Crypto
import Foundation
import GRDB
import LotseCore
import LotseStorage

/// What reconciling one bank file did.
public struct ReconcileSummary: Sendable, Codable, Equatable {
    public var file: String
    public var format: String = ""
    /// Transactions assigned to a case (closing it, partly paying it, or for refund).
    public var matched = 0
    public var unmatched = 0
    /// Debits, entries not booked, and anything else that is not a payment to match.
    public var ignored = 0
    public var duplicates = 0
    /// Entries refused as they stand (e.g. a batch whose parts do not add up); kept for the office.
    public var rejected = 0
    public var paid = 0
    public var partial = 0
    public var refunds = 0
    public var problems: [String] = []

    public init(file: String) { self.file = file }

    /// The summary line (like the import's).
    public var line: String { "\(file): matched \(matched), unmatched \(unmatched), ignored \(ignored), duplicates \(duplicates)" }

    /// What the office should look at, if anything.
    public var details: String? {
        var parts: [String] = []
        if partial > 0 { parts.append("\(partial) too small (case left open)") }
        if refunds > 0 { parts.append("\(refunds) to refund") }
        if rejected > 0 { parts.append("\(rejected) entr\(rejected == 1 ? "y" : "ies") rejected") }
        return parts.isEmpty ? nil : "\(file): " + parts.joined(separator: ", ") + "; see `lotse payments list`"
    }

    enum CodingKeys: String, CodingKey {
        case file, format, matched, unmatched, ignored, duplicates, rejected, paid, partial, refunds, problems
    }
}

/// Reconciles camt.054/camt.053 files against the cases (formats §4): booked credits only, batches split,
/// RF reference first, then a case number or RF in the free text; one transaction per file.
public struct Reconciler: Sendable {
    public let store: Store

    public init(store: Store) { self.store = store }

    public func reconcile(_ path: String, displayName: String? = nil,
                          now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> ReconcileSummary {
        let name = displayName ?? path
        var summary = ReconcileSummary(file: name)
        do {
            try store.pool.writeWithoutTransaction { db in
                // A big file touches many pages of the case index: keep them in memory rather than re-reading them.
                try db.execute(sql: "PRAGMA cache_size = -98304")
                defer { try? db.execute(sql: "PRAGMA cache_size = -2000") }
                try db.inTransaction(.immediate) {
                    let matcher = try Matcher(db: db)
                    // The XML is parsed on a second thread while this one matches and writes.
                    let queue = BoundedQueue<Parsed>(capacity: 8)
                    let finished = DispatchSemaphore(value: 0)
                    let thread = Thread {
                        defer { queue.close(); finished.signal() }
                        var batch: [CamtEntry] = []
                        let parser = CamtParser(path: path) { entry in
                            batch.append(entry)
                            if batch.count >= 256 {
                                guard queue.put(.entries(batch)) else { throw CancellationError() }
                                batch.removeAll(keepingCapacity: true)
                            }
                        }
                        do {
                            try parser.run()
                            if !batch.isEmpty { _ = queue.put(.entries(batch)) }
                            _ = queue.put(.done(parser.kind))
                        } catch {
                            _ = queue.put(.failed(error))
                        }
                    }
                    thread.stackSize = 4 << 20
                    thread.start()
                    defer { queue.close(); finished.wait() }
                    var complete = false
                    while let item = queue.take() {
                        switch item {
                        case .entries(let entries):
                            for e in entries { try self.handle(e, db: db, matcher: matcher, file: name, now: now, summary: &summary) }
                        case .done(let kind):
                            summary.format = kind?.rawValue ?? ""
                            complete = true
                        case .failed(let error):
                            throw error
                        }
                    }
                    guard complete else { throw LotseError.io("\(name): reading stopped early") }
                    return .commit
                }
            }
        } catch let e as DatabaseError {
            throw store.failure(e, file: name)
        }
        return summary
    }

    private func handle(_ e: CamtEntry, db: Database, matcher: Matcher, file: String, now: Int64,
                        summary: inout ReconcileSummary) throws {
        let txCount = max(e.transactions.count, 1)
        guard e.creditDebit == "CRDT", e.status == "BOOK" else { summary.ignored += txCount; return }
        guard let amount = e.amountCents, amount > 0 else {
            summary.rejected += 1
            summary.problems.append("\(file):\(e.line): entry amount '\(e.amountText)' is not a valid amount")
            return
        }
        let paidAt = Self.bookingTime(e.bookingDate) ?? now
        let entryKey = "camt:" + (e.bankRef.map { $0 + "|" + String(amount) } ?? Self.contentKey(e))
        if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM bank_entries WHERE key = ?"), arguments: [entryKey]) ?? false {
            summary.duplicates += txCount
            return
        }
        try db.cachedStatement(sql: "INSERT INTO bank_entries (key, file_name, imported_at) VALUES (?, ?, ?)")
            .execute(arguments: [entryKey, file, now])

        func base(_ t: CamtTransaction?, amount: Int, key: String) -> IncomingPayment {
            var text = t?.unstructured.joined(separator: " ") ?? ""
            if let s = t?.structuredRef { text = s + (text.isEmpty ? "" : " | " + text) }
            return IncomingPayment(channel: .bankTransfer, amountCents: amount, currency: e.currency ?? "EUR",
                                   paidAt: paidAt, source: file, dedupKey: key,
                                   externalID: t?.bankRef ?? e.bankRef, payer: t?.debtorName,
                                   reference: text.isEmpty ? nil : String(text.prefix(500)))
        }

        // A batch: the parts must add up to the entry.
        let txs = e.transactions
        if txs.count > 1 || (e.batchCount ?? 0) > 1 {
            let amounts = txs.map { $0.amountCents ?? -1 }
            let sum = amounts.reduce(0, +)
            var reason: String?
            if txs.isEmpty {
                reason = "batch of \(e.batchCount ?? 0) transactions is not itemised"
            } else if amounts.contains(where: { $0 <= 0 }) {
                reason = "a transaction of the batch has no valid amount"
            } else if sum != amount {
                reason = "batch transactions sum to \(Money.plain(sum)) but the entry is \(Money.plain(amount))"
            } else if let n = e.batchCount, n != txs.count {
                reason = "batch says \(n) transactions but lists \(txs.count)"
            }
            if let reason {
                var p = base(nil, amount: amount, key: entryKey)
                p.note = reason
                _ = try Ledger.record(db, p, caseID: nil, rejected: true, now: now)
                summary.rejected += 1
                summary.problems.append("\(file):\(e.line): entry rejected: \(reason)")
                return
            }
        }
        let parts: [(CamtTransaction?, Int)] = txs.isEmpty ? [(nil, amount)]
            : txs.count == 1 ? [(txs[0], txs[0].amountCents.flatMap { $0 > 0 ? $0 : nil } ?? amount)]
            : txs.map { ($0, $0.amountCents!) }
        for (i, (t, a)) in parts.enumerated() {
            if let t, let d = t.creditDebit, d != "CRDT" { summary.ignored += 1; continue }
            let key: String
            if let r = t?.bankRef, !r.isEmpty, r != "NONREF" {
                key = "camt-tx:" + r + "|" + String(a)
            } else if let id = t?.endToEndID, !id.isEmpty, id != "NOTPROVIDED" {
                key = "camt-e2e:" + id + "|" + (t?.debtorIBAN ?? "") + "|" + String(a)
            } else {
                key = entryKey + "#" + String(i)
            }
            var p = base(t, amount: a, key: key)
            let (caseID, lookedFor) = try matcher.match(t)
            if caseID == nil { p.note = lookedFor }
            switch try Ledger.record(db, p, caseID: caseID, now: now) {
            case .duplicate: summary.duplicates += 1
            case .recorded(_, let d):
                switch d {
                case .unmatched: summary.unmatched += 1
                case .rejected: summary.rejected += 1
                case .paid: summary.matched += 1; summary.paid += 1
                case .partial: summary.matched += 1; summary.partial += 1
                case .refund: summary.matched += 1; summary.refunds += 1
                }
            }
        }
    }

    /// Booking date (`yyyy-mm-dd`, or a date-time) to UTC seconds; a plain date counts as noon in Berlin.
    static func bookingTime(_ s: String?) -> Int64? {
        guard let s else { return nil }
        if s.count == 10, let d = CivilDate(iso: s), d.isValid { return BerlinTime.utc(date: d, hour: 12, minute: 0) }
        return TimeParser.parse(s)
    }

    /// An entry without a bank reference is identified by what it says.
    static func contentKey(_ e: CamtEntry) -> String {
        var s = "\(e.bookingDate ?? "")|\(e.amountCents ?? 0)|\(e.currency ?? "")"
        for t in e.transactions {
            s += "|\(t.amountCents ?? 0)|\(t.endToEndID ?? "")|\(t.debtorIBAN ?? "")|\(t.structuredRef ?? "")|\(t.unstructured.joined(separator: " "))"
        }
        return "sha256:" + SHA256.hash(data: Data(s.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// What the parsing thread hands over.
enum Parsed: @unchecked Sendable {
    case entries([CamtEntry])
    case done(CamtKind?)
    case failed(Error)
}

/// Finds the case a transfer is for: a valid structured RF reference first; else a case number
/// (or the RF built from it) in the free text, with spaces, separators and case ignored.
struct Matcher {
    let db: Database
    /// Known case-number prefixes, upper case, longest first.
    let prefixes: [[UInt8]]

    init(db: Database) throws {
        self.db = db
        prefixes = try CaseQueries.prefixes(db).map { Array($0.uppercased().utf8) }.sorted { $0.count > $1.count }
    }

    func match(_ t: CamtTransaction?) throws -> (Int64?, String) {
        guard let t else { return (nil, "no transaction details: no reference to look for") }
        var looked: [String] = []
        if let ref = t.structuredRef, !ref.isEmpty {
            if let body = RFReference.body(ref) {
                if let id = try CaseQueries.idByCompact(db, body) { return (id, "") }
                looked.append("structured reference \(ref): no such case")
            } else {
                looked.append("structured reference '\(ref)' is not a valid RF reference")
            }
        }
        var texts = t.unstructured
        if let ref = t.structuredRef { texts.insert(ref, at: 0) }
        let compact = Array(CaseNumber.compact(texts.joined(separator: " ")).utf8)
        var candidates: [String] = []
        for p in prefixes where compact.count >= p.count + 11 {
            var i = 0
            while i + p.count + 11 <= compact.count {
                if compact[i] == p[0] && compact[i..<i + p.count].elementsEqual(p) {
                    let digits = compact[(i + p.count)..<(i + p.count + 11)]
                    if digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
                        let c = String(decoding: compact[i..<(i + p.count + 11)], as: UTF8.self)
                        if !candidates.contains(c) { candidates.append(c) }
                    }
                }
                i += 1
            }
        }
        for c in candidates {
            if let id = try CaseQueries.idByCompact(db, c) { return (id, "") }
        }
        if !t.unstructured.isEmpty {
            let shown = t.unstructured.joined(separator: " ")
            looked.append(candidates.isEmpty
                ? "no case number in the text '\(shown.prefix(140))'"
                : "case number\(candidates.count > 1 ? "s" : "") \(candidates.joined(separator: ", ")) in the text: no such case")
        }
        if looked.isEmpty { looked.append("no reference and no text") }
        return (nil, looked.joined(separator: "; "))
    }
}
