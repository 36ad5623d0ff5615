import Crypto
import Foundation
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

    public func reconcile(
        _ path: String,
        displayName: String? = nil,
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) throws -> ReconcileSummary {
        let name = displayName ?? path
        var summary = ReconcileSummary(file: name)
        try store.bankTransaction(file: name) { transaction in
            let matcher = try Matcher(transaction: transaction)
            var seen = SeenInFile()
            // The XML is parsed on a second thread while this one matches and writes.
            let queue = BoundedQueue<Parsed>(capacity: 8)
            let finished = DispatchSemaphore(value: 0)
            let thread = Thread {
                defer {
                    queue.close()
                    finished.signal()
                }
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
            defer {
                queue.close()
                finished.wait()
            }
            var complete = false
            while let item = queue.take() {
                switch item {
                case .entries(let entries):
                    for e in entries {
                        try self.handle(e, transaction: transaction, matcher: matcher, file: name, now: now, summary: &summary, seen: &seen)
                    }
                case .done(let kind):
                    summary.format = kind?.rawValue ?? ""
                    complete = true
                case .failed(let error):
                    throw error
                }
            }
            guard complete else { throw LotseError.io("\(name): reading stopped early") }
            if seen.weakDuplicates > 0 {
                summary.problems.append(
                    "\(name): \(seen.weakDuplicates) transaction\(seen.weakDuplicates == 1 ? "" : "s") without a bank "
                        + "reference to tell \(seen.weakDuplicates == 1 ? "it" : "them") apart taken for a booking already read "
                        + "(same day, amount, payer account and reference)"
                )
            }
        }
        return summary
    }

    /// The largest amount one transfer may have (1,000,000.00 EUR); anything above is refused, so no sum of
    /// a file's amounts can overflow.
    public static let ceilingCents = 100_000_000

    private func handle(
        _ e: CamtEntry,
        transaction: BankTransaction,
        matcher: Matcher,
        file: String,
        now: Int64,
        summary: inout ReconcileSummary,
        seen: inout SeenInFile
    ) throws {
        let txCount = max(e.transactions.count, 1)
        guard e.creditDebit == "CRDT", e.status == "BOOK" else {
            summary.ignored += txCount
            return
        }
        guard let amount = e.amountCents, amount > 0 else {
            summary.rejected += 1
            summary.problems.append("\(file):\(e.line): entry amount '\(e.amountText.prefix(40))' is not a valid amount")
            return
        }
        let paidAt = Self.bookingTime(e.bookingDate) ?? now
        let entryRef = Self.usable(e.bankRef, none: "NONREF")
        let entryKey = entryRef.map { "camt:" + $0 + "|" + String(amount) }
        // A batch known by its entry is a duplicate as a whole (a camt.053 may list it without its parts);
        // an entry of one transaction is looked up with that transaction (its identity has the entry's key).
        let batch = e.transactions.count > 1
        if batch, let entryKey, try transaction.isKnown(key: entryKey) {
            summary.duplicates += txCount
            return
        }
        // An entry without a reference read before content rows were kept.
        if entryKey == nil, try transaction.isKnown(key: "camt:" + Self.legacyContentKey(e)) {
            summary.duplicates += txCount
            return
        }
        try handleCredit(
            e,
            amount: amount,
            entryRef: entryRef,
            entryKey: entryKey,
            paidAt: paidAt,
            transaction: transaction,
            matcher: matcher,
            file: file,
            now: now,
            summary: &summary,
            seen: &seen
        )
        if batch, let entryKey { try transaction.add(key: entryKey, file: file, now: now) }
    }

    /// A booked credit not known as a whole: refused with its reason, or split into its transactions, each
    /// booked unless known.
    private func handleCredit(
        _ e: CamtEntry,
        amount: Int,
        entryRef: String?,
        entryKey: String?,
        paidAt: Int64,
        transaction: BankTransaction,
        matcher: Matcher,
        file: String,
        now: Int64,
        summary: inout ReconcileSummary,
        seen: inout SeenInFile
    ) throws {
        func base(_ t: CamtTransaction?, amount: Int, key: String) -> IncomingPayment {
            var text = t?.unstructured.joined(separator: " ") ?? ""
            if let s = t?.structuredRef { text = s + (text.isEmpty ? "" : " | " + text) }
            return IncomingPayment(
                channel: .bankTransfer,
                amountCents: amount,
                currency: e.currency ?? "EUR",
                paidAt: paidAt,
                source: file,
                dedupKey: key,
                externalID: t?.bankRef ?? e.bankRef,
                payer: t?.debtorName,
                reference: text.isEmpty ? nil : String(text.prefix(500))
            )
        }

        if let reason = Self.refusal(e, amount: amount) {
            let identity = BookingIdentity(entry: e, amount: amount, entryRef: entryRef, entryKey: entryKey)
            switch try identity.claim(transaction, file: file, now: now, seen: &seen) {
            case .duplicate(let weak):
                summary.duplicates += 1
                if weak { seen.weakDuplicates += 1 }
            case .new(let key):
                var p = base(nil, amount: amount, key: key)
                p.note = reason
                if try transaction.recordPayment(p, caseID: nil, rejected: true, now: now) == .duplicate {
                    summary.duplicates += 1
                    return
                }
                summary.rejected += 1
                summary.problems.append("\(file):\(e.line): entry rejected: \(reason)")
            }
            return
        }
        let txs = e.transactions
        let parts: [(CamtTransaction?, Int)] =
            txs.isEmpty
            ? [(nil, amount)]
            : txs.count == 1
                ? [(txs[0], txs[0].amountCents ?? amount)]
                : txs.map { ($0, $0.amountCents!) }
        for (t, a) in parts {
            let identity = BookingIdentity(
                entry: e,
                transaction: t,
                amount: a,
                entryRef: entryRef,
                entryKey: parts.count == 1 ? entryKey : nil
            )
            let key: String
            switch try identity.claim(transaction, file: file, now: now, seen: &seen) {
            case .duplicate(let weak):
                summary.duplicates += 1
                if weak { seen.weakDuplicates += 1 }
                continue
            case .new(let k):
                key = k
            }
            var p = base(t, amount: a, key: key)
            let match = try matcher.match(t)
            if match.caseID == nil {
                p.note = match.lookedFor
                p.ticket = match.waitsFor
            }
            switch try transaction.recordPayment(p, caseID: match.caseID, now: now) {
            case .duplicate: summary.duplicates += 1
            case .recorded(_, let d):
                switch d {
                case .unmatched: summary.unmatched += 1
                case .rejected: summary.rejected += 1
                case .paid:
                    summary.matched += 1
                    summary.paid += 1
                case .partial:
                    summary.matched += 1
                    summary.partial += 1
                case .refund:
                    summary.matched += 1
                    summary.refunds += 1
                }
            }
        }
    }

    /// Why a booked credit cannot be taken as it stands, if it cannot: every transaction amount must be
    /// covered by the entry (one transaction: equal; a batch: the sum equal), in the entry's currency, none
    /// above the ceiling; the batch's own count and total must agree.
    static func refusal(_ e: CamtEntry, amount: Int) -> String? {
        let txs = e.transactions
        let ceiling = "the ceiling of \(Money.plain(ceilingCents)) EUR per transfer"
        if txs.count <= 1 && amount > ceilingCents {
            return "entry amount \(Money.plain(amount)) EUR is above \(ceiling)"
        }
        if txs.isEmpty {
            if let n = e.batchCount, n > 1 { return "batch of \(n) transactions is not itemised" }
            if let n = e.batchCount, n != 1 { return "batch count '\(n)' is not valid" }
        } else if let n = e.batchCount, n != txs.count {
            return "batch says \(n) transactions but lists \(txs.count)"
        }
        if let total = e.batchTotalCents, total != amount {
            return total < 0
                ? "batch total is not a valid amount"
                : "batch total is \(Money.plain(total)) but the entry is \(Money.plain(amount))"
        }
        var sum = 0
        for t in txs {
            if let d = t.creditDebit, d != "CRDT" { return "a transaction of the credit entry is marked \(d.prefix(10))" }
            if let c = t.currency, let ec = e.currency, c != ec { return "a transaction is in \(c.prefix(10)) but the entry in \(ec.prefix(10))" }
            guard let a = t.amountCents ?? (txs.count == 1 ? amount : nil), a > 0 else {
                return txs.count == 1 ? "the transaction has no valid amount" : "a transaction of the batch has no valid amount"
            }
            if a > ceilingCents { return "a transaction of \(Money.plain(a)) EUR is above \(ceiling)" }
            let (s, overflow) = sum.addingReportingOverflow(a)
            if overflow { return "the transactions add up to more than can be counted" }
            sum = s
        }
        if txs.count == 1 && sum != amount {
            return "the transaction is \(Money.plain(sum)) but the entry is \(Money.plain(amount))"
        }
        if txs.count > 1 && sum != amount {
            return "batch transactions sum to \(Money.plain(sum)) but the entry is \(Money.plain(amount))"
        }
        return nil
    }

    /// A bank's identifier, or nil when it is missing or the placeholder for none.
    static func usable(_ value: String?, none: String) -> String? {
        guard let value, !value.isEmpty, value != none else { return nil }
        return value
    }

    /// Booking date (`yyyy-mm-dd`, or a date-time) to UTC seconds; a plain date counts as noon in Berlin.
    static func bookingTime(_ s: String?) -> Int64? {
        guard let s else { return nil }
        if s.count == 10, let d = CivilDate(iso: s), d.isValid { return BerlinTime.utc(date: d, hour: 12, minute: 0) }
        return TimeParser.parse(s)
    }
}

