import Foundation
import LotseCore
import LotseStorage

/// What became of one ticket an online handheld sent (`POST /api/v1/tickets`, formats §2b).
public enum TicketIntake: Sendable, Equatable {
    /// A new case.
    case imported(caseID: Int64)
    /// The same ticket (device and ticket number) was there already: sent before, or in an export.
    case duplicate(caseID: Int64)
    /// Invalid, with the importer's reason.
    case rejected(String)
}

extension Importer {
    /// A field's name as `importTicket` reads it (the export's header rules: `" Device_ID"` is `device_id`).
    public static func fieldName(_ key: String) -> String { CSVFormat.columnName(key) }

    /// Imports one ticket given as the CSV export's columns (formats §1a) by name: the same header mapping, the same
    /// validation and the same writer as a row of an export file, so the evening export of the same ticket counts it
    /// as a duplicate (its source id is device and ticket number) and an invalid ticket is refused with the reason
    /// a rejects file would give. One transaction, recorded as an import named `source`.
    public func importTicket(_ fields: [String: String], source: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> TicketIntake {
        let names = fields.keys.sorted()
        let header: CSVFormat.Header
        do {
            header = try CSVFormat.header(names, path: source)
        } catch {
            let missing = CSVFormat.required.filter { name in !names.contains { $0.lowercased() == name } }
            return .rejected("missing field\(missing.count > 1 ? "s" : "") " + missing.joined(separator: ", "))
        }
        let values = names.map { fields[$0] ?? "" }
        if let bad = names.first(where: { fields[$0]!.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } }) {
            return .rejected("field \(bad.prefix(40)) holds a control character")
        }
        let validator = RecordValidator(validator: TicketValidator(catalogue: catalogue), now: now)
        let ticket: Ticket
        switch validator.validate(CSVFormat.raw(values, header)) {
        case .rejected(let reason): return .rejected(reason)
        case .valid(let valid): ticket = valid
        }
        guard CaseNumber.isValidPrefix(config.caseNumberPrefix) else {
            throw LotseError.usage("LOTSE_CASE_PREFIX '\(config.caseNumberPrefix)' must be 1 to 6 letters or digits")
        }
        let (config, catalogue) = (self.config, self.catalogue)
        let added = try store.importTransaction(file: source) { transaction in
            let writer = try transaction.caseWriter(
                fileName: source,
                format: "api",
                catalogue: catalogue,
                prefix: config.caseNumberPrefix,
                paymentDays: config.paymentDays,
                now: now
            )
            let added = try writer.add(ticket)
            try writer.finish(imported: added == .inserted ? 1 : 0, duplicates: added == .duplicate ? 1 : 0, rejected: 0, rejectsFile: nil)
            return added
        }
        guard let caseID = try store.caseIDs(sourceIDs: [ticket.sourceID]).first ?? nil else {
            throw LotseError.io("\(source): the ticket was written but cannot be read back")
        }
        return added == .inserted ? .imported(caseID: caseID) : .duplicate(caseID: caseID)
    }
}
