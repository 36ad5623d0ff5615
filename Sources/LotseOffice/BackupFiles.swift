import Foundation
import LotseCore

/// The files a backup carries beside its database, in `FILE.files/`: the warden's photos (`evidence/`) and the
/// attachments of the motorists' statements (`statements/`). The database names them but does not hold them; without
/// them a restored pilot would show cases whose evidence is gone.
///
/// Only the files the copied database names are carried (read from the copy, so they belong to the same moment).
/// A named file is never changed (photos and attachments get a new random name when written), so a file that an earlier
/// backup in the same folder already holds (this backup's previous copy, else the newest other `*.files`) is linked
/// instead of copied again: a nightly backup costs the new photos only. A file is linked only if it is a regular file of
/// this user, private, of the source's size, in a private folder of this user; anything else is copied.
///
/// Only regular files are read, never through a symbolic link, and only folders that are no link: a doctored backup can
/// neither make a restore read a file outside its folder nor write outside the data directory.
public enum BackupFiles {
    /// What a save or a restore did.
    public struct Report: Sendable, Equatable {
        public var copied = 0
        /// Named by the database but not found (deleted by retention since the copy, or lost before it).
        public var missing: [String] = []
        /// Names that are no file of the data directory, or files that are no regular files (a doctored backup):
        /// nothing is read or written for them.
        public var refused: [String] = []

        /// `3 photos and attachments in FILE.files; 1 not in the data directory (evidence/…)`.
        public func line(copied verb: String, missingFrom place: String) -> String {
            var line = "\(copied) photos and attachments \(verb)"
            if !missing.isEmpty { line += "; \(missing.count) not in \(place) (\(missing.prefix(3).joined(separator: ", ")))" }
            if !refused.isEmpty { line += "; \(refused.count) refused (\(refused.prefix(3).joined(separator: ", ")))" }
            return line
        }
    }

    /// The folder beside the backup `file`.
    public static func folder(of file: String) -> String { file + ".files" }

    /// Whether `relative` is a name the database may give: `evidence/NAME` or `statements/NAME`, NAME a plain file
    /// name. Nothing else is read or written.
    public static func isDataFile(_ relative: String) -> Bool {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "evidence" || parts[0] == "statements" else { return false }
        let name = parts[1]
        return !name.isEmpty && name != "." && name != ".." && !name.contains("\0") && !name.contains("\\")
    }

    /// Copies `files` from the data directory into the folder beside `backup`, private (0700 folders, 0600 files). The
    /// folder is written beside and renamed over an earlier one of the same backup, so it is never half old, half new;
    /// what a killed run left beside it is removed first.
    public static func save(_ files: [String], dataDir: String, backup: String) throws -> Report {
        let target = folder(of: backup)
        removeLeftovers(of: target)
        let part = target + ".\(getpid()).part"
        var report = Report()
        let earlier = ([target] + (newestOtherFolder(beside: backup).map { [$0] } ?? [])).filter(isOwnPrivateFolder)
        do {
            try makePrivateFolder(part)
            for relative in files {
                guard isDataFile(relative) else {
                    report.refused.append(relative)
                    continue
                }
                // a file retention deleted since the copy was taken is missing, not an error
                guard let data = try readRegularFile(dataDir + "/" + relative) else {
                    report.missing.append(relative)
                    continue
                }
                try makePrivateFolder(part + "/" + relative.prefix { $0 != "/" })
                // an earlier backup's file of this name is the same file
                let linked = earlier.contains { folder in
                    isReusable(folder + "/" + relative, size: data.count) && link(folder + "/" + relative, part + "/" + relative) == 0
                }
                if !linked { try writePrivately(data, to: part + "/" + relative) }
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
    /// folder (a backup of an older version, or one whose folder was not kept). A named file that is a link, or lies in
    /// a folder that is a link, is refused.
    public static func restore(_ files: [String], backup: String, dataDir: String) throws -> Report? {
        let source = folder(of: backup)
        guard isRealFolder(source) else { return nil }
        var report = Report()
        for relative in files {
            let folderName = String(relative.prefix { $0 != "/" })
            guard isDataFile(relative), isRealFolder(source + "/" + folderName) else {
                report.refused.append(relative)
                continue
            }
            let data: Data?
            do {
                data = try readRegularFile(source + "/" + relative)
            } catch {
                report.refused.append(relative)
                continue
            }
            guard let data else {
                report.missing.append(relative)
                continue
            }
            try makePrivateFolder(dataDir + "/" + folderName)
            try writePrivately(data, to: dataDir + "/" + relative)
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
            .compactMap { name -> (String, Int)? in
                var info = stat()
                guard lstat(base + "/" + name, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return nil }
                return (base + "/" + name, info.st_mtim.tv_sec)
            }
            .max { $0.1 < $1.1 }?.0
    }

    /// What a killed run left beside `target`: its `.PID.part` and `.PID.old` folders.
    static func removeLeftovers(of target: String) {
        let directory = (target as NSString).deletingLastPathComponent
        let base = directory.isEmpty ? "." : directory
        let prefix = (target as NSString).lastPathComponent + "."
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        where name.hasPrefix(prefix) && (name.hasSuffix(".part") || name.hasSuffix(".old")) {
            try? FileManager.default.removeItem(atPath: base + "/" + name)
        }
    }

    /// A folder (not a link to one).
    static func isRealFolder(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// A folder of this user that no one else may enter: its files may be linked into a new backup.
    static func isOwnPrivateFolder(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR && info.st_uid == geteuid() && info.st_mode & 0o077 == 0
    }

    /// An earlier backup's file that may stand for the source: a regular file of this user, private, of the same size.
    static func isReusable(_ path: String, size: Int) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && info.st_uid == geteuid() && info.st_mode & 0o077 == 0
            && Int(info.st_size) == size
    }

    /// The bytes of a regular file, opened without following a link (nil: there is no such file). A link, a folder or a
    /// device is an error.
    static func readRegularFile(_ path: String) throws -> Data? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw LotseError.io("\(path): cannot read the file (\(errno == ELOOP ? "a link" : String(cString: strerror(errno))))")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { throw LotseError.io("\(path): not a regular file") }
        do {
            return try handle.readToEnd() ?? Data()
        } catch {
            throw LotseError.io("\(path): cannot read the file: \(error.localizedDescription)")
        }
    }

    private static func makePrivateFolder(_ path: String) throws {
        if isRealFolder(path) { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw LotseError.io("\(path): cannot create the folder: \(error.localizedDescription)")
        }
        guard isRealFolder(path) else { throw LotseError.io("\(path): not a folder") }
    }

    /// A new file (never through a link, never over an existing one), 0600.
    private static func writePrivately(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LotseError.io("\(path): cannot write the file: \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw LotseError.io("\(path): cannot write the file: \(error.localizedDescription)")
        }
    }
}
