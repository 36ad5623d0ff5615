import Foundation
import LotseCore

#if canImport(FoundationXML)
import FoundationXML
#endif

/// One record of an XML export, with where it started in the file.
struct XMLRecord {
    var raw: RawTicket
    var number: Int
    var line: Int
    var summary: String
    /// Set when the record cannot be read as one (a record nested in a record): it is rejected with this reason.
    var rejected: String? = nil
}

/// Streams an XML export through the SAX parser (libxml2), never loading it whole, and hands each
/// record (`Fall` of WiNOWiG, `Bestand` of xOWi) to `onRecord` as soon as it is complete.
final class XMLRecordParser: NSObject, XMLParserDelegate {
    enum Kind { case winowig, xowi }

    let kind: Kind
    let path: String
    let onRecord: (XMLRecord) throws -> Void
    var callbackError: Error?

    private var stack: [String] = []
    private var text = ""
    private var count = 0
    private var recordLine = 0
    private var inRecord = false
    // WiNOWiG
    private var officer: String?
    private var origin: String?
    private var fields: [String: String] = [:]
    private var places: [String] = []
    private var tbnr: String?
    private var gps: String?
    private var photos: [EvidencePhoto] = []
    private var textCut = false
    // xOWi
    private var attributes: [String: String] = [:]
    private var sawRoot = false
    // records inside records: both are rejected, none is lost
    private var recordDepth = 0
    private var recordNumber = 0
    private var nestedRecords = 0

    static let xowiNamespace = "http://www.owi21.de"

    /// The namespace of every element Lotse reads: xOWi's, or none for WiNOWiG.
    var expectedNamespace: String? { kind == .xowi ? Self.xowiNamespace : nil }
    var recordElement: String { kind == .xowi ? "Bestand" : "Fall" }

    private func inExpectedNamespace(_ uri: String?) -> Bool {
        let u = (uri?.isEmpty ?? true) ? nil : uri
        return u == expectedNamespace
    }

    init(kind: Kind, path: String, onRecord: @escaping (XMLRecord) throws -> Void) {
        self.kind = kind
        self.path = path
        self.onRecord = onRecord
    }

    func run() throws {
        let (parser, ok) = try XMLStream.parse(path: path, delegate: self)
        if let e = callbackError { throw e }
        if !ok {
            throw LotseError.input(
                "\(path):\(max(parser.lineNumber, 1)): XML is not well-formed, the file was not imported (\(XMLStream.reason(parser)))"
            )
        }
        if !sawRoot { throw LotseError.input("\(path):1: no XML content") }
        // libxml2's push parser can end without an error on a file cut short: an open element means truncation.
        if let open = stack.last {
            throw LotseError.input(
                "\(path):\(max(parser.lineNumber, 1)): XML is not well-formed, the file ends inside <\(open)> (truncated?); the file was not imported"
            )
        }
    }

