import Foundation
import ZIPFoundation

extension TestSupport {
    /// Writes a ZIP file of `entries` (name, bytes), deflated, as a handheld vendor's upload would be.
    public static func zip(_ path: String, _ entries: [(name: String, bytes: [UInt8])]) throws {
        try? FileManager.default.removeItem(atPath: path)
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
        for entry in entries {
            let data = Data(entry.bytes)
            try archive.addEntry(with: entry.name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
    }

    /// The pictures of the test corpus: a JPEG with Exif (a GPS position, a camera) and a PNG with text chunks.
    public static var jpegWithExif: [UInt8] { [UInt8](FileManager.default.contents(atPath: root + "/Tests/Corpus/image/jpeg-with-exif.jpg")!) }
    public static var pngWithText: [UInt8] { [UInt8](FileManager.default.contents(atPath: root + "/Tests/Corpus/image/png-with-text.png")!) }
}
