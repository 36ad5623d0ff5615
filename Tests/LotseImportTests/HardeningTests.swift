import Foundation
import GRDB
import LotseCore
import LotseImport
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Issue 12, importer: hostile and careless files. Each test failed on the importer before the fix.
let fullHeader = "ticket_no;device_id;issued_at;plate;tbnr;street;city;lat;lon;vehicle_make;vehicle_color"

func fullRow(
    _ n: Int,
    issued: String = "2026-03-14T08:00",
    plate: String? = nil,
    street: String = "Markt",
    lat: String = "",
    lon: String = "",
    make: String = "",
    color: String = ""
) -> String {
    "\(n);HH-1;\(issued);\(plate ?? "KL-AB \(n)");141312;\(street);Kaiserslautern;\(lat);\(lon);\(make);\(color)"
}

extension ImportFixture {
    func column(_ name: String) throws -> [String?] {
        try store.read { try String?.fetchAll($0, sql: "SELECT \(name) FROM cases ORDER BY id") }
    }
}

@Suite struct CSVQuotingTests {
    /// `silber"` and `15" Felgen` are text: a quote opens a field only at its start (RFC 4180).
    @Test func aQuoteInsideAFieldIsAPlainCharacter() throws {
        let f = try ImportFixture()
        let rows = [
            fullHeader, fullRow(1, color: "silber\""), fullRow(2), fullRow(3, make: "VW 15\" Felgen"),
            fullRow(4), fullRow(5, color: "\"rot\""), fullRow(6),
        ]
        let s = try f.importer.importFile(f.file("quotes.csv", rows.joined(separator: "\n") + "\n"))
        #expect(s.imported == 6 && s.rejected == 0 && s.duplicates == 0, "\(s.line)")
        #expect(try f.column("vehicle_color") == ["silber\"", nil, nil, nil, "rot", nil])
        #expect(try f.column("vehicle_make")[2] == "VW 15\" Felgen")
    }

    /// A malformed quoted field is one rejected row with its line number; the rows after it still import.
    @Test func aMalformedQuotedFieldIsARejectedRowNotALostFile() throws {
        let f = try ImportFixture()
        let rows = [
            fullHeader, fullRow(1), fullRow(2, color: "\"rot\"x"), fullRow(3),
            fullRow(4, color: "\"never closed"), fullRow(5), fullRow(6),
        ]
        let s = try f.importer.importFile(f.file("bad-quotes.csv", rows.joined(separator: "\n") + "\n"))
        #expect(s.imported == 4 && s.rejected == 2, "\(s.line)")
        let rejects = try f.rejects(s)
        #expect(rejects.count == 2)
        #expect(rejects[0].hasPrefix("3;") && rejects[0].contains("text after the closing quote"), "\(rejects)")
        #expect(rejects[1].hasPrefix("5;") && rejects[1].contains("never closed"), "\(rejects)")
        #expect(try f.column("ticket_no") == ["1", "3", "5", "6"])
    }

    /// A quote that is never closed on the last line is rejected too.
    @Test func anUnclosedQuoteOnTheLastLine() throws {
        let f = try ImportFixture()
        let s = try f.importer.importFile(f.file("last.csv", [fullHeader, fullRow(1), fullRow(2, color: "\"open")].joined(separator: "\n")))
        #expect(s.imported == 1 && s.rejected == 1)
        #expect(try f.rejects(s).first?.hasPrefix("3;") == true)
    }

    /// Quoted fields may hold `;`, `""` and line ends (CRLF or LF): one record, and the line numbers after it stay right.
    @Test func quotedFieldsSpanLinesAndLineNumbersStayRight() throws {
        let f = try ImportFixture()
        let text =
            fullHeader + "\r\n" + fullRow(1, street: "\"Markt; Ecke\r\nNord \"\"A\"\"\"") + "\r\n" + fullRow(2) + "\r\n"
            + fullRow(3, plate: "???") + "\r\n"
        let s = try f.importer.importFile(f.file("multi.csv", text))
        #expect(s.imported == 2 && s.rejected == 1)
        #expect(try f.cases().first?.street == "Markt; Ecke\r\nNord \"A\"")
        #expect(try f.rejects(s).first?.hasPrefix("5;") == true)  // header 1, record 2-3, row 4, bad row 5
    }
}