    func parser(
        _ parser: XMLParser,
        didStartElement name: String,
        namespaceURI: String?,
        qualifiedName: String?,
        attributes attrs: [String: String] = [:]
    ) {
        if !sawRoot {
            sawRoot = true
            if !inExpectedNamespace(namespaceURI) {
                let found = (namespaceURI?.isEmpty ?? true) ? "no namespace" : "the namespace '\(XMLStream.shown(namespaceURI!))'"
                let wanted = expectedNamespace.map { "the namespace \($0)" } ?? "no namespace"
                callbackError = LotseError.input(
                    "\(path):\(max(parser.lineNumber, 1)): the root element <\(name)> is in \(found), not in \(wanted); the file was not imported"
                )
                parser.abortParsing()
                return
            }
        }
        stack.append(name)
        text = ""
        textCut = false
        // elements of other namespaces are not part of the format: tolerated and ignored
        guard inExpectedNamespace(namespaceURI), callbackError == nil else { return }
        if name == recordElement {
            count += 1
            if inRecord {
                // a record inside a record: neither can be read as one ticket
                nestedRecords += 1
                emit(
                    parser,
                    XMLRecord(
                        raw: RawTicket(),
                        number: count,
                        line: parser.lineNumber,
                        summary: "<\(name)> inside a <\(name)>",
                        rejected: "a <\(name)> nested inside the <\(name)> of line \(recordLine)"
                    )
                )
                return
            }
            inRecord = true
            recordDepth = stack.count
            recordNumber = count
            nestedRecords = 0
            recordLine = parser.lineNumber
        }
        switch kind {
        case .winowig:
            switch name {
            case "Header":
                officer = attrs["Sachbearbeitername"]
                origin = attrs["Herkunft"]
            case "Fall" where stack.count == recordDepth:
                fields = [:]
                places = []
                tbnr = nil
                gps = attrs["GPS"]
                photos = []
            case "Bild" where inRecord:
                // a photo named by its file in the same upload (the element may instead hold `Dateiname` or `Daten`)
                if let name = attrs["Dateiname"]?.trimmingSpaces(), !name.isEmpty { addPhoto(.file(name)) }
            default: break
            }
        case .xowi:
            if name == "Bestand" && stack.count == recordDepth {
                attributes = attrs
                tbnr = nil
            } else if name == "Tatbestand" && inRecord && tbnr == nil {
                tbnr = attrs["TBNr"]
            }
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard inRecord else { return }
        // an element's text is kept up to what a photo in base64 may be; beyond, the value is cut (and refused)
        if text.utf8.count <= Self.maxTextBytes {
            text += string
        } else {
            textCut = true
        }
    }

    /// 10 MB in base64 with line breaks, and some.
    static let maxTextBytes = 15_000_000

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        defer {
            if !stack.isEmpty { stack.removeLast() }
            text = ""
        }
        guard inRecord, callbackError == nil, inExpectedNamespace(namespaceURI) else { return }
        if name == recordElement {
            guard stack.count == recordDepth else { return }  // the end of a nested record, rejected at its start
            if nestedRecords > 0 {
                inRecord = false
                var r = kind == .winowig ? winowigRecord() : xowiRecord()
                r.rejected = "contains \(nestedRecords) nested <\(name)> record\(nestedRecords == 1 ? "" : "s")"
                emit(parser, r)
                return
            }
        }
        switch kind {
        case .winowig:
            let parent = stack.count >= 2 ? stack[stack.count - 2] : ""
            let value = text.trimmingSpaces()
            switch name {
            case "Kennzeichen", "Nationalitaet", "Fabrikat", "Farbe":
                if parent == "Fahrzeug" { fields[name] = value }
            case "Von", "Bis":
                if parent == "Tattag" || parent == "Tatzeit" { fields[parent + "/" + name] = value }
            case "Tatbestandsnummer":
                if tbnr == nil { tbnr = value }
            case "Dateiname" where parent == "Bild":
                if !value.isEmpty { addPhoto(.file(value)) }
            case "Daten" where parent == "Bild":
                // the picture itself, base64 (line breaks allowed); what does not decode is an empty photo, which the
                // importer reports
                if textCut {
                    addPhoto(.oversized)
                } else if photos.count <= PhotoIntake.maxPerTicket {
                    addPhoto(.bytes(Data(base64Encoded: value, options: .ignoreUnknownCharacters).map { [UInt8]($0) } ?? []))
                }
            case "Tatort":
                for line in value.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
                    let l = String(line).trimmingSpaces()
                    if !l.isEmpty { places.append(l) }
                }
            case "Fall":
                inRecord = false
                emit(parser, winowigRecord())
            default: break
            }
        case .xowi:
            if name == "Bestand" {
                inRecord = false
                emit(parser, xowiRecord())
            }
        }
    }

    /// Keeps one photo more than a ticket may have (so the importer can say so), no more: memory stays bounded.
    private func addPhoto(_ photo: EvidencePhoto) {
        if photos.count <= PhotoIntake.maxPerTicket { photos.append(photo) }
    }

    private func emit(_ parser: XMLParser, _ r: XMLRecord) {
        do { try onRecord(r) } catch {
            callbackError = error
            parser.abortParsing()
        }
    }

    /// `Fackelstraße 12` → (`Fackelstraße`, `12`)
    static func splitStreet(_ s: String) -> (String, String?) {
        let parts = s.split(separator: " ")
        if parts.count >= 2, let last = parts.last, last.first?.isNumber == true {
            return (parts.dropLast().joined(separator: " "), String(last))
        }
        return (s, nil)
    }

    /// `67655 Kaiserslautern` → (`67655`, `Kaiserslautern`)
    static func splitZipCity(_ s: String) -> (String?, String)? {
        let t = s.trimmingSpaces()
        let parts = t.split(separator: " ", maxSplits: 1)
        if parts.count == 2, parts[0].count == 5, parts[0].allSatisfy({ $0.isNumber }) {
            return (String(parts[0]), String(parts[1]).trimmingSpaces())
        }
        return nil
    }

    private func winowigRecord() -> XMLRecord {
        var r = RawTicket()
        r.plate = fields["Kennzeichen"]
        r.plateCountry = fields["Nationalitaet"]
        r.vehicleMake = fields["Fabrikat"]
        r.vehicleColor = fields["Farbe"]
        if let d = fields["Tattag/Von"], let t = fields["Tatzeit/Von"] { r.issuedAt = d + " " + t }
        r.tbnr = tbnr
        r.officerID = officer
        r.deviceID = origin
        r.photos = photos
        if let first = places.first {
            let (street, no) = Self.splitStreet(first)
            r.street = street
            r.houseNo = no
        }
        if places.count >= 2, let zc = Self.splitZipCity(places[places.count - 1]) {
            r.zip = zc.0
            r.city = zc.1
            if places.count >= 3 { r.placeNote = places[1] }
        }
        if let g = gps {
            let p = g.split(separator: ";")
            if p.count == 2 {
                r.lat = String(p[0])
                r.lon = String(p[1])
            }
        }
        let key = [r.plate ?? "", fields["Tattag/Von"] ?? "", fields["Tatzeit/Von"] ?? "", tbnr ?? "", places.first ?? ""]
            .map { $0.trimmingSpaces() }.joined(separator: "\u{1F}")
        r.sourceID = "WN/" + (officer ?? "") + "/" + SourceHash.hex(key)
        let summary =
            "Kennzeichen=\(r.plate ?? ""), Tattag=\(fields["Tattag/Von"] ?? ""), Tatzeit=\(fields["Tatzeit/Von"] ?? ""), Tatbestandsnummer=\(tbnr ?? ""), Tatort=\(places.joined(separator: " / "))"
        return XMLRecord(raw: r, number: recordNumber, line: recordLine, summary: summary)
    }

    private func xowiRecord() -> XMLRecord {
        var r = RawTicket()
        let a = attributes
        if let guid = a["GUID"]?.trimmingSpaces(), !guid.isEmpty { r.sourceID = "XO/" + guid }
        r.deviceID = a["GMK"]
        r.plate = a["KFZ_Kennzeichen"]
        if let d = a["Tattag"], let t = a["Tatzeit"] { r.issuedAt = d + "T" + t }
        r.tbnr = tbnr
        r.city = a["Gemarkung"]
        if let place = a["Tatort"] {
            let parts = place.split(separator: ",").map { String($0).trimmingSpaces() }
            if let first = parts.first {
                let (street, no) = Self.splitStreet(first)
                r.street = street
                r.houseNo = no
            }
            if parts.count >= 2, let zc = Self.splitZipCity(parts[parts.count - 1]) {
                r.zip = zc.0
                if r.city?.trimmingSpaces().isEmpty ?? true { r.city = zc.1 }
                if parts.count >= 3 { r.placeNote = parts[1..<parts.count - 1].joined(separator: ", ") }
            } else if parts.count >= 2 {
                r.placeNote = parts[1...].joined(separator: ", ")
            }
        }
        let summary = a.keys.sorted().map { "\($0)=\(a[$0]!)" }.joined(separator: ", ") + ", TBNr=\(tbnr ?? "")"
        return XMLRecord(raw: r, number: recordNumber, line: recordLine, summary: summary)
    }
}

/// A stable 64-bit FNV-1a hash for source ids of exports that carry no ticket number.
enum SourceHash {
    static func hex(_ s: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
