import Foundation
import LotseCore
import LotseStorage

/// What a retention run did (or, dry, would do).
public struct RetentionReport: Sendable, Equatable {
    public var asOf: CivilDate
    public var closedBefore: CivilDate
    public var cases: Int
    public var payments: Int
    public var rejectsFiles: Int
    public var dryRun: Bool

    public var line: String {
        let verb = dryRun ? "would erase" : "erased"
        return "retention as of \(asOf): \(verb) the personal data of \(cases) case\(cases == 1 ? "" : "s") closed before \(closedBefore) "
            + "(\(payments) payment\(payments == 1 ? "" : "s")), \(dryRun ? "would delete" : "deleted") \(rejectsFiles) old file\(rejectsFiles == 1 ? "" : "s") (rejects, reminder lists, pre-upgrade copies, photos and statement attachments of erased cases)"
    }
}

/// Privacy by deletion (`LOTSE_RETENTION_DAYS`): the personal data of a case closed (paid, cancelled, handed over)
/// longer than the retention period is erased; what the books and the statistics need stays. Rejects files (raw rows
/// of handheld exports) older than the same period are deleted. `lotse retention` runs it; `lotse serve` once a day.
public enum Retention {
    public static func run(store: Store, dataDir: String, retentionDays: Int, asOf: CivilDate, now: Int64, dryRun: Bool) throws -> RetentionReport {
        let closedBefore = asOf.adding(days: -retentionDays)
        let cutoff = BerlinTime.utc(date: closedBefore, hour: 0, minute: 0)
        let erased = try store.eraseClosedCases(closedBefore: cutoff, now: now, dryRun: dryRun)
        // files with personal data the data directory keeps: raw export rows, reminder lists (plates), the copies of
        // the database made before an upgrade
        var files = 0
        let kept: [(dir: String, isOld: (String) -> Bool)] = [
            (dataDir + "/rejects", { $0.hasSuffix(".rejects.csv") }),
            (dataDir + "/reminders", { $0.hasSuffix(".csv") }),
            (dataDir, { $0.hasPrefix("lotse.sqlite.before-") }),
        ]
        // the photos and statement attachments of the cases just erased
        for file in erased.files {
            files += 1
            if !dryRun { try? FileManager.default.removeItem(atPath: dataDir + "/" + file) }
        }
        // photo files no photo names (an import that rolled back or was killed while storing them), and attachment
        // files no statement names (an upload the server was killed in), a day old
        let orphans = [("evidence", try store.evidenceFiles()), ("statements", try store.statementFiles())].flatMap { folder, named in
            ((try? FileManager.default.contentsOfDirectory(atPath: dataDir + "/" + folder)) ?? []).filter { !named.contains($0) }
                .map { folder + "/" + $0 }
        }
        for name in orphans {
            let path = dataDir + "/" + name
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                Int64(modified.timeIntervalSince1970) < BerlinTime.utc(date: asOf, hour: 0, minute: 0) - 86_400
            else { continue }
            files += 1
            if !dryRun { try? FileManager.default.removeItem(atPath: path) }
        }
        for (dir, matches) in kept {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where matches(name) {
                let path = dir + "/" + name
                guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                    Int64(modified.timeIntervalSince1970) < cutoff
                else { continue }
                files += 1
                if !dryRun { try FileManager.default.removeItem(atPath: path) }
            }
        }
        return RetentionReport(
            asOf: asOf,
            closedBefore: closedBefore,
            cases: erased.cases,
            payments: erased.payments,
            rejectsFiles: files,
            dryRun: dryRun
        )
    }
}

/// The handover to the Bußgeld procedure: unpaid cases whose reminder has had its time (the payment days and the
/// grace days for transfers, counted from the reminder) go to the follow-up system as a CSV file and are marked
/// `handed_over`; Lotse then takes no more money for them online, and their data follows the retention.
public enum Handover {
    public static let header =
        "case_number;ticket_no;device_id;officer_id;issued_at;plate;plate_country;tbnr;offence;amount_eur;received_eur;"
        + "street;house_no;place_note;zip;city;lat;lon;vehicle_make;vehicle_color;deadline;reminded_on"

    /// `2026-03-14T09:30`, Berlin time, as in the handheld exports.
    static func local(_ t: Int64) -> String {
        let l = BerlinTime.local(t)
        return "\(l.date)T\(l.clock)"
    }

    /// `25,00`, as in the handheld exports and the reminder list.
    static func euros(_ cents: Int) -> String { Money.plain(cents).replacingOccurrences(of: ".", with: ",") }

    /// Writes `out` (through a part file renamed before the cases are marked) and marks its cases. Returns how many.
    public static func run(store: Store, asOf: CivilDate, paymentDays: Int, graceDays: Int, at: Int64, out: String) throws -> Int {
        let remindedBefore = BerlinTime.utc(date: asOf.adding(days: -(paymentDays + graceDays)), hour: 0, minute: 0)
        let dir = (out as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let part = out + ".\(getpid()).part"
        var buffer = Array((header + "\n").utf8)
        var count = 0
        do {
            return try store.handOver(
                remindedBefore: remindedBefore,
                at: at,
                file: (out as NSString).lastPathComponent,
                each: { h in
                    let c = h.record
                    let fields: [String] = [
                        c.caseNumber, c.ticketNo ?? "", c.deviceID ?? "", c.officerID ?? "", local(c.issuedAt),
                        c.plate, c.plateCountry, c.tbnr, c.offenceText, euros(c.amountCents), euros(h.receivedCents),
                        c.street, c.houseNo ?? "", c.placeNote ?? "", c.zip ?? "", c.city, h.lat.map { String($0) } ?? "",
                        h.lon.map { String($0) } ?? "", h.vehicleMake ?? "", h.vehicleColor ?? "", c.deadline,
                        h.remindedAt.map { BerlinTime.local($0).date.description } ?? "",
                    ]
                    for (i, field) in fields.enumerated() {
                        if i > 0 { buffer.append(UInt8(ascii: ";")) }
                        CSVWriter.appendField(&buffer, field)
                    }
                    buffer.append(UInt8(ascii: "\n"))
                    count += 1
                },
                beforeCommit: {
                    // no case due: no file
                    guard count > 0 else { return }
                    guard FileManager.default.createFile(atPath: part, contents: Data(buffer)) else {
                        throw LotseError.io("\(out): cannot write the handover file")
                    }
                    // an earlier handover file is never replaced (its cases are handed over already and are in no
                    // later file): link(2) fails when `out` exists, and then nothing is marked
                    let linked = link(part, out) == 0
                    let reason = String(cString: strerror(errno))
                    try? FileManager.default.removeItem(atPath: part)
                    guard linked else {
                        throw LotseError.input("\(out): \(reason); choose a new file for this handover, nothing was handed over")
                    }
                }
            )
        } catch {
            try? FileManager.default.removeItem(atPath: part)
            throw error
        }
    }
}
