import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Streams an XML file through a SAX delegate (handheld exports, camt statements): namespaces
/// resolved, external entities never loaded, the file never read whole.
///
/// Before the parser sees a byte, `XMLGuard` reads the file once and refuses what Foundation's XMLParser
/// cannot take safely: bytes that are not the declared encoding (invalid UTF-8 in an element name, an
/// attribute name or a comment ends the process inside XMLParser), a DTD (entity expansion), more
/// attributes, depth, references or bytes than `XMLLimits` allow (XMLParser spends seconds of CPU on
/// 200,000 attributes or 300,000 references). Such a file is one `LotseError.input` naming the file and line.
public enum XMLStream {
    /// Parses `path` with `delegate`; returns the parser (line number, error) and whether it got to the end without error.
    /// Throws `LotseError.input` when the file breaks `limits` or is not in its declared encoding.
    public static func parse(
        path: String,
        delegate: any XMLParserDelegate,
        limits: XMLLimits = XMLLimits()
    ) throws -> (parser: XMLParser, ok: Bool) {
        try XMLGuard.check(path: path, limits: limits)
        guard let stream = InputStream(fileAtPath: path) else { throw LotseError.input("\(path): cannot open") }
        let parser = XMLParser(stream: stream)
        parser.shouldProcessNamespaces = true
        parser.shouldResolveExternalEntities = false
        parser.delegate = delegate
        return (parser, parser.parse())
    }

    /// A name or namespace from the file as it may appear in a one-line error: at most `limit` characters,
    /// control characters (a namespace may hold `&#10;`) shown as `?`.
    public static func shown(_ text: String, limit: Int = 80) -> String {
        String(text.prefix(limit).map { $0.isNewline || $0.unicodeScalars.contains { $0.properties.generalCategory == .control } ? "?" : $0 })
    }

    /// libxml2's reason for stopping, in words, for the one-line error.
    public static func reason(_ parser: XMLParser) -> String {
        guard let error = parser.parserError as NSError? else { return "parse error" }
        // corelibs Foundation reports libxml2's own error numbers (xmlParserErrors), not NSXMLParserError's
        switch error.code {
        case 76, 85: return "an end tag does not match its start tag"
        case 77: return "an element that is not finished (truncated?)"
        case 6, 7, 8, 9: return "a character that XML does not allow"
        case 38: return "a '<' inside an attribute value"
        case 39, 40, 41, 43, 44, 75: return "a malformed attribute"
        case 42, 203: return "an attribute given twice in one element"
        case 65, 68, 73, 74: return "a malformed tag"
        case 5, 86: return "content after the end of the document"
        case 3, 4: return "no XML document"
        case 1, 2: return "the XML parser gave up (a tag or text beyond its own limits)"
        case 14, 22, 23, 26, 27, 36, 37: return "an unknown or unfinished entity reference (&...;)"
        case 45, 80: return "a malformed comment"
        case 63: return "an unfinished CDATA section"
        case 31, 32, 79, 81: return "an encoding that cannot be read"
        case 35, 200, 201, 202: return "a malformed namespace declaration or prefix"
        case 57: return "a malformed XML declaration"
        default: return "not well-formed XML (libxml2 error \(error.code))"
        }
    }
}

/// What an XML file Lotse reads may hold. Handheld exports and camt files stay far below every limit.
public struct XMLLimits: Sendable {
    /// Elements open at once.
    public var maxDepth = 64
    /// Attributes of one element.
    public var maxAttributes = 256
    /// Bytes of one element or attribute name.
    public var maxNameBytes = 256
    /// Bytes of one attribute value, or of the text of one element (before references are expanded).
    public var maxValueBytes = 64 * 1024
    /// Entity and character references (`&amp;`, `&#228;`) in one attribute value or element text.
    public var maxReferences = 1024

    public init() {}
}