@Suite struct CSVLineEndTests {
    /// Old Excel on the Mac writes CR only.
    @Test func crOnlyLineEnds() throws {
        let f = try ImportFixture()
        let text = [fullHeader, fullRow(1), fullRow(2, plate: "???"), fullRow(3)].joined(separator: "\r") + "\r"
        let s = try f.importer.importFile(f.file("mac.csv", text))
        #expect(s.imported == 2 && s.rejected == 1, "\(s.line)")
        #expect(try f.rejects(s).first?.hasPrefix("3;") == true)
    }

    /// CR, LF and CRLF mixed in one file, and a bare CR in the middle of a row: each one ends a line.
    @Test func mixedLineEndsAndABareCR() throws {
        let f = try ImportFixture()
        let text =
            fullHeader + "\r\n" + fullRow(1) + "\n" + fullRow(2) + "\r" + fullRow(3) + "\r\n"
            + "4;HH-1;2026-03-14T08:00;KL-AB 4\r" + fullRow(5) + "\n"
        let s = try f.importer.importFile(f.file("mixed.csv", text))
        #expect(s.imported == 4 && s.rejected == 1, "\(s.line)")
        #expect(try f.column("ticket_no") == ["1", "2", "3", "5"])
        let r = try f.rejects(s)
        #expect(r.first?.hasPrefix("5;") == true && r.first?.contains("missing") == true, "\(r)")
    }
}

@Suite struct TrimmingTests {
    /// `trimmingSpaces` cut UTF-8 characters whose last byte is 0xA0 (à, Š, †) as if it were NBSP.
    @Test func unicodeIsTrimmedByCharacterNeverCut() {
        #expect("Via Nicolà".trimmingSpaces() == "Via Nicolà")
        #expect("Š".trimmingSpaces() == "Š")
        #expect("Kreuz †".trimmingSpaces() == "Kreuz †")
        #expect("Iğdır".trimmingSpaces() == "Iğdır")
        #expect("ı".trimmingSpaces() == "ı")
        #expect("\u{A0} Markt\u{A0}\t\r\n".trimmingSpaces() == "Markt")
        #expect("\u{2003}\u{3000}Weg\u{202F}".trimmingSpaces() == "Weg")
        #expect("   ".trimmingSpaces() == "")
        #expect("".trimmingSpaces() == "")
        #expect("plain".trimmingSpaces() == "plain")
    }

    @Test func importedValuesKeepTheirLastCharacter() throws {
        let f = try ImportFixture()
        let rows = [
            fullHeader,
            fullRow(1, street: "Via Nicolà", make: "Škoda Š", color: "Kreuz †"),
            fullRow(2, street: "\u{A0}Hauptstraße\u{A0}", make: "Fıat ı", color: "\u{A0}"),
        ]
        let s = try f.importer.importFile(f.file("utf8.csv", rows.joined(separator: "\n") + "\n"))
        #expect(s.imported == 2)
        #expect(try f.cases().map(\.street) == ["Via Nicolà", "Hauptstraße"])
        #expect(try f.column("vehicle_make") == ["Škoda Š", "Fıat ı"])
        #expect(try f.column("vehicle_color") == ["Kreuz †", nil])
    }
}

