import Mustache
import NIOCore
import Synchronization

/// A mustache template evaluated ahead of time for one language and one shape of page.
///
/// The template is rendered once by swift-mustache with a marker in place of every value that
/// changes from request to request (a slot), and the output is cut at the markers. The texts of
/// the language, the city and every section decision are then fixed bytes; a request only writes
/// those bytes and its slot values, HTML-escaped exactly as swift-mustache escapes them.
/// The template in `templates/` stays the single source of the page; a test checks that both
/// ways give the same bytes.
struct CompiledTemplate: Sendable {
    enum Piece: Sendable {
        case text([UInt8])
        case slot(Int)
    }

    let pieces: [Piece]
    /// Bytes of fixed text, to size the buffer.
    let fixedBytes: Int

    /// The marker standing for slot `i` while compiling: private-use characters, which swift-mustache
    /// does not escape and no text of ours contains.
    static func marker(_ i: Int) -> String { "\u{E000}\(i)\u{E001}" }

    /// Renders `template` with `context`, in which each slot value is `marker(i)`.
    init(library: MustacheLibrary, template: String, context: [String: Any]) throws {
        guard let rendered = library.render(context, withTemplate: template) else {
            throw CompileError(template: template)
        }
        let bytes = Array(rendered.utf8)
        var pieces: [Piece] = []
        var fixed = 0
        var start = 0
        var i = 0
        // U+E000 is EE 80 80 in UTF-8, U+E001 is EE 80 81
        while i + 2 < bytes.count {
            guard bytes[i] == 0xEE, bytes[i + 1] == 0x80, bytes[i + 2] == 0x80 else {
                i += 1
                continue
            }
            var j = i + 3
            var n = 0
            while j < bytes.count, bytes[j] >= 0x30, bytes[j] <= 0x39 {
                n = n * 10 + Int(bytes[j] - 0x30)
                j += 1
            }
            guard j + 2 < bytes.count, bytes[j] == 0xEE, bytes[j + 1] == 0x80, bytes[j + 2] == 0x81 else {
                throw CompileError(template: template)
            }
            if i > start {
                pieces.append(.text(Array(bytes[start..<i])))
                fixed += i - start
            }
            pieces.append(.slot(n))
            i = j + 3
            start = i
        }
        if start < bytes.count {
            pieces.append(.text(Array(bytes[start...])))
            fixed += bytes.count - start
        }
        self.pieces = pieces
        self.fixedBytes = fixed
    }

    struct CompileError: Error, CustomStringConvertible {
        let template: String
        var description: String { "template \(template) could not be compiled" }
    }

    /// The page for these slot values.
    func render(_ values: [String], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: fixedBytes + 1024)
        for piece in pieces {
            switch piece {
            case .text(let bytes): buffer.writeBytes(bytes)
            case .slot(let i): Self.writeEscaped(values[i], to: &buffer)
            }
        }
        return buffer
    }

    /// Writes `value` HTML-escaped the way swift-mustache does (`< > & " '`).
    static func writeEscaped(_ value: String, to buffer: inout ByteBuffer) {
        var value = value
        value.withUTF8 { bytes in
            var run = 0
            for (i, b) in bytes.enumerated() {
                let replacement: StaticString
                switch b {
                case UInt8(ascii: "<"): replacement = "&lt;"
                case UInt8(ascii: ">"): replacement = "&gt;"
                case UInt8(ascii: "&"): replacement = "&amp;"
                case UInt8(ascii: "\""): replacement = "&quot;"
                case UInt8(ascii: "'"): replacement = "&#39;"
                default: continue
                }
                if i > run { buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[run..<i])) }
                buffer.writeStaticString(replacement)
                run = i + 1
            }
            if run < bytes.count { buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[run...])) }
        }
    }
}

/// Compiled templates by shape, compiled on first use and kept (a handful per page and language).
final class CompiledTemplates<Shape: Hashable & Sendable>: Sendable {
    private let cache = Mutex([Shape: CompiledTemplate]())

    func get(_ shape: Shape, compile: () throws -> CompiledTemplate) rethrows -> CompiledTemplate {
        if let t = cache.withLock({ $0[shape] }) { return t }
        let t = try compile()
        cache.withLock { $0[shape] = t }
        return t
    }
}
