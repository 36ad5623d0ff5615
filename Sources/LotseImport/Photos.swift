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

    init(folder: String?, dataDir: String, name: String) {
        self.folder = folder
        self.evidenceDirectory = dataDir + "/evidence"
        self.name = name
    }

    /// Stores the photos of the ticket on `line`; returns what to attach to its case.
    func store(_ photos: [EvidencePhoto], line: Int) throws -> [(file: String, contentType: String)] {
        var stored: [(file: String, contentType: String)] = []
        for (index, photo) in photos.enumerated() {
            let label: String
            let bytes: [UInt8]
            switch photo {
            case .file(let fileName):
                label = "photo '\(XMLStream.shown(fileName, limit: 60))'"
                guard let read = read(fileName, label: label, line: line) else { continue }
                bytes = read
            case .bytes(let data):
                label = "photo \(index + 1)"
                guard data.count <= Self.maxBytes else {
                    warn(line, "\(label) is larger than \(Self.maxBytes >> 20) MB")
                    continue
                }
                bytes = data
            }
            guard stored.count < Self.maxPerTicket else {
                warn(line, "\(label) is one more than the \(Self.maxPerTicket) photos a ticket keeps")
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
        let path = folder + "/" + fileName
        var info = stat()
        // a regular file, not a link out of the folder
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            warn(line, "\(label) is not in the upload")
            return nil
        }
        guard Int(info.st_size) <= Self.maxBytes else {
            warn(line, "\(label) is larger than \(Self.maxBytes >> 20) MB")
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            warn(line, "\(label) cannot be read")
            return nil
        }
        return [UInt8](data)
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
