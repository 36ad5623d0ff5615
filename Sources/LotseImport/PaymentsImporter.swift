import Foundation
import LotseCore
import LotseStorage

/// What importing one payments file did.
public struct PaymentsImportSummary: Sendable, Codable, Equatable {
    public var file: String
    public var recorded = 0
    public var duplicates = 0
    public var rejected = 0
    public var paid = 0
    public var partial = 0
    public var refunds = 0
    public var rejectsFile: String?

    public var line: String { "\(file): recorded \(recorded), duplicates \(duplicates), rejected \(rejected)" }

    enum CodingKeys: String, CodingKey {
        case file, recorded, duplicates, rejected, paid, partial, refunds
        case rejectsFile = "rejects_file"
    }
}

/// Imports payments made outside the online channels: the city cash office, or other systems.
/// `;`-CSV with the header `case_number;amount_eur;paid_on` and optionally `channel` (`cash`, the default,
/// `bank_transfer`, `paypal`) and `receipt_no`. Validated like the handheld exports: one transaction per
/// file, rejects with line and reason, a payment seen before is a duplicate.
public struct PaymentsImporter: Sendable {
    public let store: Store
    public let config: LotseConfig

    static let required = ["case_number", "amount_eur", "paid_on"]

    public init(store: Store, config: LotseConfig) {
        self.store = store
        self.config = config
    }

    public func importFile(_ path: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> PaymentsImportSummary {
        var summary = PaymentsImportSummary(file: path)
        let head = try ByteReader.head(path: path, count: 4096)
        if head.isEmpty { throw LotseError.input("\(path): the file is empty") }
        if head.contains(0) { throw LotseError.input("\(path):1: binary data, not a payments CSV file") }
        let rejects = RejectsWriter(dataDir: config.dataDir, file: path, now: now)
        defer { rejects.close() }
        let reader = try ByteReader(path: path)
        try rejects.importing(store, file: path) { transaction in
            var index: [String: Int] = [:]
            try reader.forEachRecord { record in
                let line = record.line
                let row = CSVFormat.fields(record.bytes)
                let f = row.fields
                let problem = record.problem.map(CSVFormat.describe) ?? row.problem
                if index.isEmpty {
                    if let problem { throw LotseError.input("\(path):\(line): the header cannot be read: \(problem)") }
                    for (i, raw) in f.enumerated() {
                        var n = raw.trimmingSpaces().lowercased()
                        if n.hasPrefix("\u{FEFF}") { n.removeFirst() }
                        if index[n] == nil { index[n] = i }
                    }
                    let missing = Self.required.filter { index[$0] == nil }
                    if !missing.isEmpty {
                        throw LotseError.input(
                            "\(path):1: header lacks the required column\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", ")) (expected case_number;amount_eur;paid_on[;channel][;receipt_no])"
                        )
                    }
                    return
                }
                if problem == nil && f.count == 1 && f[0].trimmingSpaces().isEmpty { return }  // blank line
                func col(_ n: String) -> String? {
                    guard let i = index[n], i < f.count else { return nil }
                    let v = f[i].trimmingSpaces()
                    return v.isEmpty ? nil : v
                }
                func reject(_ reason: String) throws {
                    summary.rejected += 1
                    try rejects.write(line: line, reason: reason, raw: CSVFormat.rawText(record))
                }
                if let problem { return try reject(problem) }
                guard let number = col("case_number") else { return try reject("case_number is missing") }
                guard let amountText = col("amount_eur") else { return try reject("amount_eur is missing") }
                guard let amount = Money.parseCents(amountText), amount > 0 else {
                    return try reject("amount_eur '\(amountText)' is not an amount in euros")
                }
                guard let paidText = col("paid_on") else { return try reject("paid_on is missing") }
                let paidAt: Int64
                if let d = CivilDate(iso: paidText), d.isValid {
                    paidAt = BerlinTime.utc(date: d, hour: 12, minute: 0)
                } else if paidText.count == 10, let t = TimeParser.parse(paidText + " 12:00") {
                    paidAt = t
                } else if let t = TimeParser.parse(paidText) {
                    paidAt = t
                } else {
                    return try reject("paid_on '\(paidText)' is not a date (yyyy-mm-dd or dd.mm.yyyy)")
                }
                if paidAt > now + 86400 { return try reject("paid_on '\(paidText)' lies in the future") }
                let channelText = col("channel")?.lowercased() ?? "cash"
                guard let channel = PaymentChannel(rawValue: channelText) else {
                    return try reject("channel '\(channelText)' is not cash, bank_transfer or paypal")
                }
                guard let caseID = try transaction.caseID(number: number) else {
                    return try reject("case \(number) does not exist")
                }
                let receipt = col("receipt_no")
                let key = "import:\(channel.rawValue):" + (receipt ?? "\(caseID)|\(amount)|\(paidAt)")
                let p = IncomingPayment(
                    channel: channel,
                    amountCents: amount,
                    paidAt: paidAt,
                    source: (path as NSString).lastPathComponent,
                    dedupKey: key,
                    externalID: receipt
                )
                switch try transaction.recordPayment(p, caseID: caseID, now: now) {
                case .duplicate: summary.duplicates += 1
                case .recorded(_, let d):
                    summary.recorded += 1
                    switch d {
                    case .paid: summary.paid += 1
                    case .partial: summary.partial += 1
                    case .refund: summary.refunds += 1
                    case .unmatched, .rejected: break
                    }
                }
            }
            if index.isEmpty { throw LotseError.input("\(path): the file is empty") }
            rejects.flush()
            summary.rejectsFile = rejects.used ? rejects.path : nil
        }
        return summary
    }
}