@Suite struct PlausibilityTests {
    @Test func implausibleTimesAndCoordinatesAreRejected() throws {
        let f = try ImportFixture()
        let now = BerlinTime.utc(date: CivilDate(iso: "2026-03-15")!, hour: 12, minute: 0)
        let importer = Importer(store: f.store, config: f.config, catalogue: f.importer.catalogue)
        let rows = [
            fullHeader,
            fullRow(1),  // ok
            fullRow(2, issued: "9999-03-14T08:00"),
            fullRow(3, issued: "2100-01-01T08:00"),
            fullRow(4, issued: "2026-03-17T08:00"),  // two days ahead
            fullRow(5, issued: "2026-03-16T08:00"),  // tomorrow morning: a drifting clock, ok
            fullRow(6, issued: "1999-12-31T08:00"),
            fullRow(7, lat: "0x10", lon: "7.7"),
            fullRow(8, lat: "49.4", lon: "1e2"),
            fullRow(9, lat: "nan", lon: "7.7"),
            fullRow(10, lat: "inf", lon: "7.7"),
            fullRow(11, lat: "91", lon: "7.7"),
            fullRow(12, lat: "49,4447", lon: "-7.769"),  // ok, decimal comma
            fullRow(13, lat: ".5", lon: "7"),
        ]
        let s = try importer.importFile(f.file("plausible.csv", rows.joined(separator: "\n") + "\n"), now: now)
        #expect(s.imported == 3 && s.rejected == 10, "\(s.line)")
        let r = try f.rejects(s)
        #expect(r.map { String($0.prefix { $0 != ";" }) } == ["3", "4", "5", "7", "8", "9", "10", "11", "12", "14"])
        #expect(r[0].contains("more than a day in the future") && r[3].contains("before 2000"), "\(r)")
        #expect(r[4].contains("lat '0x10' is not a plain decimal number") && r[5].contains("lon '1e2'"), "\(r)")
        #expect(try f.column("ticket_no") == ["1", "5", "12"])
    }

    /// NUL or other control bytes anywhere in a row reject the row, also after the first 64 KB (format detection).
    @Test func controlBytesRejectTheRowEvenAfter64KB() throws {
        let f = try ImportFixture()
        var bytes = Array((fullHeader + "\n").utf8)
        var n = 0
        while bytes.count < 70_000 {
            n += 1
            bytes += Array((fullRow(n) + "\n").utf8)
        }
        bytes += Array("\(n + 1);HH-1;2026-03-14T08:00;KL-AB 1;141312;Mar".utf8) + [0] + Array("kt;Kaiserslautern;;;;\n".utf8)
        bytes += Array("\(n + 2);HH-1;2026-03-14T08:00;KL-AB 2;141312;Markt;Kaiserslautern;;;\u{07}bell;\n".utf8)
        bytes += Array((fullRow(n + 3) + "\n").utf8)
        let s = try f.importer.importFile(f.file("nul.csv", bytes: bytes))
        #expect(s.imported == n + 1 && s.rejected == 2, "\(s.line)")
        let r = try f.rejects(s)
        #expect(r.first?.contains("NUL") == true && r.last?.contains("control character 0x7") == true, "\(r)")
    }

    /// A 100 MB field is never stored: the row is rejected, its raw text in the rejects file is cut, the rest imports.
    @Test func aHugeFieldIsRejectedAndNotStored() throws {
        let f = try ImportFixture()
        var bytes = Array((fullHeader + "\n" + fullRow(1) + "\n").utf8)
        bytes +=
            Array("2;HH-1;2026-03-14T08:00;KL-AB 2;141312;".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 100 << 20)
            + Array(";Kaiserslautern;;;;\n".utf8)
        bytes += Array((fullRow(3, street: String(repeating: "y", count: 5000)) + "\n").utf8)
        bytes += Array((fullRow(4) + "\n").utf8)
        let s = try f.importer.importFile(f.file("huge.csv", bytes: bytes))
        #expect(s.imported == 2 && s.rejected == 2, "\(s.line)")
        let r = try f.rejects(s)
        #expect(r[0].hasPrefix("3;") && r[0].contains("longer than 1 MiB"), "\(r[0].prefix(200))")
        #expect(r[1].hasPrefix("4;") && r[1].contains("longer than 1024 bytes"), "\(r[1].prefix(200))")
        let size = (try FileManager.default.attributesOfItem(atPath: s.rejectsFile!)[.size] as? Int) ?? 0
        #expect(size < 10_000)
        #expect(try f.column("ticket_no") == ["1", "4"])
    }
}

