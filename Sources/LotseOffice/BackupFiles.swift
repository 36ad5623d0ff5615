import Foundation
import LotseCore

/// The files a backup carries beside its database, in `FILE.files/`: the warden's photos (`evidence/`) and the
/// attachments of the motorists' statements (`statements/`). The database names them but does not hold them; without
/// them a restored pilot would show cases whose evidence is gone.
///
/// Only the files the copied database names are carried (read from the copy, so they belong to the same moment).
/// A named file is never changed (photos and attachments get a new random name when written), so a file that an earlier
/// backup in the same folder already holds (this backup's previous copy, else the newest other `*.files`) is linked
/// instead of copied again: a nightly backup costs the new photos only.
public enum BackupFiles {
    /// What a save or a restore did.
    public struct Report: Sendable, Equatable {
        public var copied = 0
        /// Named by the database but not found (deleted by retention since the copy, or lost before it).
        public var missing: [String] = []
        /// Names that are no file of the data directory (a doctored backup): nothing is written for them.
        public var refused: [String] = []

        /// `3 photos and attachments in FILE.files; 1 not in the data directory (evidence/…)`.
        public func line(copied verb: String, missingFrom place: String) -> String {
            var line = "\(copied) photos and attachments \(verb)"
            if !missing.isEmpty { line += "; \(missing.count) not in \(place) (\(missing.prefix(3).joined(separator: ", ")))" }
            if !refused.isEmpty { line += "; \(refused.count) names refused (\(refused.prefix(3).joined(separator: ", ")))" }
            return line
        }
    }

    /// The folder beside the backup `file`.
    public static func folder(of file: String) -> String { file + ".files" }

    /// Whether `relative` is a name the database may give: `evidence/NAME` or `statements/NAME`, NAME a plain file
    /// name. Nothing else is read or written, so a doctored backup cannot reach outside the data directory.
    public static func isDataFile(_ relative: String) -> Bool {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "evidence" || parts[0] == "statements" else { return false }
        let name = parts[1]
        return !name.isEmpty && name != "." && name != ".." && !name.contains("\0") && !name.contains("\\")
    }

    /// Copies `files` from the data directory into the folder beside `backup`, private (0700 folders, 0600 files). The
    /// folder is written beside and renamed over an earlier one of the same backup, so it is never half old, half new.
    public static func save(_ files: [String], dataDir: String, backup: String) throws -> Report {
        let target = folder(of: backup)
        let part = target + ".\(getpid()).part"
        try? FileManager.default.removeItem(atPath: part)
        var report = Report()
        let earlier = [target] + (newestOtherFolder(beside: backup).map { [$0] } ?? [])
        do {
            try makePrivateFolder(part)
            for relative in files {
                guard isDataFile(relative) else {
                    report.refused.append(relative)
                    continue
                }
                let source = dataDir + "/" + relative
                guard FileManager.default.fileExists(atPath: source) else {
                    report.missing.append(relative)
                    continue
                }
                try makePrivateFolder(part + "/" + relative.prefix { $0 != "/" })
                // an earlier backup's file of this name is the same file
                if !earlier.contains(where: { link($0 + "/" + relative, part + "/" + relative) == 0 }) {
                    try copyPrivately(source, to: part + "/" + relative)
                }
                report.copied += 1
            }
            let old = target + ".\(getpid()).old"
            let hadOld = rename(target, old) == 0
            guard rename(part, target) == 0 else {
                if hadOld { _ = rename(old, target) }
                throw LotseError.io("\(target): cannot put the files in place: \(String(cString: strerror(errno)))")
            }
            if hadOld { try? FileManager.default.removeItem(atPath: old) }
            return report
        } catch {
            try? FileManager.default.removeItem(atPath: part)
            throw error
        }
    }

    /// Copies `files` from the folder beside `backup` into the data directory, private. Nil when the backup has no such
    /// folder (a backup of an older version, or one whose folder was not kept).
    public static func restore(_ files: [String], backup: String, dataDir: String) throws -> Report? {
        let source = folder(of: backup)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isFolder), isFolder.boolValue else { return nil }
        var report = Report()
        for relative in files {
            guard isDataFile(relative) else {
                report.refused.append(relative)
                continue
            }
            guard FileManager.default.fileExists(atPath: source + "/" + relative) else {
                report.missing.append(relative)
                continue
            }
            try makePrivateFolder(dataDir + "/" + relative.prefix { $0 != "/" })
            try copyPrivately(source + "/" + relative, to: dataDir + "/" + relative)
            report.copied += 1
        }
        return report
    }

    /// The most recently written `*.files` folder of another backup in the folder of `backup`.
    static func newestOtherFolder(beside backup: String) -> String? {
        let directory = (backup as NSString).deletingLastPathComponent
        let base = directory.isEmpty ? "." : directory
        let own = (folder(of: backup) as NSString).lastPathComponent
        let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).filter { $0.hasSuffix(".files") && $0 != own }
        return
            candidates
            .compactMap { name -> (String, Date)? in
                let path = base + "/" + name
                guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                    attributes[.type] as? FileAttributeType == .typeDirectory,
                    let modified = attributes[.modificationDate] as? Date
                else { return nil }
                return (path, modified)
            }
            .max { $0.1 < $1.1 }?.0
    }

    private static func makePrivateFolder(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw LotseError.io("\(path): cannot create the folder: \(error.localizedDescription)")
        }
    }

    private static func copyPrivately(_ source: String, to target: String) throws {
        guard let data = FileManager.default.contents(atPath: source) else { throw LotseError.io("\(source): cannot read the file") }
        guard FileManager.default.createFile(atPath: target, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw LotseError.io("\(target): cannot write the file")
        }
    }
}
