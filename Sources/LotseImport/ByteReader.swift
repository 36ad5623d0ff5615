#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LotseCore

/// Reads a file in large chunks through stdio, never whole: files of several GB stream through.
final class ByteReader {
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var eof = false
    let path: String

    init(path: String, chunk: Int = 1 << 20) throws {
        guard let f = fopen(path, "rb") else {
            throw LotseError.input("\(path): cannot open: \(String(cString: strerror(errno)))")
        }
        self.file = f
        self.path = path
        self.buffer = [UInt8](repeating: 0, count: chunk)
    }

    deinit { fclose(file) }

    /// Reads the first bytes of a file for format detection.
    static func head(path: String, count: Int) throws -> [UInt8] {
        guard let f = fopen(path, "rb") else {
            throw LotseError.input("\(path): cannot open: \(String(cString: strerror(errno)))")
        }
        defer { fclose(f) }
        var b = [UInt8](repeating: 0, count: count)
        let n = b.withUnsafeMutableBytes { fread($0.baseAddress, 1, count, f) }
        if n < count && ferror(f) != 0 { throw LotseError.input("\(path): cannot read") }
        return Array(b.prefix(n))
    }

    private func fill() -> Bool {
        if eof { return false }
        if start > 0 {
            let remaining = end - start
            if remaining > 0 {
                buffer.withUnsafeMutableBytes { p in
                    _ = memmove(p.baseAddress!, p.baseAddress! + start, remaining)
                }
            }
            end = remaining
            start = 0
        }
        if end == buffer.count { buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count)) }
        let want = buffer.count - end
        let n = buffer.withUnsafeMutableBytes { p in fread(p.baseAddress! + end, 1, want, file) }
        if n == 0 { eof = true; return false }
        end += n
        return true
    }

    /// Calls `body` with each CSV record: the bytes of one logical line (quoted fields may contain
    /// newlines), without the line end, and the physical line number where it starts.
    func forEachRecord(_ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) throws {
        var line = 1
        var scan = 0 // offset from start already scanned
        var inQuotes = false
        var newlinesInRecord = 0
        while true {
            var found = -1
            buffer.withUnsafeBufferPointer { p in
                var i = start + scan
                while i < end {
                    let c = p[i]
                    if c == 34 { inQuotes.toggle() } else if c == 10 {
                        if !inQuotes { found = i; break }
                        newlinesInRecord += 1
                    }
                    i += 1
                }
                if found < 0 { scan = end - start }
            }
            if found >= 0 {
                var stop = found
                if stop > start && buffer[stop - 1] == 13 { stop -= 1 }
                try buffer.withUnsafeBufferPointer { p in
                    try body(UnsafeBufferPointer(rebasing: p[start..<stop]), line)
                }
                line += 1 + newlinesInRecord
                newlinesInRecord = 0
                start = found + 1
                scan = 0
                inQuotes = false
                continue
            }
            if !fill() {
                if end > start {
                    var stop = end
                    if buffer[stop - 1] == 13 { stop -= 1 }
                    try buffer.withUnsafeBufferPointer { p in
                        try body(UnsafeBufferPointer(rebasing: p[start..<stop]), line)
                    }
                }
                return
            }
        }
    }
}

/// Text decoding: UTF-8, or Windows-1252 for bytes that are not valid UTF-8.
enum TextDecoding {
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var ascii = true
        for b in bytes where b >= 0x80 { ascii = false; break }
        if ascii { return String(decoding: bytes, as: UTF8.self) }
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        return windows1252(bytes)
    }

    static let high: [UInt32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ]

    static func windows1252(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes {
            let v: UInt32 = (b >= 0x80 && b < 0xA0) ? high[Int(b - 0x80)] : UInt32(b)
            s.append(Unicode.Scalar(v)!)
        }
        return String(s)
    }
}
