import ArgumentParser
import Foundation
import LotseCore
import LotseOffice
import LotseStorage
import LotseTokens

/// The day a command runs as (`--as-of`, default today in Berlin) and the time it records.
func runDay(_ asOf: String?) throws -> (day: CivilDate, at: Int64) {
    let now = Int64(Date().timeIntervalSince1970)
    guard let s = asOf else { return (BerlinTime.local(now).date, now) }
    guard let d = CivilDate(iso: s), d.isValid else { throw LotseError.usage("--as-of '\(s)' is not a date yyyy-mm-dd") }
    return (d, BerlinTime.utc(date: d, hour: 6, minute: 0))
}

struct RetentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Erase the personal data of cases closed longer than LOTSE_RETENTION_DAYS ago (and old rejects files)."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Day of the run, yyyy-mm-dd (default: today in Europe/Berlin).") var asOf: String?
    @Flag(help: "Say what would be erased; change nothing.") var dryRun = false

    func run() throws {
        let config = try common.config()
        let (day, _) = try runDay(asOf)
        let now = Int64(Date().timeIntervalSince1970)
        // erasing cannot be undone: not ahead of time
        guard dryRun || day <= BerlinTime.local(now).date else {
            throw LotseError.usage("--as-of \(day) is in the future: only with --dry-run")
        }
        let at = now
        let report = try Retention.run(
            store: try common.store(config),
            dataDir: config.dataDir,
            retentionDays: config.retentionDays,
            asOf: day,
            now: at,
            dryRun: dryRun
        )
        print(report.line)
    }
}

struct HandoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handover",
        abstract: "Hand unpaid reminded cases over to the Bußgeld procedure: write them as CSV and mark them handed_over."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Day of the run, yyyy-mm-dd (default: today in Europe/Berlin).") var asOf: String?
    @Option(help: "The CSV file for the follow-up system.") var out: String

    func run() throws {
        let config = try common.config()
        let (day, _) = try runDay(asOf)
        // the handover happens now, whatever day chooses the cases
        let at = Int64(Date().timeIntervalSince1970)
        let n = try Handover.run(
            store: try common.store(config),
            asOf: day,
            paymentDays: config.paymentDays,
            graceDays: config.graceDays,
            at: at,
            out: out
        )
        let before = day.adding(days: -(config.paymentDays + config.graceDays))
        print(
            n == 0
                ? "handover as of \(day): no case reminded before \(before) is unpaid; no file written"
                : "handover as of \(day): \(n) case\(n == 1 ? "" : "s") reminded before \(before) written to \(out)"
        )
    }
}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract:
            "A consistent copy of the database while the server runs, the key ring beside it as FILE.keys.json, and the photos and statement attachments it names in FILE.files/."
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "The backup file to write.") var file: String

    func run() throws {
        let config = try common.config()
        let store = try common.store(config)
        let summary = try store.backup(to: file)
        // the key ring: without it the codes on the tickets cannot be checked after a restore
        var keys = "no key ring yet"
        let ring = KeyRing.path(dataDir: config.dataDir)
        if let data = FileManager.default.contents(atPath: ring) {
            let target = file + ".keys.json"
            try? FileManager.default.removeItem(atPath: target)
            guard FileManager.default.createFile(atPath: target, contents: data, attributes: [.posixPermissions: 0o600]) else {
                throw LotseError.io("\(target): cannot write the key ring")
            }
            keys = "key ring \(target)"
        }
        let files = try BackupFiles.save(summary.files, dataDir: config.dataDir, backup: file)
        try store.noteRun(.backup, at: Int64(Date().timeIntervalSince1970), detail: (file as NSString).lastPathComponent)
        let folder = BackupFiles.folder(of: file)
        print(
            "backup \(file): \(summary.cases) cases, integrity ok; \(keys); \(files.line(copied: "in " + folder, missingFrom: "the data directory"))"
        )
    }
}

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into an empty data directory (a damaged file is refused)."
    )

    @OptionGroup var common: CommonOptions
    @Argument(help: "The backup file (from lotse backup).") var file: String

    func run() throws {
        let config = try common.config()
        let fm = FileManager.default
        let existing = ((try? fm.contentsOfDirectory(atPath: config.dataDir)) ?? []).filter { !$0.hasPrefix(".") }
        guard existing.isEmpty else {
            throw LotseError.input(
                "\(config.dataDir) is not empty (\(existing.sorted().prefix(3).joined(separator: ", "))): restore only into an empty data directory"
            )
        }
        try fm.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let summary = try Store.restore(from: file, to: config.databasePath)
        var keys = "no key ring beside the backup: codes printed before need the old keys.json"
        if let data = fm.contents(atPath: file + ".keys.json") {
            guard fm.createFile(atPath: KeyRing.path(dataDir: config.dataDir), contents: data, attributes: [.posixPermissions: 0o600]) else {
                throw LotseError.io("\(KeyRing.path(dataDir: config.dataDir)): cannot write the key ring")
            }
            do {
                _ = try KeyRing.load(dataDir: config.dataDir)
            } catch {
                try? fm.removeItem(atPath: KeyRing.path(dataDir: config.dataDir))
                throw LotseError.input("\(file).keys.json is not a key ring: the database is restored, the key ring is not")
            }
            keys = "key ring restored"
        }
        var files = "no photos or attachments named"
        if !summary.files.isEmpty {
            let restored: BackupFiles.Report?
            do {
                restored = try BackupFiles.restore(summary.files, backup: file, dataDir: config.dataDir)
            } catch {
                throw LotseError.io(
                    "\(error): the database and key ring are restored, the photos and attachments only in part; empty \(config.dataDir) before trying again"
                )
            }
            if let report = restored {
                files = report.line(copied: "restored", missingFrom: BackupFiles.folder(of: file))
            } else {
                files = "no \(BackupFiles.folder(of: file)) beside the backup: \(summary.files.count) photos and attachments are not restored"
            }
        }
        // the restored database is opened once: migrations of a newer version run now
        _ = try common.store(config)
        print("restored \(file) into \(config.dataDir): \(summary.cases) cases; \(keys); \(files)")
    }
}
