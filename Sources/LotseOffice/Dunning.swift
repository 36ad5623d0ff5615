import Foundation
import LotseCore
import LotseStorage

/// What a dunning run did.
public struct DunningSummary: Sendable, Codable, Equatable {
    public var asOf: String
    /// Cases past their deadline but still within the grace for transfers in flight.
    public var overdue: Int
    /// Cases listed for a reminder in this run.
    public var reminded: Int
    public var file: String

    public var line: String { "dunning as of \(asOf): overdue \(overdue), reminded \(reminded), list \(file)" }

    enum CodingKeys: String, CodingKey {
        case asOf = "as_of"
        case overdue, reminded, file
    }
}

/// The daily dunning run (spec: deadline and dunning). A case unpaid after its deadline becomes `overdue`;
/// once the grace days for transfers in flight have passed too it is listed once for a reminder and becomes
/// `reminded`, with a `reminder` event. Paid and cancelled cases are never listed; a second run lists nothing new.
public enum Dunning {
    public static let header = "case_number;ticket_no;plate;offence_date;tbnr;amount_eur;deadline"

    /// - Parameters:
    ///   - asOf: the day of the run (Berlin); a case is overdue when its deadline is before it.
    ///   - at: the time recorded on the events.
    ///   - holdBack: cases with a payment in flight (`ReminderGuard`): not listed this run.
    public static func run(
        store: Store,
        asOf: CivilDate,
        graceDays: Int,
        at: Int64,
        out: String,
        holdBack: Set<Int64> = []
    ) throws -> DunningSummary {
        let tmp = partPath(out)
        let dir = (out as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        removeOrphans(beside: out)
        guard FileManager.default.createFile(atPath: tmp, contents: nil), let handle = FileHandle(forWritingAtPath: tmp) else {
            throw LotseError.io("\(out): cannot write the reminder list")
        }
        var summary = DunningSummary(asOf: asOf.description, overdue: 0, reminded: 0, file: out)
        do {
            var buffer = [UInt8]()
            buffer.reserveCapacity(1 << 20)
            buffer.append(contentsOf: (header + "\n").utf8)
            let semicolon = UInt8(ascii: ";")
            var reminded = 0
            let overdue = try store.dunningRun(
                remindBefore: asOf.adding(days: -graceDays),
                overdueBefore: asOf,
                runDay: asOf,
                at: at,
                file: out,
                holdBack: holdBack,
                eachReminder: { due in
                    // Byte-level CSV: this runs once per case due, up to every case of the year.
                    appendField(&buffer, due.caseNumber)
                    buffer.append(semicolon)
                    appendField(&buffer, due.ticketNo ?? "")
                    buffer.append(semicolon)
                    appendField(&buffer, due.plate)
                    buffer.append(semicolon)
                    buffer.append(contentsOf: BerlinTime.local(due.issuedAt).date.description.utf8)
                    buffer.append(semicolon)
                    appendField(&buffer, due.tbnr)
                    buffer.append(semicolon)
                    let cents = due.amountCents
                    buffer.append(contentsOf: String(cents / 100).utf8)
                    buffer.append(UInt8(ascii: ","))
                    buffer.append(UInt8(ascii: "0") + UInt8((cents % 100) / 10))
                    buffer.append(UInt8(ascii: "0") + UInt8(cents % 10))
                    buffer.append(semicolon)
                    buffer.append(contentsOf: due.deadline.utf8)
                    buffer.append(UInt8(ascii: "\n"))
                    reminded += 1
                    if buffer.count > 1 << 20 {
                        handle.write(Data(buffer))
                        buffer.removeAll(keepingCapacity: true)
                    }
                },
                beforeCommit: {
                    handle.write(Data(buffer))
                    try handle.synchronize()
                    try handle.close()
                    // The list is in place before the cases are marked: a failed rename rolls everything back.
                    if FileManager.default.fileExists(atPath: out) { try FileManager.default.removeItem(atPath: out) }
                    try FileManager.default.moveItem(atPath: tmp, toPath: out)
                }
            )
            summary.overdue = overdue
            summary.reminded = reminded
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
        return summary
    }

    /// The list is written to `<out>.<pid>.part` and renamed once complete: a run killed before its commit leaves
    /// a part file that names its process, and the next run removes it (as `lotse import` does for rejects).
    static func partPath(_ out: String) -> String { out + ".\(getpid()).part" }

    /// Removes the part files of runs whose process no longer runs, in the directory of `out`: those of the
    /// default lists (`reminders-*`) and those of `out` itself. A part file of a live run is left alone.
    static func removeOrphans(beside out: String) {
        let dir = (out as NSString).deletingLastPathComponent
        let name = (out as NSString).lastPathComponent
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) else { return }
        for part in names where part.hasSuffix(".part") && (part.hasPrefix("reminders-") || part.hasPrefix(name + ".")) {
            let stem = part.dropLast(".part".count)
            guard let dot = stem.lastIndex(of: "."), let pid = Int32(stem[stem.index(after: dot)...]), pid > 0 else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: (dir.isEmpty ? "." : dir) + "/" + part)
            }
        }
    }

    /// Appends one field through the one CSV writer (quoted when it must be, formulas neutralised).
    @inline(__always)
    static func appendField(_ out: inout [UInt8], _ s: String) { CSVWriter.appendField(&out, s) }

    /// The next free file name for a run's reminder list in `dir`.
    public static func defaultOut(dataDir: String, asOf: CivilDate) -> String {
        let dir = dataDir + "/reminders"
        var path = dir + "/reminders-\(asOf).csv"
        var n = 2
        while FileManager.default.fileExists(atPath: path) {
            path = dir + "/reminders-\(asOf)-\(n).csv"
            n += 1
        }
        return path
    }
}
