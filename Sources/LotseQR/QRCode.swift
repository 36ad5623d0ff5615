import CQRencode

/// A QR code symbol from libqrencode.
public struct QRCode: Sendable {
    public enum Level: Sendable {
        case L, M, Q, H
        var c: QRecLevel {
            switch self {
            case .L: return QR_ECLEVEL_L
            case .M: return QR_ECLEVEL_M
            case .Q: return QR_ECLEVEL_Q
            case .H: return QR_ECLEVEL_H
            }
        }
    }
    public let version: Int
    public let width: Int
    /// `width * width` modules, row by row; true is dark.
    public let modules: [Bool]

    public enum Failure: Error { case tooLong }

    /// Encodes `text` (case-sensitive: libqrencode would otherwise upper-case it) with automatic
    /// mode selection, so an upper-case URL uses the compact alphanumeric mode.
    public init(_ text: String, level: Level = .M) throws {
        try self.init(QRcode_encodeString(text, 0, level.c, QR_MODE_8, 1))
    }

    /// Encodes raw bytes in 8-bit mode (used for the UTF-8 EPC payload).
    public init(bytes: [UInt8], level: Level = .M) throws {
        try self.init(bytes.withUnsafeBufferPointer { QRcode_encodeData(Int32($0.count), $0.baseAddress, 0, level.c) })
    }

    private init(_ encoded: UnsafeMutablePointer<CQRencode.QRcode>?) throws {
        guard let code = encoded else { throw Failure.tooLong }
        defer { QRcode_free(code) }
        let w = Int(code.pointee.width)
        version = Int(code.pointee.version)
        width = w
        // a module is dark when bit 0 of its byte is set
        modules = UnsafeBufferPointer(start: code.pointee.data, count: w * w).map { $0 & 1 == 1 }
    }

    public func isDark(x: Int, y: Int) -> Bool { modules[y * width + x] }

    public static let quietZone = 4

    /// SVG: one path of horizontal runs of dark modules, quiet zone of 4, crisp edges.
    public func svg(moduleSize: Int = 4) -> [UInt8] {
        let size = width + 2 * Self.quietZone
        var out = [UInt8]()
        out.reserveCapacity(600 + width * width * 3)
        out += Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"".utf8)
        appendInt(&out, size * moduleSize)
        out += Array("\" height=\"".utf8)
        appendInt(&out, size * moduleSize)
        out += Array("\" viewBox=\"0 0 ".utf8)
        appendInt(&out, size)
        out.append(32)
        appendInt(&out, size)
        out += Array("\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path fill=\"#000\" d=\"".utf8)
        modules.withUnsafeBufferPointer { m in
            for y in 0..<width {
                var x = 0
                let row = y * width
                while x < width {
                    if !m[row + x] {
                        x += 1
                        continue
                    }
                    let start = x
                    while x < width && m[row + x] { x += 1 }
                    out.append(77)  // M
                    appendInt(&out, start + Self.quietZone)
                    out.append(32)
                    appendInt(&out, y + Self.quietZone)
                    out.append(104)  // h
                    appendInt(&out, x - start)
                    out += [118, 49, 104, 45]  // v1h-
                    appendInt(&out, x - start)
                    out.append(122)  // z
                }
            }
        }
        out += Array("\"/></svg>\n".utf8)
        return out
    }

    @inline(__always) func appendInt(_ out: inout [UInt8], _ n: Int) {
        if n >= 100 {
            out.append(UInt8(48 + n / 100))
            out.append(UInt8(48 + (n / 10) % 10))
            out.append(UInt8(48 + n % 10))
        } else if n >= 10 {
            out.append(UInt8(48 + n / 10))
            out.append(UInt8(48 + n % 10))
        } else {
            out.append(UInt8(48 + n))
        }
    }

    /// PNG: 1-bit grayscale, `moduleSize` pixels per module, quiet zone of 4.
    public func png(moduleSize: Int = 8) -> [UInt8] {
        let px = (width + 2 * Self.quietZone) * moduleSize
        let rowBytes = (px + 7) / 8
        var raw = [UInt8]()
        raw.reserveCapacity((rowBytes + 1) * px)
        var row = [UInt8](repeating: 0, count: rowBytes)
        for py in 0..<px {
            let my = py / moduleSize - Self.quietZone
            for i in 0..<rowBytes { row[i] = 0xFF }
            if my >= 0 && my < width {
                for mx in 0..<width where modules[my * width + mx] {
                    let x0 = (mx + Self.quietZone) * moduleSize
                    for x in x0..<(x0 + moduleSize) { row[x >> 3] &= ~(0x80 >> UInt8(x & 7)) }
                }
            }
            raw.append(0)  // filter: none
            raw += row
        }
        return PNG.encode(width: px, height: px, bitDepth: 1, scanlines: raw)
    }
}

/// A minimal PNG writer (grayscale) with stored deflate blocks: no zlib needed.
enum PNG {
    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8], into out: inout [UInt8]) {
        out += be32(UInt32(data.count))
        let start = out.count
        out += Array(type.utf8)
        out += data
        out += be32(crc32(out[start...]))
    }

    static func encode(width: Int, height: Int, bitDepth: UInt8, scanlines: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [bitDepth, 0, 0, 0, 0], into: &out)
        // zlib stream with stored blocks
        var z: [UInt8] = [0x78, 0x01]
        var i = 0
        repeat {
            let n = min(65535, scanlines.count - i)
            let final: UInt8 = i + n >= scanlines.count ? 1 : 0
            z += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            z += scanlines[i..<(i + n)]
            i += n
        } while i < scanlines.count
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in scanlines {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        z += be32((b << 16) | a)
        chunk("IDAT", z, into: &out)
        chunk("IEND", [], into: &out)
        return out
    }
}