@Suite struct CSVFormulaTests {
    /// Text that a spreadsheet runs as a formula reaches the rejects file as text (`'` in front).
    @Test func rejectsFileNeutralisesFormulas() throws {
        let f = try ImportFixture()
        let rows = [
            fullHeader, "=HYPERLINK(\"http://x\");HH-1;2026-03-14T08:00;???;141312;Markt;Kaiserslautern;;;;",
            "+1;HH-1;2026-03-14T08:00;???;141312;Markt;Kaiserslautern;;;;",
            "@SUM(A1);HH-1;2026-03-14T08:00;???;141312;Markt;Kaiserslautern;;;;",
        ]
        let s = try f.importer.importFile(f.file("formula.csv", rows.joined(separator: "\n") + "\n"))
        #expect(s.rejected == 3)
        let lines = try String(contentsOfFile: s.rejectsFile!, encoding: .utf8).split(separator: "\n").dropFirst()
        for line in lines {
            let raw = line.split(separator: ";", maxSplits: 2).last.map(String.init) ?? ""
            #expect(raw.hasPrefix("'") || raw.hasPrefix("\"'"), "\(line)")
        }
    }

    @Test func theOneWriterQuotesAndNeutralises() {
        for start in ["=", "+", "-", "@", "\t", "\r"] {
            let field = CSVWriter.field(start + "1+1")
            #expect(field.hasPrefix("'") || field.hasPrefix("\"'"), "\(start.debugDescription)")
        }
        #expect(CSVWriter.field("KL-AB 1") == "KL-AB 1")
        #expect(CSVWriter.field("a;b") == "\"a;b\"")
        #expect(CSVWriter.field("a\rb") == "\"a\rb\"")
        #expect(CSVWriter.field("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSVWriter.field("=1;2") == "\"'=1;2\"")
        #expect(CSVWriter.row(["1", "=x", ""]) == "1;'=x;\n")
    }
}

@Suite struct XMLHardeningTests {
    static let xowiHead = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Datenstrom xmlns=\"http://www.owi21.de\"><Bestaende><Hinzufuegen>\n"
    static let xowiTail = "</Hinzufuegen></Bestaende></Datenstrom>\n"
    static func bestand(_ n: Int, extra: String = "") -> String {
        "<Bestand GMK=\"07312000\" GUID=\"g\(n)\" Gemarkung=\"Kaiserslautern\" Tatort=\"Markt 1, 67655 Kaiserslautern\" Tattag=\"2026-03-16\" Tatzeit=\"09:00\" KFZ_Kennzeichen=\"KL-AB \(n)\"\(extra)><Tatbestand TBNr=\"141312\"/></Bestand>\n"
    }

