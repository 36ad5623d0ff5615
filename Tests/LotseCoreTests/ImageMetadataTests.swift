import LotseCore
import Testing

/// A motorist's photos are kept without their camera metadata (issue 16).
@Suite struct ImageMetadataTests {
    /// A 1×1 PNG (IHDR, IDAT, IEND).
    static let png: [UInt8] = [
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41,
        0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ]

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let n = data.count
        return [UInt8(n >> 24), UInt8((n >> 16) & 255), UInt8((n >> 8) & 255), UInt8(n & 255)] + Array(type.utf8) + data + [0, 0, 0, 0]
    }

    /// The PNG with a text chunk (the author's name) after its header.
    static var pngWithText: [UInt8] { Array(png[0..<33]) + chunk("tEXt", Array("Author\0Erika Mustermann".utf8)) + Array(png[33...]) }

    static func segment(_ marker: UInt8, _ data: [UInt8]) -> [UInt8] {
        let n = data.count + 2
        return [0xFF, marker, UInt8(n >> 8), UInt8(n & 255)] + data
    }

    @Test func aPNGLosesItsTextAndKeepsItsPicture() throws {
        let stripped = try #require(ImageMetadata.strippedPNG(Self.pngWithText))
        #expect(stripped == Self.png)
        #expect(ImageMetadata.strippedPNG(Self.png) == Self.png)
        #expect(ImageMetadata.strippedPNG(Array(Self.png.dropLast(12))) == nil)  // no IEND
        #expect(ImageMetadata.strippedPNG(Array(Self.png[0..<8]) + [0, 0, 0, 0] + Array("1234".utf8) + [0, 0, 0, 0]) == nil)
    }

    @Test func aJPEGLosesExifXMPAndCommentsAndKeepsItsPicture() throws {
        let jfif = Self.segment(0xE0, Array("JFIF\0".utf8) + [1, 1, 0, 0, 1, 0, 1, 0, 0])
        let exif = Self.segment(0xE1, Array("Exif\0\0GPSLatitude 49.44 GPSLongitude 7.77".utf8))
        let comment = Self.segment(0xFE, Array("Erika's phone".utf8))
        let iptc = Self.segment(0xED, Array("Photoshop 3.0 Kaiserslautern".utf8))
        let tables = Self.segment(0xDB, Array(repeating: 1, count: 65))
        let scan = Self.segment(0xDA, [1, 1, 0, 0, 63, 0]) + [0x12, 0x34, 0xFF, 0x00, 0x56] + [0xFF, 0xD9]
        let photo: [UInt8] = [0xFF, 0xD8] + jfif + exif + comment + iptc + tables + scan
        let stripped = try #require(ImageMetadata.strippedJPEG(photo))
        #expect(stripped == [0xFF, 0xD8] + jfif + tables + scan)
        let text = String(decoding: stripped, as: UTF8.self)
        #expect(!text.contains("GPS") && !text.contains("Erika") && !text.contains("Kaiserslautern"))
        #expect(ImageMetadata.strippedJPEG(Array(photo.prefix(20))) == nil)  // cut off inside a segment
        // a progressive picture: metadata between its scans goes; a second picture with its own Exif after the end of the
        // image (as phones append for HDR or depth) goes too
        let firstScan = Self.segment(0xDA, [1, 1, 0, 0, 63, 0]) + [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]
        let moreTables = Self.segment(0xC4, Array(repeating: 2, count: 20))
        let secondScan = Self.segment(0xDA, [1, 1, 0, 1, 63, 0]) + [0x78, 0x9A]
        let appended: [UInt8] = [0xFF, 0xD8] + exif + [0xFF, 0xD9]
        let progressive = [0xFF, 0xD8] + jfif + tables + firstScan + exif + moreTables + comment + secondScan + [0xFF, 0xD9] + appended
        let cleaned = try #require(ImageMetadata.strippedJPEG(progressive))
        #expect(cleaned == [0xFF, 0xD8] + jfif + tables + firstScan + moreTables + secondScan + [0xFF, 0xD9])
        #expect(!String(decoding: cleaned, as: UTF8.self).contains("GPS"))
        // cut off inside a scan: what there is, as it is
        let truncated = [0xFF, 0xD8] + jfif + firstScan
        #expect(ImageMetadata.strippedJPEG(truncated) == truncated)
        #expect(ImageMetadata.strippedJPEG([0xFF, 0xD8, 0x00, 0x00]) == nil)
    }
}