extension Reconciler {
    /// How an entry without a bank reference was known before content rows (`BookingIdentity`): still looked
    /// up, so a file read by an older Lotse is not booked again; no longer written.
    static func legacyContentKey(_ e: CamtEntry) -> String {
        var s = "\(e.bookingDate ?? "")|\(e.amountCents ?? 0)|\(e.currency ?? "")"
        for t in e.transactions {
            s +=
                "|\(t.amountCents ?? 0)|\(t.endToEndID ?? "")|\(t.debtorIBAN ?? "")|\(t.structuredRef ?? "")|\(t.unstructured.joined(separator: " "))"
        }
        // The same text as before (64 hex digits), without a String(format:) per byte.
        return "sha256:" + BookingIdentity.hex(SHA256.hash(data: Data(s.utf8)), bytes: 32)
    }
}

/// What the parsing thread hands over.
enum Parsed: Sendable {
    case entries([CamtEntry])
    case done(CamtKind?)
    case failed(Error)
}

/// Finds the case a transfer is for: a valid structured RF reference first; else a case number
/// (or the RF built from it) in the free text, with spaces, separators and case ignored.
struct Matcher {
    /// What a transfer was matched to.
    struct Match {
        var caseID: Int64?
        /// Why no case was found (the payment's note), empty when one was.
        var lookedFor: String
        /// A ticket of an enrolled handheld that has not been imported yet: the payment waits for it.
        var waitsFor: TicketReference?
    }

