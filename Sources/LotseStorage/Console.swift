import Foundation
import GRDB
import LotseCore

/// What the office console reads and changes beyond the other repositories: case search, corrections, the start page's
/// counts, refunds made by hand.
extension Store {
    /// Cases matching `query` (a case number in any form, a ticket number, or a plate, compared by letters and digits),
    /// a status and an issue-time range (0: open), newest first, at most `limit`. Runs off the caller's thread.
    public func searchCases(query: String, status: CaseStatus?, from: Int64, to: Int64, limit: Int = 200) async throws -> [CaseRecord] {
        let key = Plate.key(query)
        let compact = CaseNumber.compact(query)
        return try await pool.read { db in
            try CaseRecord.fetchAll(
                db,
                sql: CaseQueries.select + """
                     WHERE (?1 = '' OR upper(replace(case_number, '-', '')) = ?2 OR ticket_no = ?3
                            OR upper(replace(replace(plate, ' ', ''), '-', '')) = ?1)
                       AND (?4 = '' OR status = ?4) AND (?5 = 0 OR issued_at >= ?5) AND (?6 = 0 OR issued_at < ?6)
                     ORDER BY cases.id DESC LIMIT ?7
                    """,
                arguments: [key, compact, query.trimmingCharacters(in: .whitespaces), status?.rawValue ?? "", from, to, limit]
            )
        }
    }

    /// A case with its events and payments, for the console's case page.
    public func caseWithHistory(number: String) async throws -> (CaseRecord, [(at: Int64, kind: String, detail: String?)], [PaymentRecord])? {
        try await pool.read { db in
            guard let c = try CaseQueries.byNumber(db, number) else { return nil }
            let events = try Row.fetchAll(db, sql: "SELECT at, kind, detail FROM events WHERE case_id = ? ORDER BY at, id", arguments: [c.id])
                .map { (at: $0["at"] as Int64, kind: $0["kind"] as String, detail: $0["detail"] as String?) }
            return (c, events, try Ledger.payments(db, caseID: c.id))
        }
    }

    /// Corrects the plate or the place (street) of a case, keeping the old value in a `corrected` event with the reason.
    /// Returns the old value; nil when there is no such case.
    public func correctCase(number: String, plate: String?, street: String?, reason: String, at: Int64) async throws -> String? {
        try await pool.write { db in
            guard let c = try CaseQueries.byNumber(db, number) else { return nil }
            if let plate {
                try db.execute(sql: "UPDATE cases SET plate = ? WHERE id = ?", arguments: [plate, c.id])
                try CaseQueries.addEvent(db, caseID: c.id, kind: .corrected, at: at, detail: "plate (was \(c.plate)): \(reason)")
                return c.plate
            }
            if let street {
                try db.execute(sql: "UPDATE cases SET street = ? WHERE id = ?", arguments: [street, c.id])
                try CaseQueries.addEvent(db, caseID: c.id, kind: .corrected, at: at, detail: "place (was \(c.street)): \(reason)")
                return c.street
            }
            return ""
        }
    }

