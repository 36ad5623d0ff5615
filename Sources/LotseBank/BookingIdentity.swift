import Crypto
import Foundation
import LotseCore
import LotseStorage

/// What one file has already claimed: a booking seen twice in one file is two bookings.
struct SeenInFile {
    /// Content rows matched or made by this file.
    var used: Set<String> = []
    /// Transactions taken for a booking already read by what they say alone (no bank id to go by).
    var weakDuplicates = 0
}

/// How a booking (a transaction, or a rejected entry) is known when it comes again: in the camt.053 after
/// its camt.054, in the same file imported twice, with or without the bank's references.
///
/// - Bank ids: the entry's `AcctSvcrRef` (for an entry of one transaction), the transaction's `AcctSvcrRef`,
///   its `EndToEndId`, each with the amount. One of them known: the same booking. (A bank is taken to give
///   one booking the same references in its camt.054 and camt.053, where it gives them in both.)
/// - Content: booking day (Berlin), amount, currency, payer IBAN and the reference (structured and free
///   text, letters and digits only). Each booking leaves one content row in `bank_entries` with the
///   (hashed) bank ids it had, its entry's reference among them; a booking with the same content is the
///   same booking unless both carry a bank id of the same kind that differs. One file never matches two
///   of its bookings to one row.
struct BookingIdentity {
    /// The keys a bank id gives: the entry's (an entry of one transaction), the transaction's reference,
    /// its end-to-end id.
    var keys: [String] = []
    /// The bank ids, hashed, by kind: "e" the entry's reference (for every transaction of the entry), "t" the
    /// transaction's reference, "x" its end-to-end id. Two bookings with a different id of one kind are two.
    var marks: [String: String] = [:]
    /// The hash of what the booking says.
    var content: String

    /// A transaction of an entry with reference `entryRef`; `entryKey` when the entry has this one transaction.
    init(entry e: CamtEntry, transaction t: CamtTransaction?, amount: Int, entryRef: String?, entryKey: String?) {
        if let entryKey { keys.append(entryKey) }
        if let entryRef { marks["e"] = Self.short("entry:" + entryRef) }
        if let r = Reconciler.usable(t?.bankRef, none: "NONREF") {
            let key = "camt-tx:" + r + "|" + String(amount)
            keys.append(key)
            marks["t"] = Self.short(key)
        }
        if let id = Reconciler.usable(t?.endToEndID, none: "NOTPROVIDED") {
            let key = "camt-e2e:" + id + "|" + (t?.debtorIBAN ?? "") + "|" + String(amount)
            keys.append(key)
            marks["x"] = Self.short(key)
        }
        let reference = CaseNumber.compact((t?.structuredRef ?? "") + " " + (t?.unstructured.joined(separator: " ") ?? ""))
        content = Self.hash([Self.day(e.bookingDate), String(amount), e.currency ?? "", Self.iban(t?.debtorIBAN), reference])
    }

    /// A whole entry (one that is rejected as it stands).
    init(entry e: CamtEntry, amount: Int, entryRef: String?, entryKey: String?) {
        if let entryKey { keys.append(entryKey) }
        if let entryRef { marks["e"] = Self.short("entry:" + entryRef) }
        var parts = ["entry", Self.day(e.bookingDate), String(amount), e.currency ?? "", String(e.batchCount ?? 0)]
        for t in e.transactions {
            parts.append(String(t.amountCents ?? 0))
            parts.append(Self.iban(t.debtorIBAN))
            parts.append(CaseNumber.compact((t.structuredRef ?? "") + " " + t.unstructured.joined(separator: " ")))
        }
        content = Self.hash(parts)
    }

    enum Claim: Equatable {
        /// Not seen before; book it under this key.
        case new(key: String)
        /// Seen before; `weak` when only its content said so.
        case duplicate(weak: Bool)
    }

    var prefix: String { "camt-w:" + content + "|" }

