import LotseCore
import LotseQR

/// The printed ticket as a 58 mm thermal printer prints it: 384 dots wide at 203 dpi (8 dots per mm), text in
/// the built-in 5 × 8 font at twice or three times its size, the QR code about 37 mm wide with its quiet zone.
struct TicketPrint {
    static let width = 384
    static let dotsPerMillimetre = 8
    /// The code itself (without quiet zone) at most 45 mm wide.
    static let maxCodeDots = 45 * dotsPerMillimetre

    private var bitmap = Bitmap(width: Self.width, height: 0)
    private var y = 16

    /// Lays out `ticket` with its `url` and the `offence` text; `payBy` is the payment deadline.
    static func render(_ ticket: Ticket, offenceText: String, payBy: CivilDate, url: String) throws -> Bitmap {
        var layout = TicketPrint()
        let local = BerlinTime.local(ticket.issuedAt)
        layout.line(ticket.city, scale: 3, centered: true)
        layout.line("Verwarnung / Parking ticket", scale: 2, centered: true)
        layout.rule()
        layout.line("Nr. \(ticket.ticketNumber)", scale: 3)
        layout.line("Gerät / Device \(ticket.deviceID)", scale: 2)
        if !ticket.officerID.isEmpty { layout.line("Dienstnr. / Officer \(ticket.officerID)", scale: 2) }
        layout.line("\(local.date.german), \(local.clock) Uhr", scale: 2)
        layout.space()
        layout.line("Tatort / Place:", scale: 2)
        layout.line([ticket.street, ticket.houseNumber].filter { !$0.isEmpty }.joined(separator: " "), scale: 2)
        if !ticket.placeNote.isEmpty { layout.line(ticket.placeNote, scale: 2) }
        layout.line([ticket.zip, ticket.city].filter { !$0.isEmpty }.joined(separator: " "), scale: 2)
        layout.space()
        layout.line("Kennzeichen / Plate:", scale: 2)
        layout.line(ticket.plate, scale: 3)
        layout.space()
        layout.line("Tatbestand / Offence \(ticket.tbnr):", scale: 2)
        layout.line(offenceText, scale: 2)
        layout.space()
        layout.line("Betrag / Amount:", scale: 2)
        layout.line(Money.display(ticket.amountCents, language: "de"), scale: 3)
        layout.line("Zahlen bis / Pay by: \(payBy.german)", scale: 2)
        layout.rule()
        layout.line("Scannen und zahlen / Scan & pay", scale: 2, centered: true)
        try layout.code(url)
        layout.line(url, scale: 2)
        layout.y += 48  // paper to tear off
        layout.bitmap.resize(height: layout.y)
        return layout.bitmap
    }

    /// Text, wrapped at spaces (a word longer than a line is cut), one or more lines.
    mutating func line(_ text: String, scale: Int, centered: Bool = false) {
        let advance = (Font.glyphWidth + 1) * scale
        let perLine = Self.width / advance
        for row in Self.wrap(text, width: perLine) {
            let lineHeight = (Font.glyphHeight + 2) * scale
            grow(to: y + lineHeight)
            var x = centered ? (Self.width - row.count * advance + scale) / 2 : 0
            for character in row {
                draw(character, x: x, scale: scale)
                x += advance
            }
            y += lineHeight
        }
    }

    /// A line of `width` characters at most each: words kept whole where they fit.
    static func wrap(_ text: String, width: Int) -> [[Character]] {
        var lines: [[Character]] = []
        var current: [Character] = []
        for word in text.split(separator: " ", omittingEmptySubsequences: true) {
            var word = Array(word)
            if !current.isEmpty && current.count + 1 + word.count <= width {
                current += [" "] + word
                continue
            }
            if !current.isEmpty { lines.append(current) }
            while word.count > width {
                lines.append(Array(word.prefix(width)))
                word.removeFirst(width)
            }
            current = word
        }
        if !current.isEmpty || lines.isEmpty { lines.append(current) }
        return lines
    }

    private mutating func draw(_ character: Character, x: Int, scale: Int) {
        for (row, bits) in Font.glyph(character).enumerated() {
            for column in 0..<Font.glyphWidth where bits & (0x10 >> UInt8(column)) != 0 {
                bitmap.fill(x: x + column * scale, y: y + row * scale, width: scale, height: scale)
            }
        }
    }

    /// A horizontal rule across the paper, with space around it.
    mutating func rule() {
        grow(to: y + 16)
        bitmap.fill(x: 0, y: y + 6, width: Self.width, height: 3)
        y += 16
    }

    mutating func space() { y += 8 }

    /// The QR code (level M), centred, with a whole number of dots per module: as large as the paper allows with
    /// the quiet zone of 4 modules, the code itself at most 45 mm (version 4: 9 dots, 37 mm).
    mutating func code(_ text: String) throws {
        let code = try QRCode(text, level: .M)
        let total = code.width + 2 * QRCode.quietZone
        let moduleSize = max(1, min(Self.width / total, Self.maxCodeDots / code.width))
        let codeDots = code.width * moduleSize
        let quiet = QRCode.quietZone * moduleSize
        grow(to: y + codeDots + 2 * quiet)
        bitmap.draw(code, x: (Self.width - codeDots) / 2, y: y + quiet, moduleSize: moduleSize)
        y += codeDots + 2 * quiet
    }

    private mutating func grow(to height: Int) {
        if height > bitmap.height { bitmap.resize(height: height) }
    }
}