    /// Marks a payment of the refund list as paid back by the office (a transfer made by hand): it leaves the list.
    /// False when it is not on the list.
    public func markRefunded(paymentID: Int64, note: String, at: Int64) async throws -> Bool {
        try await pool.write { db in
            guard
                let p = try PaymentRecord.fetchOne(
                    db,
                    sql: Ledger.select + " WHERE payments.id = ? AND " + Ledger.onRefundList,
                    arguments: [paymentID]
                )
            else { return false }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO provider_refunds (capture_id, provider, order_id, case_id, amount_cents, status, refund_id,
                                                              requested_at, updated_at)
                    VALUES (?, 'office', '', ?, ?, 'completed', ?, ?, ?)
                    """,
                arguments: ["payment:\(paymentID)", p.caseID, p.refundCents, note, at, at]
            )
            if let caseID = p.caseID { try CaseQueries.addEvent(db, caseID: caseID, kind: .paymentRefunded, at: at, detail: "office") }
            return true
        }
    }

    /// The start page's counts: unmatched and partial payments, refunds to make, cases due for the dunning.
    public func consoleCounts(remindBefore: CivilDate) async throws -> (unmatched: Int, partial: Int, refunds: Int, dueForDunning: Int) {
        try await pool.read { db in
            let unmatched = try Int.fetchOne(db, sql: "SELECT count(*) FROM payments WHERE disposition = 'unmatched'") ?? 0
            let partial = try Int.fetchOne(db, sql: "SELECT count(*) FROM payments WHERE disposition = 'partial'") ?? 0
            let refunds = try Ledger.refundCount(db)
            let due =
                try Int.fetchOne(
                    db,
                    sql: "SELECT count(*) FROM cases WHERE status IN ('open', 'overdue') AND deadline < ? AND \(ProvisionalCases.isNotProvisional)",
                    arguments: [remindBefore.description]
                ) ?? 0
            return (unmatched, partial, refunds, due)
        }
    }
}

extension Store {
    /// Records a payment (the console's cash booking) off the caller's thread.
    public func recordPaymentAsync(_ payment: IncomingPayment, caseID: Int64?, now: Int64) async throws -> Ledger.Outcome {
        try await pool.write { try Ledger.record($0, payment, caseID: caseID, now: now) }
    }

    /// Cases an unmatched payment may be for: still payable, asking for exactly its amount, issued in the 60 days
    /// before it was booked, whose number or plate resembles the transfer's text (`ConsoleMatching`). At most five.
    public func suggestions(for p: PaymentRecord) async throws -> [String] {
        let text = [p.payer, p.reference, p.note].compactMap { $0 }.joined(separator: " ")
        return try await pool.read { db in
            let candidates = try Row.fetchAll(
                db,
                sql: """
                    SELECT case_number, plate FROM cases
                    WHERE status IN ('open', 'overdue', 'reminded') AND amount_cents - received_cents = ? AND issued_at BETWEEN ? AND ?
                    ORDER BY issued_at DESC LIMIT 2000
                    """,
                arguments: [p.amountCents, p.paidAt - 60 * 86_400, p.paidAt + 86_400]
            )
            return candidates.compactMap { row -> String? in
                let number: String = row["case_number"]
                return ConsoleMatching.resembles(text: text, caseNumber: number, plate: row["plate"]) ? number : nil
            }.prefix(5).map { $0 }
        }
    }
}

/// Whether a transfer's text resembles a case: its number's digits, or its plate, appear in it (one letter or digit
/// of the plate may be wrong).
public enum ConsoleMatching {
    public static func resembles(text: String, caseNumber: String, plate: String) -> Bool {
        let key = Plate.key(text)
        let digits = String(caseNumber.reversed().prefix { $0.isNumber }.reversed()).drop { $0 == "0" }
        if digits.count >= 3 && key.contains(digits) { return true }
        let plateKey = Plate.key(plate)
        guard plateKey.count >= 4 else { return false }
        if key.contains(plateKey) { return true }
        let tokens = text.uppercased().split { !($0.isLetter || $0.isNumber || $0 == " " || $0 == "-") }
            .flatMap { $0.split(separator: " ") }.map { Plate.key(String($0)) }
        // adjacent words joined too: "KL AB 123" is written with spaces
        var words = tokens
        for i in 0..<max(0, tokens.count - 2) { words.append(tokens[i] + tokens[i + 1] + tokens[i + 2]) }
        for i in 0..<max(0, tokens.count - 1) { words.append(tokens[i] + tokens[i + 1]) }
        return words.contains { abs($0.count - plateKey.count) <= 1 && distance(Array($0), Array(plateKey)) <= 1 }
    }

    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let old = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = old
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}

extension Store {
    /// The cases that get their code by letter: no code was printed on the ticket, and they are still payable.
    public func letterCaseNumbers() throws -> [String] {
        try pool.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT case_number FROM cases WHERE qr_printed = 0 AND status IN ('open', 'overdue', 'reminded')
                    AND \(ProvisionalCases.isNotProvisional) ORDER BY id
                    """
            )
        }
    }
}

/// A case the next dunning run would list (the console's preview).
public struct DuePreview: Sendable {
    public var caseNumber: String
    public var plate: String
    public var amountCents: Int
    public var deadline: String
}

extension Store {
    /// The cases a dunning run with `remindBefore` would list (before the reminder guard), at most `limit`, oldest first.
    public func duePreview(remindBefore: CivilDate, limit: Int = 200) async throws -> [DuePreview] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT case_number, plate, amount_cents - received_cents AS due, deadline FROM cases
                    WHERE status IN ('open', 'overdue') AND deadline < ? AND \(ProvisionalCases.isNotProvisional)
                    AND \(Statements.noPendingStatement) ORDER BY id LIMIT ?
                    """,
                arguments: [remindBefore.description, limit]
            ).map { DuePreview(caseNumber: $0["case_number"], plate: $0["plate"], amountCents: $0["due"], deadline: $0["deadline"]) }
        }
    }
}
