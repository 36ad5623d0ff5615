import Foundation

/// The data directory holds plates, payer names, IBANs and the signing keys: only its owner may read it.
/// `lotse` runs with umask 077 (main.swift), so what it creates is 0600/0700; `lotse serve` also tightens
/// what an older version left readable and removes upload spool files a killed server left behind.
public enum DataDirectory {
    /// Directories of the data directory that Lotse writes.
    static let folders = ["rejects", "reminders", "uploads", "qr", "qr-png", "evidence", "statements"]

    public static func prepareForServing(dataDir: String) {
        removeUploads(dataDir: dataDir)
        tighten(dataDir: dataDir)
    }

    /// Empties `uploads/` (every upload removes its own file when it is done; this is for a server that was killed).
    public static func removeUploads(dataDir: String) {
        let dir = OfficeController.uploadsDirectory(dataDir: dataDir)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            try? FileManager.default.removeItem(atPath: dir + "/" + name)
        }
    }

    /// Directories 0700, files 0600, for the data directory and the folders Lotse writes in it (one level deep).
    public static func tighten(dataDir: String) {
        let fm = FileManager.default
        chmod(dataDir, 0o700)
        for name in (try? fm.contentsOfDirectory(atPath: dataDir)) ?? [] {
            let path = dataDir + "/" + name
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else { continue }
            if isDir.boolValue {
                guard folders.contains(name) else { continue }
                chmod(path, 0o700)
                for inner in (try? fm.contentsOfDirectory(atPath: path)) ?? [] {
                    var innerIsDir: ObjCBool = false
                    if fm.fileExists(atPath: path + "/" + inner, isDirectory: &innerIsDir) {
                        chmod(path + "/" + inner, innerIsDir.boolValue ? 0o700 : 0o600)
                    }
                }
            } else {
                chmod(path, 0o600)
            }
        }
    }
}
