/// The one writer of the `;`-separated CSV files Lotse hands to people: reminder lists, rejects files, QR
/// manifests. A field is quoted only when it must be (`;`, `"`, CR or LF), and a field that a spreadsheet
/// would run as a formula (it starts with `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`, so that
/// Excel and LibreOffice show it as text: a ticket number `=HYPERLINK(...)` from a handheld export stays text.
///
/// Byte-level, because the dunning run appends one row per case due, up to every case of a year.
public enum CSVWriter {
    public static let separator = UInt8(ascii: ";")

    /// Whether a spreadsheet would read a field starting with `byte` as a formula.
    @inline(__always)
    public static func startsFormula(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "=") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "@")
            || byte == 9 || byte == 13
    }

    @inline(__always)
    static func needsQuotes(_ byte: UInt8) -> Bool {
        byte == separator || byte == UInt8(ascii: "\"") || byte == 10 || byte == 13
    }

    /// Appends one field: neutralised if it starts like a formula, quoted if it must be.
    public static func appendField(_ out: inout [UInt8], _ value: String) {
        var value = value
        value.withUTF8 { appendField(&out, bytes: $0) }
    }

    /// Appends one field given as UTF-8 bytes.
    public static func appendField(_ out: inout [UInt8], bytes u: UnsafeBufferPointer<UInt8>) {
        let formula = u.first.map(startsFormula) ?? false
        if !u.contains(where: needsQuotes) {
            if formula { out.append(UInt8(ascii: "'")) }
            out.append(contentsOf: u)
            return
        }
        out.append(UInt8(ascii: "\""))
        if formula { out.append(UInt8(ascii: "'")) }
        for b in u {
            out.append(b)
            if b == UInt8(ascii: "\"") { out.append(b) }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// One field as text.
    public static func field(_ value: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(value.utf8.count + 3)
        appendField(&out, value)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends a whole row (fields joined by `;`, then LF).
    public static func appendRow(_ out: inout [UInt8], _ fields: [String]) {
        for (i, f) in fields.enumerated() {
            if i > 0 { out.append(separator) }
            appendField(&out, f)
        }
        out.append(10)
    }

    /// A whole row as text, with its LF.
    public static func row(_ fields: [String]) -> String {
        var out = [UInt8]()
        appendRow(&out, fields)
        return String(decoding: out, as: UTF8.self)
    }
}
