import Foundation
import LotseCore
import ZIPFoundation

/// A handheld export with its photos in one upload (issue 16): a ZIP file holding one export (CSV or XML) and the
/// pictures it names. It is unpacked into a private folder of the data directory (0700), read there and removed.
/// Only the names of the entries are used, never their folders; what does not fit the limits is an error naming the
/// upload, before anything is imported.
enum ZipUpload {
    static let maxEntries = 10_000
    /// What all entries may unpack to together (the declared sizes are not trusted: bytes are counted as they come).
    static let maxBytes: Int64 = 2 << 30

    static func isZip(path: String) throws -> Bool {
        try ByteReader.head(path: path, count: 4) == [0x50, 0x4B, 0x03, 0x04]
    }

    /// Unpacks `path` and hands its one export to `body` with the folder of the pictures.
    static func unpacked<T>(
        _ path: String,
        name: String,
        dataDir: String,
        _ body: (_ export: String, _ exportName: String, _ folder: String) throws -> T
    ) throws -> T {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw LotseError.input("\(name): not a ZIP file that can be read")
        }
        let folder = dataDir + "/uploads/unpacked-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: folder) }

        var exports: [String] = []
        var seen = Set<String>()
        var total: Int64 = 0
        var count = 0
        for entry in archive where entry.type == .file {
            count += 1
            guard count <= maxEntries else { throw LotseError.input("\(name): more than \(maxEntries) files in the ZIP file") }
            let entryName = String(entry.path.split(separator: "/").last ?? "")
            // folders' metadata of macOS and Windows and hidden files are not part of the export
            if entry.path.hasPrefix("__MACOSX/") || entryName.hasPrefix(".") || entryName.isEmpty { continue }
            if ["thumbs.db", "desktop.ini"].contains(entryName.lowercased()) { continue }
            guard PhotoIntake.isPlainName(entryName) else {
                throw LotseError.input("\(name): the ZIP entry '\(XMLStream.shown(entry.path, limit: 60))' has no usable file name")
            }
            guard seen.insert(entryName).inserted else {
                throw LotseError.input("\(name): the ZIP file holds two files named '\(XMLStream.shown(entryName, limit: 60))'")
            }
            let target = folder + "/" + entryName
            guard FileManager.default.createFile(atPath: target, contents: nil, attributes: [.posixPermissions: 0o600]),
                let handle = FileHandle(forWritingAtPath: target)
            else { throw LotseError.io("\(target): cannot write") }
            var head: [UInt8] = []
            do {
                defer { try? handle.close() }
                // an entry never gives more than it declares, nor more than deflate can (about 1,032 to 1): damaged data
                // that inflates to junk stops here, not at the upload's limit
                // (sizes as the archive declares them: any number; clamped before the arithmetic)
                let most = min(Int64(clamping: entry.uncompressedSize), min(Int64(clamping: entry.compressedSize), 1 << 40) * 1100 + 65_536)
                var written: Int64 = 0
                let checksum = try archive.extract(entry) { chunk in
                    written += Int64(chunk.count)
                    guard written <= most else { throw Archive.ArchiveError.invalidCRC32 }
                    total += Int64(chunk.count)
                    guard total <= maxBytes else { throw LotseError.input("\(name): the ZIP file unpacks to more than \(maxBytes >> 30) GB") }
                    if head.count < 16 { head += chunk.prefix(16 - head.count) }
                    try handle.write(contentsOf: chunk)
                }
                // this form of `extract` does not compare the checksum itself: damaged deflate data inflated to different
                // bytes from one run to the next (found by the fuzzer: the same upload rejected 6 rows, then 40)
                guard checksum == entry.checksum else { throw Archive.ArchiveError.invalidCRC32 }
            } catch let error as LotseError {
                throw error
            } catch {
                throw LotseError.input("\(name): the ZIP entry '\(XMLStream.shown(entryName, limit: 60))' cannot be unpacked (damaged)")
            }
            if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
                // never unpacked in turn: a ZIP that holds itself would never end
                throw LotseError.input(
                    "\(name): the ZIP entry '\(XMLStream.shown(entryName, limit: 60))' is a ZIP file itself; one export and its photos a ZIP file"
                )
            }
            if !isPicture(head) { exports.append(entryName) }
        }
        guard exports.count == 1, let export = exports.first else {
            throw LotseError.input(
                exports.isEmpty
                    ? "\(name): the ZIP file holds no export (a CSV or XML file beside the photos)"
                    : "\(name): the ZIP file holds \(exports.count) exports (\(exports.sorted().prefix(3).joined(separator: ", "))); one export a ZIP file"
            )
        }
        return try body(folder + "/" + export, name + "/" + export, folder)
    }

    /// A JPEG or PNG by its first bytes.
    static func isPicture(_ head: [UInt8]) -> Bool {
        head.starts(with: [0xFF, 0xD8, 0xFF]) || head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }
}