    let transaction: BankTransaction
    /// Known case-number prefixes, upper case, longest first.
    let prefixes: [[UInt8]]
    /// Enrolled handhelds: device id, and its letters and digits upper case, longest first (ticket references).
    let devices: [(deviceID: String, compact: [UInt8])]

    init(transaction: BankTransaction) throws {
        self.transaction = transaction
        prefixes = try transaction.caseNumberPrefixes().map { Array($0.uppercased().utf8) }.sorted { $0.count > $1.count }
        devices = try transaction.enrolledDevices().map { ($0.deviceID, Array($0.compact.uppercased().utf8)) }
            .sorted { $0.compact.count > $1.compact.count }
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// The ticket a reference's letters and digits name, from `start`: an enrolled device's id, then 1 to 10 digits
    /// (a value that fits 32 bits); `whole`: nothing may follow.
    func ticket(in compact: [UInt8], at start: Int, whole: Bool) -> TicketReference? {
        for device in devices where start + device.compact.count < compact.count {
            guard compact[start..<(start + device.compact.count)].elementsEqual(device.compact) else { continue }
            var end = start + device.compact.count
            while end < compact.count && Self.isDigit(compact[end]) { end += 1 }
            let digits = compact[(start + device.compact.count)..<end]
            guard (1...10).contains(digits.count), !whole || end == compact.count,
                let number = UInt32(String(decoding: digits, as: UTF8.self))
            else { continue }
            return TicketReference(deviceID: device.deviceID, number: number)
        }
        return nil
    }

    /// The first ticket the free text names by word: a word that is an enrolled device's id followed by the
    /// digits of the number ("HH-07-0004711"), or the device's id and the number as the next word ("HH-07 0004711").
    func ticketInText(_ lines: [String]) -> TicketReference? {
        let words = lines.joined(separator: " ").split(whereSeparator: { $0 == " " || $0 == "," || $0 == ";" })
            .map { Array(CaseNumber.compact(String($0)).uppercased().utf8) }
        for (index, word) in words.enumerated() where !word.isEmpty {
            if let found = ticket(in: word, at: 0, whole: true) { return found }
            if index + 1 < words.count, devices.contains(where: { $0.compact == word }),
                let found = ticket(in: word + words[index + 1], at: 0, whole: true)
            {
                return found
            }
        }
        return nil
    }

    func match(_ t: CamtTransaction?) throws -> Match {
        guard let t else { return Match(lookedFor: "no transaction details: no reference to look for") }
        var looked: [String] = []
        var waiting: TicketReference?
        if let ref = t.structuredRef, !ref.isEmpty {
            if let body = RFReference.body(ref) {
                if let id = try transaction.caseID(compact: body) { return Match(caseID: id, lookedFor: "") }
                if let ticket = ticket(in: Array(body.uppercased().utf8), at: 0, whole: true) {
                    if let id = try transaction.caseID(ticket: ticket) { return Match(caseID: id, lookedFor: "") }
                    waiting = ticket
                } else {
                    looked.append("structured reference \(ref): no such case")
                }
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
                    if digits.allSatisfy(Self.isDigit) {
                        let c = String(decoding: compact[i..<(i + p.count + 11)], as: UTF8.self)
                        if !candidates.contains(c) { candidates.append(c) }
                    }
                }
                i += 1
            }
        }
        for c in candidates {
            if let id = try transaction.caseID(compact: c) { return Match(caseID: id, lookedFor: "") }
        }
        // a ticket number with its device's id in the text ("HH-07 0004711", "HH07/4711"), imported or not yet
        if waiting == nil && !devices.isEmpty && candidates.isEmpty, let found = ticketInText(t.unstructured) {
            if let id = try transaction.caseID(ticket: found) { return Match(caseID: id, lookedFor: "") }
            waiting = found
        }
        if let waiting {
            return Match(
                lookedFor: "ticket \(waiting.number) of \(waiting.deviceID) is not imported yet: the payment waits for it",
                waitsFor: waiting
            )
        }
        if !t.unstructured.isEmpty {
            let shown = t.unstructured.joined(separator: " ")
            looked.append(
                candidates.isEmpty
                    ? "no case number in the text '\(shown.prefix(140))'"
                    : "case number\(candidates.count > 1 ? "s" : "") \(candidates.joined(separator: ", ")) in the text: no such case"
            )
        }
        if looked.isEmpty { looked.append("no reference and no text") }
        return Match(lookedFor: looked.joined(separator: "; "))
    }
}