    /// Decides whether the booking is new and records what it is known by from now on.
    func claim(_ transaction: BankTransaction, file: String, now: Int64, seen: inout SeenInFile) throws -> Claim {
        let rows = try transaction.keys(prefix: prefix)
        let mine = marks
        // Keys of transactions were kept only as payment keys before bank_entries had them: one lookup per table.
        let knownByID = try transaction.anyKnown(keys: keys, paymentKeys: keys.filter { !$0.hasPrefix("camt:") })
        let row: String?
        if knownByID {
            row = rows.first { !seen.used.contains($0) && Self.shares(mine, Self.signature(of: $0)) }
        } else {
            row = rows.first { !seen.used.contains($0) && !Self.conflicts(mine, Self.signature(of: $0)) }
        }
        if let row {
            try transaction.add(keys: keys, file: file, now: now)
            // The row now carries every id this booking has been seen with.
            let merged = Self.signature(of: row).merging(mine) { old, _ in old }
            let updated = prefix + Self.number(of: row) + "|" + Self.text(merged)
            if updated != row { try transaction.rename(key: row, to: updated) }
            seen.used.insert(updated)
            return .duplicate(weak: !knownByID)
        }
        // Known by a bank id but without a content row (read before content rows were kept): give it one,
        // so a copy without the bank's references is known too.
        if knownByID, rows.contains(where: { Self.shares(mine, Self.signature(of: $0)) }) {
            try transaction.add(keys: keys, file: file, now: now)
            return .duplicate(weak: false)
        }
        let key = prefix + String(rows.count + 1) + "|" + Self.text(mine)
        // The bank ids and the new content row in one statement.
        try transaction.add(keys: keys + [key], file: file, now: now)
        seen.used.insert(key)
        return knownByID ? .duplicate(weak: false) : .new(key: keys.first ?? key)
    }

    // MARK: content rows: "camt-w:<content>|<n>|e=<hash>,t=<hash>"

    static func number(of row: String) -> String {
        let rest = row.split(separator: "|", omittingEmptySubsequences: false)
        return rest.count > 1 ? String(rest[1]) : "0"
    }

    static func signature(of row: String) -> [String: String] {
        let rest = row.split(separator: "|", omittingEmptySubsequences: false)
        guard rest.count > 2 else { return [:] }
        return ids(
            rest[2].split(separator: ",").compactMap { pair in
                let kv = pair.split(separator: "=")
                return kv.count == 2 ? (String(kv[0]), String(kv[1])) : nil
            }
        )
    }

    static func ids(_ pairs: [(String, String)]) -> [String: String] {
        Dictionary(pairs, uniquingKeysWith: { first, _ in first })
    }

    static func text(_ ids: [String: String]) -> String {
        ids.sorted { $0.key < $1.key }.map { $0.key + "=" + $0.value }.joined(separator: ",")
    }

    /// Both have a bank id of the same kind and they differ: two bookings.
    static func conflicts(_ a: [String: String], _ b: [String: String]) -> Bool {
        a.contains { kind, value in b[kind].map { $0 != value } ?? false }
    }

    static func shares(_ a: [String: String], _ b: [String: String]) -> Bool {
        a.contains { kind, value in b[kind] == value }
    }

    /// The booking day in Berlin (`Dt` and `DtTm` of the same booking give the same day).
    static func day(_ booking: String?) -> String {
        guard let booking else { return "" }
        if booking.utf8.count == 10 { return booking }
        if let t = TimeParser.parse(booking) { return BerlinTime.local(t).date.description }
        return String(booking.prefix(10))
    }

    static func iban(_ s: String?) -> String { CaseNumber.compact(s ?? "") }

    /// 128 bits of SHA-256 of the parts, in hex.
    static func hash(_ parts: [String]) -> String {
        hex(SHA256.hash(data: Data(parts.joined(separator: "\u{1F}").utf8)), bytes: 16)
    }

    /// 64 bits: enough to tell a booking's ids apart (they are compared only among bookings that say the same).
    static func short(_ key: String) -> String { hex(SHA256.hash(data: Data(key.utf8)), bytes: 8) }

    static func hex(_ digest: SHA256.Digest, bytes: Int) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes * 2)
        for b in digest.prefix(bytes) {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
