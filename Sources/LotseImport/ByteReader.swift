import LotseCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        if n == 0 {
            eof = true
            return false
        }
        end += n
        return true
    }

    /// One CSV record: the bytes of one logical line (quoted fields may contain line ends) without its
    /// line end, the physical line number where it starts, and what was wrong with it, if anything.
    struct Record {
        var bytes: UnsafeBufferPointer<UInt8>
        var line: Int
        var problem: Problem?
    }

    enum Problem: Equatable {
        /// A line longer than the record limit: `bytes` holds only its start; the rest was skipped.
        case tooLong(bytes: Int)
        /// A quoted field that is never closed (or not before the record limit): the record is the
        /// first physical line only, and reading goes on at the next line.
        case unterminatedQuote
    }

    enum ScanState { case fieldStart, unquoted, quoted, quoteInQuoted }

    /// Calls `body` with each CSV record (RFC 4180 with `;`): a `"` opens a quoted field only at the start
    /// of a field, elsewhere it is a character; a record ends at CR, LF or CRLF outside quotes. A record
    /// never grows past `maxRecord` bytes: an over-long line or a quote that is never closed becomes one
    /// record with a `problem`, and the next line is read as the next record, so no row is swallowed.
    func forEachRecord(maxRecord: Int = 1 << 20, _ body: (Record) throws -> Void) throws {
        let semicolon = UInt8(ascii: ";")
        let quote = UInt8(ascii: "\"")
        let cr: UInt8 = 13
        let lf: UInt8 = 10
        var line = 1
        var scan = 0  // offset from start already scanned
        var state = ScanState.fieldStart
        var breaksInRecord = 0  // line ends inside quoted fields of this record
        var firstBreak = -1  // offset from start of the first of them
        var previousCR = false  // inside quotes: CRLF is one line end
        var skipLF = false  // the last record ended at CR: an LF right after it belongs to it
        var skipping = false  // inside an over-long line: discarded up to its end

        func deliver(_ stop: Int, _ problem: Problem?, next: Int) throws {
            try buffer.withUnsafeBufferPointer { p in
                try body(Record(bytes: UnsafeBufferPointer(rebasing: p[start..<stop]), line: line, problem: problem))
            }
            line += 1
            start = next
            scan = 0
            state = .fieldStart
            breaksInRecord = 0
            firstBreak = -1
            previousCR = false
        }

        while true {
            if skipLF && start < end {
                if buffer[start] == lf { start += 1 }
                skipLF = false
            }
            if skipping {
                var found = -1
                buffer.withUnsafeBufferPointer { p in
                    var i = start
                    while i < end {
                        if p[i] == cr || p[i] == lf {
                            found = i
                            break
                        }
                        i += 1
                    }
                }
                if found >= 0 {
                    skipLF = buffer[found] == cr
                    start = found + 1
                    skipping = false
                    continue
                }
                start = end
                if !fill() { return }
                continue
            }
            var found = -1
            buffer.withUnsafeBufferPointer { p in
                var i = start + scan
                scanning: while i < end {
                    let c = p[i]
                    switch state {
                    case .fieldStart:
                        if c == quote {
                            state = .quoted
                        } else if c == semicolon {
                            state = .fieldStart
                        } else if c == cr || c == lf {
                            found = i
                            break scanning
                        } else {
                            state = .unquoted
                        }
                    case .unquoted:
                        // the common case: run to the next separator or line end
                        while i < end {
                            let d = p[i]
                            if d == semicolon {
                                state = .fieldStart
                                break
                            }
                            if d == cr || d == lf {
                                found = i
                                break scanning
                            }
                            i += 1
                        }
                    case .quoted:
                        if c == quote {
                            state = .quoteInQuoted
                            previousCR = false
                        } else if c == cr || (c == lf && !previousCR) {
                            breaksInRecord += 1
                            if firstBreak < 0 { firstBreak = i - start }
                            previousCR = c == cr
                        } else {
                            previousCR = false
                        }
                    case .quoteInQuoted:
                        if c == quote {
                            state = .quoted
                        } else if c == semicolon {
                            state = .fieldStart
                        } else if c == cr || c == lf {
                            found = i
                            break scanning
                        } else {
                            state = .unquoted
                        }  // text after the closing quote: the field parser rejects the row
                    }
                    i += 1
                }
                if found < 0 { scan = end - start }
            }
            if found >= 0 {
                let breaks = breaksInRecord
                skipLF = buffer[found] == cr
                try deliver(found, nil, next: found + 1)
                line += breaks
                continue
            }
            let inQuotes = state == .quoted
            if end - start > maxRecord {
                if inQuotes && firstBreak >= 0 {
                    let stop = start + firstBreak
                    skipLF = buffer[stop] == cr
                    try deliver(stop, .unterminatedQuote, next: stop + 1)
                } else {
                    let length = end - start
                    try deliver(start + min(length, 1100), .tooLong(bytes: length), next: end)
                    skipping = true
                }
                continue
            }
            if !fill() {
                if end > start {
                    if inQuotes && firstBreak >= 0 {
                        let stop = start + firstBreak
                        skipLF = buffer[stop] == cr
                        try deliver(stop, .unterminatedQuote, next: stop + 1)
                        eof = false  // the rest of the buffer is read again; fill() finds nothing new and sets it back
                        continue
                    }
                    try deliver(end, inQuotes ? .unterminatedQuote : nil, next: end)
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
        for b in bytes where b >= 0x80 {
            ascii = false
            break
        }
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
