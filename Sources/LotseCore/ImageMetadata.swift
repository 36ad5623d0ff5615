/// Removes what a photo tells beyond its picture (issue 16: a motorist's evidence is stored without the camera's
/// metadata): in a JPEG the APP1 (Exif with GPS position, XMP), APP3–APP13 and APP15 segments and comments (also between
/// the scans of a progressive picture) and whatever follows the end of the image (phones append more pictures); in a PNG the
/// text, Exif and time chunks. The picture's bytes are kept as they are (no re-compression, no loss); the segments a
/// decoder needs (JFIF, the ICC colour profile, Adobe's colour transform, tables, frames, scans) stay.
/// A file that does not parse as its type is nil: it is refused, not stored.
public enum ImageMetadata {
    public static func strippedJPEG(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return nil }
        var out: [UInt8] = [0xFF, 0xD8]
        out.reserveCapacity(bytes.count)
        var i = 2
        while i < bytes.count {
            guard bytes[i] == 0xFF else { return nil }
            var m = i + 1
            while m < bytes.count && bytes[m] == 0xFF { m += 1 }  // fill bytes
            guard m < bytes.count else { return nil }
            let marker = bytes[m]
            if marker == 0xD9 {
                out += [0xFF, 0xD9]
                return out
            }
            if (0xD0...0xD7).contains(marker) || marker == 0x01 {
                out += [0xFF, marker]
                i = m + 1
                continue
            }
            guard m + 2 < bytes.count else { return nil }
            let length = Int(bytes[m + 1]) << 8 | Int(bytes[m + 2])
            let end = m + 1 + length
            guard length >= 2, end <= bytes.count else { return nil }
            if marker == 0xDA {
                // the scan's header, then its entropy-coded data as it is, up to the next marker (stuffed 0xFF 0x00 and
                // restart markers belong to the data); the loop goes on there: a progressive picture has more tables and
                // scans, and metadata between them goes too. Nothing after the end of the image is kept (phones append
                // further pictures there, with their own Exif).
                out += [0xFF] + bytes[m..<end]
                var j = end
                while j + 1 < bytes.count {
                    if bytes[j] == 0xFF, bytes[j + 1] != 0x00, !(0xD0...0xD7).contains(bytes[j + 1]) { break }
                    j += 1
                }
                guard j + 1 < bytes.count else {
                    // cut off inside the scan: kept as it is (a decoder shows what there is)
                    out += bytes[end..<bytes.count]
                    return out
                }
                out += bytes[end..<j]
                i = j
                continue
            }
            let metadata = marker == 0xE1 || (0xE3...0xED).contains(marker) || marker == 0xEF || marker == 0xFE
            if !metadata { out += [0xFF] + bytes[m..<end] }
            i = end
        }
        return nil
    }

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    static let pngMetadata: Set<String> = ["tEXt", "zTXt", "iTXt", "eXIf", "tIME"]

    public static func strippedPNG(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.starts(with: pngSignature) else { return nil }
        var out = pngSignature
        out.reserveCapacity(bytes.count)
        var i = 8
        while i + 12 <= bytes.count {
            let length = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            let end = i + 12 + length
            guard length >= 0, length < 1 << 31, end <= bytes.count else { return nil }
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            guard type.utf8.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }) else { return nil }
            if !pngMetadata.contains(type) { out += bytes[i..<end] }
            if type == "IEND" { return out }
            i = end
        }
        return nil
    }
}