/// One streaming pass over an XML file: the declared encoding, UTF-8 validity, NUL bytes, DTDs and the
/// `XMLLimits`. Not a parser: it only tells tags, attribute values, comments, CDATA and processing
/// instructions apart well enough to count; XMLParser still decides whether the file is well-formed.
public struct XMLGuard {
    /// Thrown as `LotseError.input`: `path:line: reason; nothing was read from the file`.
    public static func check(path: String, limits: XMLLimits = XMLLimits()) throws {
        guard let file = fopen(path, "rb") else {
            throw LotseError.input("\(path): cannot open: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var scanner = XMLGuard(limits: limits)
        let size = 1 << 16
        var buffer = [UInt8](repeating: 0, count: size)
        var first = true
        while true {
            let n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, size, file) }
            if n == 0 {
                if ferror(file) != 0 { throw LotseError.input("\(path): cannot read") }
                break
            }
            try buffer.withUnsafeBufferPointer { p in
                let chunk = UnsafeBufferPointer(rebasing: p[0..<n])
                if first {
                    first = false
                    if let problem = scanner.declaration(chunk) { throw scanner.failure(path, problem) }
                }
                if let problem = scanner.scan(chunk) { throw scanner.failure(path, problem) }
            }
        }
        if let problem = scanner.finish() { throw scanner.failure(path, problem) }
    }

    enum State {
        case text, lessThan, bang, comment, cdata, processing, endTag
        case tagName, inTag, attributeName, attributeValue
    }

    let limits: XMLLimits
    var line = 1
    var state = State.text
    var validateUTF8 = true
    var utf8Pending = 0  // continuation bytes still expected
    var utf8Low: UInt8 = 0x80  // allowed range of the next continuation byte
    var utf8High: UInt8 = 0xBF
    var utf8Lead: UInt8 = 0  // the first byte of the character being read, for the message
    var depth = 0
    var attributes = 0
    var nameBytes = 0
    var valueBytes = 0
    var references = 0
    var quote: UInt8 = 0
    var selfClosing = false
    var bangText: [UInt8] = []  // what follows `<!`, until it is known to be a comment or CDATA
    var last1: UInt8 = 0  // the two bytes before the current one, for `-->`, `]]>`, `?>`
    var last2: UInt8 = 0

    init(limits: XMLLimits) { self.limits = limits }

    func failure(_ path: String, _ problem: String) -> LotseError {
        .input("\(path):\(line): \(problem); nothing was read from the file")
    }

    /// The encoding named in `<?xml ... encoding="..."?>` at the start of the file decides what is checked.
    mutating func declaration(_ head: UnsafeBufferPointer<UInt8>) -> String? {
        var bytes = Array(head.prefix(1024))
        if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) {
            return "the file is UTF-16; Lotse reads XML in UTF-8 (or ISO-8859-1)"
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard bytes.starts(with: Array("<?xml".utf8)), let end = bytes.firstIndex(of: UInt8(ascii: ">")) else { return nil }
        let decl = String(decoding: bytes[..<end], as: UTF8.self)
        guard let range = decl.range(of: "encoding") else { return nil }
        let rest = decl[range.upperBound...].drop { $0 == " " || $0 == "=" || $0 == "\t" }
        guard let q = rest.first, q == "\"" || q == "'" else { return nil }
        let name = rest.dropFirst().prefix { $0 != q }.lowercased()
        switch name {
        case "utf-8", "utf8", "us-ascii", "ascii":
            validateUTF8 = true
        case "iso-8859-1", "latin1", "iso-8859-15", "latin-9", "windows-1252", "cp1252":
            validateUTF8 = false  // every byte is a character in these; libxml2 hands UTF-8 on
        default:
            return "the XML declaration names the encoding '\(XMLStream.shown(name, limit: 40))'; Lotse reads XML in UTF-8 or ISO-8859-1"
        }
        return nil
    }

    @inline(__always)
    mutating func utf8(_ c: UInt8) -> Bool {
        if utf8Pending > 0 {
            guard c >= utf8Low && c <= utf8High else { return false }
            utf8Pending -= 1
            utf8Low = 0x80
            utf8High = 0xBF
            return true
        }
        utf8Lead = c
        switch c {
        case 0x00..<0x80: return true
        case 0xC2...0xDF: utf8Pending = 1
        case 0xE0:
            utf8Pending = 2
            utf8Low = 0xA0
        case 0xE1...0xEC, 0xEE, 0xEF: utf8Pending = 2
        case 0xED:
            utf8Pending = 2
            utf8High = 0x9F
        case 0xF0:
            utf8Pending = 3
            utf8Low = 0x90
        case 0xF1...0xF3: utf8Pending = 3
        case 0xF4:
            utf8Pending = 3
            utf8High = 0x8F
        default: return false
        }
        return true
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 }

    mutating func countValueByte(_ c: UInt8) -> String? {
        valueBytes += 1
        if c == UInt8(ascii: "&") {
            references += 1
            if references > limits.maxReferences {
                return "more than \(limits.maxReferences) entity or character references in one value"
            }
        }
        if valueBytes > limits.maxValueBytes {
            return "a value longer than \(limits.maxValueBytes / 1024) KiB"
        }
        return nil
    }

