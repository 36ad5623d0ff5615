import Foundation
import LotseCore

/// Stores the warden's photos of the tickets an import adds (issue 16): each picture is checked by its content (a JPEG or
/// a PNG that parses), stripped of its camera metadata (`ImageMetadata`) and written to the data directory's `evidence/`
/// folder (0700; files 0600, random names). A photo that is missing, too large or not a picture is left out with a
/// warning naming the file and the line; its ticket is imported all the same.
final class PhotoIntake {
    /// Where files named by the export are looked for: the export's own folder, or the unpacked ZIP upload
    /// (nil: nowhere, so a named file is reported missing).
    let folder: String?
    let evidenceDirectory: String
    /// The export's name in messages.
    let name: String
    /// Files written by this import, removed again if it does not commit.
    private(set) var written: [String] = []
    private(set) var warnings: [String] = []

    static let maxBytes = 10 << 20
    static let maxPerTicket = 6

    init(folder: String?, evidenceDirectory: String, name: String) {
        self.folder = folder
        self.evidenceDirectory = evidenceDirectory
        self.name = name
    }

    /// Stores the photos of the ticket on `line`; returns what to attach to its case.
    func store(_ photos: [EvidencePhoto], line: Int) throws -> [(file: String, contentType: String)] {
        var stored: [(file: String, contentType: String)] = []
        var named = Set<String>()
        for (index, photo) in photos.enumerated() {
            guard stored.count < Self.maxPerTicket else {
                warn(line, "photos after the \(Self.maxPerTicket)th are not kept")
                break
            }
            let label: String
            let bytes: [UInt8]
            switch photo {
            case .file(let fileName):
                label = "photo '\(XMLStream.shown(fileName, limit: 60))'"
                // a handheld may write its folder before the name (`Bilder\123.jpg`): the upload's files are looked up by name
                let base = Self.baseName(fileName)
                guard named.insert(base).inserted else {
                    warn(line, "\(label) is named twice")
                    continue
                }
                guard let read = read(base, label: label, line: line) else { continue }
                bytes = read
            case .bytes(let data):
                label = "photo \(index + 1)"
                bytes = data
            case .oversized:
                warn(line, "photo \(index + 1) is larger than \(Self.maxBytes >> 20) MB")
                continue
            }
            guard bytes.count <= Self.maxBytes else {
                warn(line, "\(label) is larger than \(Self.maxBytes >> 20) MB")
                continue
            }
            guard let picture = Self.picture(bytes) else {
                warn(line, "\(label) is not a JPEG or PNG picture")
                continue
            }
            stored.append((try write(picture.bytes, pngFile: picture.contentType == "image/png"), picture.contentType))
        }
        return stored
    }

    /// The last part of a name (after `/` or `\\`).
    static func baseName(_ name: String) -> String {
        String(name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last ?? "")
    }

    /// The picture without its metadata and its type, or nil when the bytes are neither a JPEG nor a PNG that parses.
    static func picture(_ bytes: [UInt8]) -> (bytes: [UInt8], contentType: String)? {
        if let jpeg = ImageMetadata.strippedJPEG(bytes) { return (jpeg, "image/jpeg") }
        if let png = ImageMetadata.strippedPNG(bytes) { return (png, "image/png") }
        return nil
    }

    /// A plain file name: no folder, not hidden, not `..` (an export names files beside it, nothing elsewhere).
    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && !name.hasPrefix(".") && !name.contains("/") && !name.contains("\\")
            && !name.unicodeScalars.contains { $0.value < 32 }
    }

    private func read(_ fileName: String, label: String, line: Int) -> [UInt8]? {
        guard Self.isPlainName(fileName) else {
            warn(line, "\(label) is not a plain file name")
            return nil
        }
        guard let folder else {
            warn(line, "\(label) is not in the upload (send the export and its photos together as one ZIP file)")
            return nil
        }
        // opened without following a link (a link out of the folder is not a file of the upload), then checked on what was
        // opened
        let fd = open(folder + "/" + fileName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            warn(line, "\(label) is not in the upload")
            return nil
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            warn(line, "\(label) is not in the upload")
            return nil
        }
        guard Int(info.st_size) <= Self.maxBytes else {
            warn(line, "\(label) is larger than \(Self.maxBytes >> 20) MB")
            return nil
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        guard done == bytes.count else {
            warn(line, "\(label) cannot be read")
            return nil
        }
        return bytes
    }

    private func write(_ bytes: [UInt8], pngFile: Bool) throws -> String {
        try FileManager.default.createDirectory(
            atPath: evidenceDirectory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        var generator = SystemRandomNumberGenerator()
        let random = (0..<2).map { _ in String(generator.next() as UInt64, radix: 16) }.joined(separator: "-")
        let file = random + (pngFile ? ".png" : ".jpg")
        let path = evidenceDirectory + "/" + file
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
            throw LotseError.io("\(path): cannot write the photo")
        }
        written.append(path)
        return file
    }

    private func warn(_ line: Int, _ problem: String) {
        warnings.append("\(name):\(line): \(problem); the ticket was imported without it")
    }

    /// Removes the files of an import that did not commit.
    func discard() {
        for path in written { try? FileManager.default.removeItem(atPath: path) }
        written = []
    }
}