    func expectFileError(_ f: ImportFixture, _ name: String, _ bytes: [UInt8], _ words: String, seconds: Double = 5) {
        let p = f.file(name, bytes: bytes)
        let started = Date()
        #expect { try f.importer.importFile(p) } throws: { e in
            let t = "\(e)"
            return t.hasPrefix(p + ":") && t.contains(words) && !t.contains("\n") && !t.contains("NSXMLParserErrorDomain")
        }
        #expect(Date().timeIntervalSince(started) < seconds, "\(name) took \(Date().timeIntervalSince(started)) s")
        #expect((try? f.count()) == 0)
    }

    /// Invalid UTF-8 in an element name, an attribute name or a comment ended the process inside XMLParser.
    @Test func invalidUTF8IsOneErrorLineNotACrash() throws {
        let f = try ImportFixture()
        let head = Array(Self.xowiHead.utf8)
        expectFileError(
            f,
            "name.xml",
            head + Array("<Best".utf8) + [0xFF, 0xFE] + Array("and GMK=\"1\"/>".utf8) + Array(Self.xowiTail.utf8),
            "not valid UTF-8"
        )
        expectFileError(
            f,
            "attr.xml",
            head + Array("<Bestand G".utf8) + [0xC3] + Array("MK=\"1\"/>".utf8) + Array(Self.xowiTail.utf8),
            "not valid UTF-8"
        )
        expectFileError(
            f,
            "comment.xml",
            Array("<?xml version=\"1.0\"?>\n<OWIGMDEData Version=\"3.1\">\n<!-- ".utf8) + [0xFF, 0xC0, 0x80]
                + Array(" -->\n<Header Herkunft=\"x\"/></OWIGMDEData>\n".utf8),
            "comment.xml:3: bytes that are not valid UTF-8"
        )
        expectFileError(
            f,
            "overlong.xml",
            head + Array("<Bestand GMK=\"".utf8) + [0xE0, 0x80, 0xAF] + Array("\"/>".utf8) + Array(Self.xowiTail.utf8),
            "not valid UTF-8"
        )
        expectFileError(
            f,
            "surrogate.xml",
            head + Array("<Bestand GMK=\"".utf8) + [0xED, 0xA0, 0x80] + Array("\"/>".utf8) + Array(Self.xowiTail.utf8),
            "not valid UTF-8"
        )
        expectFileError(f, "utf16.xml", [0xFF, 0xFE] + Array("<".utf8), "UTF-16")
        expectFileError(f, "ebcdic.xml", Array("<?xml version=\"1.0\" encoding=\"EBCDIC-US\"?><Datenstrom/>".utf8), "encoding")
        // the parser's own errors are words too
        expectFileError(
            f,
            "mismatch.xml",
            Array((Self.xowiHead + "<Bestand></Bstand>" + Self.xowiTail).utf8),
            "an end tag does not match its start tag"
        )
    }

    /// ISO-8859-1 files (any byte is a character there) still import.
    @Test func latin1DeclaredFilesImport() throws {
        let f = try ImportFixture()
        let text = Self.xowiHead.replacingOccurrences(of: "UTF-8", with: "ISO-8859-1") + Self.bestand(1) + Self.xowiTail
        var bytes = Array(text.utf8)
        let markt = Array("Markt".utf8)
        let i = (0..<bytes.count).first { Array(bytes[$0..<min(bytes.count, $0 + 5)]) == markt }!
        bytes.insert(0xE4, at: i + 1)  // "Markt" → "Mäarkt", ä as the one Latin-1 byte 0xE4
        let s = try f.importer.importFile(f.file("latin1.xml", bytes: bytes))
        #expect(s.imported == 1)
        #expect(try f.cases().first?.street == "Mäarkt")
    }

    @Test func hugeAttributeAndReferenceCountsAreRefusedFast() throws {
        let f = try ImportFixture()
        let attrs = (0..<200_000).map { "a\($0)=\"1\"" }.joined(separator: " ")
        expectFileError(f, "attrs.xml", Array((Self.xowiHead + "<Bestand \(attrs)/>" + Self.xowiTail).utf8), "more than 256 attributes", seconds: 3)
        let refs = String(repeating: "&amp;", count: 300_000)
        let winowig =
            "<?xml version=\"1.0\"?>\n<OWIGMDEData Version=\"3.1\"><Header Herkunft=\"x\"/><Mandant><Fall><Bemerkungen>\(refs)</Bemerkungen></Fall></Mandant></OWIGMDEData>\n"
        expectFileError(f, "refs.xml", Array(winowig.utf8), "more than 1024 entity or character references", seconds: 3)
        let attrRefs = Self.xowiHead + Self.bestand(1, extra: " X=\"\(String(repeating: "&#65;", count: 300_000))\"") + Self.xowiTail
        expectFileError(f, "attr-refs.xml", Array(attrRefs.utf8), "references", seconds: 3)
        let deep = Self.xowiHead + String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000) + Self.xowiTail
        expectFileError(f, "deep.xml", Array(deep.utf8), "nested more than 64 deep", seconds: 3)
        let dtd =
            "<?xml version=\"1.0\"?>\n<!DOCTYPE Datenstrom [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n<Datenstrom xmlns=\"http://www.owi21.de\">&b;</Datenstrom>"
        expectFileError(f, "dtd.xml", Array(dtd.utf8), "document type declaration", seconds: 3)
    }

    /// A 100 MB attribute value or element text is refused before anything is parsed or stored.
    @Test func aHugeFieldIsRefused() throws {
        let f = try ImportFixture()
        var bytes = Array((Self.xowiHead + "<Bestand GMK=\"07312000\" GUID=\"g1\" Gemarkung=\"").utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "K"), count: 100 << 20)
        bytes += Array(("\"/>" + Self.xowiTail).utf8)
        expectFileError(f, "huge-attr.xml", bytes, "a value longer than 64 KiB", seconds: 10)
        let text =
            "<?xml version=\"1.0\"?>\n<OWIGMDEData Version=\"3.1\"><Header Herkunft=\"x\"/><Mandant><Fall><Falldaten><Fahrzeug><Kennzeichen>"
            + String(repeating: "K", count: 200_000) + "</Kennzeichen></Fahrzeug></Falldaten></Fall></Mandant></OWIGMDEData>\n"
        expectFileError(f, "huge-text.xml", Array(text.utf8), "a value longer than 64 KiB")
        // below the parser's limit but above a value's: the record is rejected, not stored
        let s = try f.importer.importFile(
            f.file(
                "long.xml",
                Self.xowiHead
                    + Self.bestand(1).replacingOccurrences(
                        of: "Gemarkung=\"Kaiserslautern\"",
                        with: "Gemarkung=\"\(String(repeating: "K", count: 5000))\""
                    )
                    + Self.bestand(2) + Self.xowiTail
            )
        )
        #expect(s.imported == 1 && s.rejected == 1)
        let rejected = try #require(try f.rejects(s).first)
        #expect(rejected.contains("city is longer than 1024 characters"))
        // many long attributes below the parser's limits: the raw record in the rejects file is cut
        let wide = (0..<100).map { " A\($0)=\"\(String(repeating: "v", count: 60_000))\"" }.joined()
        let w = try f.importer.importFile(
            f.file("wide.xml", Self.xowiHead + Self.bestand(5, extra: wide).replacingOccurrences(of: "141312", with: "999999") + Self.xowiTail)
        )
        #expect(w.rejected == 1)
        let size = (try FileManager.default.attributesOfItem(atPath: w.rejectsFile!)[.size] as? Int) ?? 0
        #expect(size < 5_000, "\(size) bytes")
    }

    /// A record inside a record lost the outer one silently; now both are rejected with a reason.
    @Test func nestedRecordsAreRejectedNotLost() throws {
        let f = try ImportFixture()
        let nested = Self.bestand(1).replacingOccurrences(of: "</Bestand>\n", with: "") + Self.bestand(2) + "</Bestand>\n"
        let s = try f.importer.importFile(f.file("nested.xml", Self.xowiHead + nested + Self.bestand(3) + Self.xowiTail))
        #expect(s.imported == 1 && s.rejected == 2, "\(s.line)")
        let r = try f.rejects(s)
        #expect(r.contains { $0.contains("nested inside the <Bestand> of line 3") }, "\(r)")
        #expect(r.contains { $0.contains("contains 1 nested <Bestand> record") }, "\(r)")

        let sample = try String(contentsOfFile: TestSupport.pilotData + "/samples/winowig-mde-2026-03-15.xml", encoding: .utf8)
        // the second Fall moved into the first
        let parts = sample.components(separatedBy: "    </Fall>\n")
        let moved = parts[0] + parts[1] + "    </Fall>\n    </Fall>\n" + parts[2...].joined(separator: "    </Fall>\n")
        let w = try f.importer.importFile(f.file("nested-winowig.xml", moved))
        #expect(w.imported == 10 && w.rejected == 2, "\(w.line)")
    }

    /// A file in no or a wrong namespace was imported as if right.
    @Test func namespacesAreChecked() throws {
        let f = try ImportFixture()
        let body = Self.bestand(1) + Self.xowiTail
        expectFileError(
            f,
            "none.xml",
            Array(Self.xowiHead.replacingOccurrences(of: " xmlns=\"http://www.owi21.de\"", with: "").utf8) + Array(body.utf8),
            "is in no namespace, not in the namespace http://www.owi21.de"
        )
        expectFileError(
            f,
            "wrong.xml",
            Array(Self.xowiHead.replacingOccurrences(of: "www.owi21.de", with: "example.org/owi").utf8) + Array(body.utf8),
            "is in the namespace 'http://example.org/owi'"
        )
        let sample = try String(contentsOfFile: TestSupport.pilotData + "/samples/winowig-mde-2026-03-15.xml", encoding: .utf8)
        expectFileError(
            f,
            "winowig-ns.xml",
            Array(sample.replacingOccurrences(of: "<OWIGMDEData ", with: "<OWIGMDEData xmlns=\"urn:other\" ").utf8),
            "not in no namespace"
        )
        // what the file names stays on the error's one line
        expectFileError(
            f,
            "newline-ns.xml",
            Array(Self.xowiHead.replacingOccurrences(of: "www.owi21.de", with: "x&#10;y").utf8) + Array(body.utf8),
            "is in the namespace 'http://x?y'"
        )
        expectFileError(f, "newline-encoding.xml", Array("<?xml version=\"1.0\" encoding=\"ut\nf\"?>\n<Datenstrom/>".utf8), "the encoding 'ut?f'")
        // a record of another namespace inside a right file is not one of ours: ignored, the rest imports
        let foreign =
            Self.xowiHead
            + Self.bestand(1).replacingOccurrences(of: "<Bestand ", with: "<x:Bestand xmlns:x=\"urn:x\" ")
            .replacingOccurrences(of: "</Bestand>", with: "</x:Bestand>") + Self.bestand(2) + Self.xowiTail
        let s = try f.importer.importFile(f.file("foreign.xml", foreign))
        #expect(s.imported == 1 && s.rejected == 0)
    }
}

@Suite struct RejectsFileTests {
    /// The rejects file gets its name only when the import committed; a part file of a dead process goes.
    @Test func orphanPartFilesOfDeadProcessesAreRemoved() throws {
        let f = try ImportFixture()
        try FileManager.default.createDirectory(atPath: f.dir + "/rejects", withIntermediateDirectories: true)
        let orphan = f.dir + "/rejects/x.csv.20260101T000000Z.rejects.csv.999999999.part"
        let mine = f.dir + "/rejects/y.csv.20260101T000000Z.rejects.csv.\(getpid()).part"
        TestSupport.write(orphan, "line;reason;raw\n")
        TestSupport.write(mine, "line;reason;raw\n")
        let s = try f.importer.importFile(f.file("r.csv", fullHeader + "\n" + fullRow(1, plate: "???") + "\n"))
        #expect(s.rejected == 1)
        #expect(!FileManager.default.fileExists(atPath: orphan))
        #expect(FileManager.default.fileExists(atPath: mine))
        #expect(FileManager.default.fileExists(atPath: s.rejectsFile!) && s.rejectsFile!.hasSuffix(".rejects.csv"))
    }
}