    mutating func resetValue() {
        valueBytes = 0
        references = 0
    }

    mutating func countName() -> String? {
        nameBytes += 1
        return nameBytes > limits.maxNameBytes ? "a name longer than \(limits.maxNameBytes) bytes" : nil
    }

    /// Scans one chunk; returns the first problem found.
    mutating func scan(_ p: UnsafeBufferPointer<UInt8>) -> String? {
        for c in p {
            if c == 10 { line += 1 }
            if c == 0 { return "a NUL byte, which XML does not allow" }
            if validateUTF8 && c >= 0x80 || utf8Pending > 0 {
                let lead = utf8Pending > 0 ? utf8Lead : c
                if !utf8(c) { return "bytes that are not valid UTF-8 (at 0x\(String(lead, radix: 16, uppercase: true)))" }
            }
            if let problem = step(c) { return problem }
            last2 = last1
            last1 = c
        }
        return nil
    }

    @inline(__always)
    mutating func step(_ c: UInt8) -> String? {
        switch state {
        case .text:
            if c == UInt8(ascii: "<") {
                state = .lessThan
                return nil
            }
            return countValueByte(c)
        case .lessThan:
            switch c {
            case UInt8(ascii: "!"):
                state = .bang
                bangText.removeAll()
            case UInt8(ascii: "?"): state = .processing
            case UInt8(ascii: "/"): state = .endTag
            default:
                state = .tagName
                attributes = 0
                selfClosing = false
                nameBytes = 1
            }
        case .bang:
            bangText.append(c)
            if bangText == Array("--".utf8) {
                state = .comment
                last1 = 0  // `<!-->` does not end the comment
            } else if bangText == Array("[CDATA[".utf8) {
                state = .cdata
            } else if bangText.count >= 7 || !(Array("--".utf8).starts(with: bangText) || Array("[CDATA[".utf8).starts(with: bangText)) {
                if bangText.first.map({ $0 == UInt8(ascii: "D") || $0 == UInt8(ascii: "d") }) == true {
                    return "a document type declaration (<!DOCTYPE>), which Lotse does not accept"
                }
                return "a malformed '<!' markup"
            }
        case .comment:
            if c == UInt8(ascii: ">") && last1 == UInt8(ascii: "-") && last2 == UInt8(ascii: "-") { state = .text }
        case .cdata:
            if c == UInt8(ascii: ">") && last1 == UInt8(ascii: "]") && last2 == UInt8(ascii: "]") {
                state = .text
                return nil
            }
            return countValueByte(c)
        case .processing:
            if c == UInt8(ascii: ">") && last1 == UInt8(ascii: "?") { state = .text }
        case .endTag:
            if c == UInt8(ascii: ">") {
                state = .text
                depth = max(0, depth - 1)
                resetValue()
            }
        case .tagName:
            if Self.isSpace(c) {
                state = .inTag
            } else if c == UInt8(ascii: "/") {
                selfClosing = true
                state = .inTag
            } else if c == UInt8(ascii: ">") {
                return endStartTag()
            } else {
                return countName()
            }
        case .inTag, .attributeName:
            if c == UInt8(ascii: ">") { return endStartTag() }
            if c == UInt8(ascii: "/") {
                selfClosing = true
                state = .inTag
                return nil
            }
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                quote = c
                state = .attributeValue
                resetValue()
                return nil
            }
            if c == UInt8(ascii: "=") {
                state = .inTag
                attributes += 1
                if attributes > limits.maxAttributes { return "more than \(limits.maxAttributes) attributes in one element" }
                return nil
            }
            if Self.isSpace(c) {
                state = .inTag
                return nil
            }
            if state == .inTag {
                state = .attributeName
                nameBytes = 0
                selfClosing = false
            }
            return countName()
        case .attributeValue:
            if c == quote {
                state = .inTag
                return nil
            }
            return countValueByte(c)
        }
        return nil
    }

    mutating func endStartTag() -> String? {
        state = .text
        resetValue()
        if !selfClosing {
            depth += 1
            if depth > limits.maxDepth { return "elements nested more than \(limits.maxDepth) deep" }
        }
        return nil
    }

    mutating func finish() -> String? {
        if utf8Pending > 0 { return "the file ends inside a UTF-8 character" }
        return nil
    }
}
