import Foundation
import GRDB
import LotseCore
import LotseImport
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// The warden's photos from handheld exports (issue 16): a CSV column naming files of the same upload, WiNOWiG's
/// `Bilder` (by file name or inline), a ZIP upload of an export with its photos. Each photo is checked by its content,
/// stored without its metadata (0600, outside any web root), and a photo that cannot be used is a warning naming the file
/// and the line: its ticket still imports.
@Suite struct PhotoImportTests {
    static let csvHeader = "ticket_no;device_id;issued_at;plate;tbnr;street;city;photos"

    func photos(_ f: ImportFixture, ticket: String) throws -> [(file: String, type: String)] {
        try f.store.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT e.file, e.content_type FROM evidence e JOIN cases c ON c.id = e.case_id
                    WHERE c.ticket_no = ? ORDER BY e.number
                    """,
                arguments: [ticket]
            ).map { ($0["file"], $0["content_type"]) }
        }
    }

    func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int) ?? -1
    }

    @Test func aCSVNamesPhotosBesideItAndEveryBadOneIsAWarningNotALoss() throws {
        let f = try ImportFixture()
        let folder = f.dir + "/export"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        TestSupport.write(folder + "/front.jpg", bytes: TestSupport.jpegWithExif)
        TestSupport.write(folder + "/plate.png", bytes: TestSupport.pngWithText)
        TestSupport.write(folder + "/notes.jpg", "not a picture at all")
        TestSupport.write(f.dir + "/outside.jpg", bytes: TestSupport.jpegWithExif)
        // a link out of the folder is no file of the upload
        try FileManager.default.createSymbolicLink(atPath: folder + "/link.jpg", withDestinationPath: f.dir + "/outside.jpg")
        let csv = folder + "/export.csv"
        TestSupport.write(
            csv,
            """
            \(Self.csvHeader)
            1;HH-07;2026-03-14T08:00;KL-AB 1;141312;Marktstraße;Kaiserslautern;front.jpg | plate.png
            2;HH-07;2026-03-14T08:05;KL-AB 2;141312;Marktstraße;Kaiserslautern;missing.jpg
            3;HH-07;2026-03-14T08:10;KL-AB 3;141312;Marktstraße;Kaiserslautern;notes.jpg
            4;HH-07;2026-03-14T08:15;KL-AB 4;141312;Marktstraße;Kaiserslautern;../outside.jpg
            5;HH-07;2026-03-14T08:20;KL-AB 5;141312;Marktstraße;Kaiserslautern;
            6;HH-07;2026-03-14T08:25;KL-AB 6;141312;Marktstraße;Kaiserslautern;link.jpg|Bilder\\front.jpg|front.jpg

            """
        )
        let s = try f.importer.importFile(csv, photoFolder: folder)
        #expect(s.imported == 6 && s.rejected == 0 && s.photos == 3)
        #expect(
            s.warnings == [
                "\(csv):3: photo 'missing.jpg' is not in the upload; the ticket was imported without it",
                "\(csv):4: photo 'notes.jpg' is not a JPEG or PNG picture; the ticket was imported without it",
                "\(csv):5: photo '../outside.jpg' is not in the upload; the ticket was imported without it",
                "\(csv):7: photo 'link.jpg' is not in the upload; the ticket was imported without it",
                "\(csv):7: photo 'front.jpg' is named twice; the ticket was imported without it",
            ],
            "\(s.warnings)"
        )
        let stored = try photos(f, ticket: "1")
        #expect(stored.map(\.type) == ["image/jpeg", "image/png"])
        #expect(try f.cases().first { $0.ticketNo == "1" }?.photos == 2)
        #expect(try f.cases().filter { $0.ticketNo != "1" && $0.ticketNo != "6" }.allSatisfy { $0.photos == 0 })
        // a folder before the name (as a handheld writes it) finds the file by its name
        #expect(try photos(f, ticket: "6").count == 1)
        // private, and without what the camera wrote (Exif with its GPS position; PNG text chunks)
        #expect(mode(f.dir + "/evidence") == 0o700)
        for photo in stored {
            let path = f.dir + "/evidence/" + photo.file
            #expect(mode(path) == 0o600)
            let bytes = try #require(FileManager.default.contents(atPath: path))
            #expect(!String(decoding: bytes, as: UTF8.self).contains("Exif") && !String(decoding: bytes, as: UTF8.self).contains("tEXt"))
            #expect(bytes.starts(with: [0xFF, 0xD8]) || bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        }
        // imported again: duplicates, no second copy of the photos
        let again = try f.importer.importFile(csv, photoFolder: folder)
        #expect(again.duplicates == 6 && again.photos == 0)
        #expect(try photos(f, ticket: "1").count == 2)
    }

    @Test func aZIPUploadCarriesTheExportAndItsPhotos() throws {
        let f = try ImportFixture()
        let csv = """
            \(Self.csvHeader)
            7;HH-07;2026-03-14T09:00;KL-CD 7;141312;Marktstraße;Kaiserslautern;a.jpg,b.png
            8;HH-07;2026-03-14T09:05;KL-CD 8;141312;Marktstraße;Kaiserslautern;

            """
        let zip = f.dir + "/upload.zip"
        try TestSupport.zip(
            zip,
            [("shift/export.csv", Array(csv.utf8)), ("shift/a.jpg", TestSupport.jpegWithExif), ("b.png", TestSupport.pngWithText)]
        )
        let s = try f.importer.importFile(zip, displayName: "upload.zip")
        #expect(s.file == "upload.zip/export.csv" && s.imported == 2 && s.photos == 2 && s.warnings.isEmpty, "\(s)")
        #expect(try photos(f, ticket: "7").count == 2)
        // the unpacked folder is gone
        let uploads = (try? FileManager.default.contentsOfDirectory(atPath: f.dir + "/uploads")) ?? []
        #expect(uploads.allSatisfy { !$0.hasPrefix("unpacked-") }, "\(uploads)")

        // the export came before without its photos: sent again in a ZIP, the photos join the case that has none
        let g = try ImportFixture()
        let plain = g.file("export.csv", csv)
        #expect(try g.importer.importFile(plain).warnings.count == 2)  // a.jpg and b.png are not beside it: no folder given
        #expect(try photos(g, ticket: "7").isEmpty)
        // a case whose personal data is erased gets no photos back from an old export sent again
        let h = try ImportFixture()
        _ = try h.importer.importFile(h.file("export.csv", csv))
        try h.store.write { try $0.execute(sql: "UPDATE cases SET erased_at = 1") }
        let old = try h.importer.importFile(zip, displayName: "upload.zip")
        #expect(old.duplicates == 2 && old.photos == 0)
        #expect(try h.count("SELECT count(*) FROM evidence") == 0)
        let later = try g.importer.importFile(zip, displayName: "upload.zip")
        #expect(later.duplicates == 2 && later.photos == 2)
        #expect(try photos(g, ticket: "7").count == 2)
    }

    @Test func aZIPThatIsNotOneExportIsRefusedWhole() throws {
        let f = try ImportFixture()
        let row = "\(Self.csvHeader)\n9;HH-07;2026-03-14T09:00;KL-EF 9;141312;Marktstraße;Kaiserslautern;\n"
        let two = f.dir + "/two.zip"
        try TestSupport.zip(two, [("a.csv", Array(row.utf8)), ("b.csv", Array(row.utf8))])
        #expect { _ = try f.importer.importFile(two, displayName: "two.zip") } throws: {
            "\($0)".contains("two.zip: the ZIP file holds 2 exports (a.csv, b.csv); one export a ZIP file")
        }
        let none = f.dir + "/none.zip"
        try TestSupport.zip(none, [("a.jpg", TestSupport.jpegWithExif)])
        #expect { _ = try f.importer.importFile(none, displayName: "none.zip") } throws: { "\($0)".contains("holds no export") }
        let twice = f.dir + "/twice.zip"
        try TestSupport.zip(twice, [("x/a.csv", Array(row.utf8)), ("y/a.csv", Array(row.utf8))])
        #expect { _ = try f.importer.importFile(twice, displayName: "twice.zip") } throws: { "\($0)".contains("two files named 'a.csv'") }
        let nested = f.dir + "/nested.zip"
        try TestSupport.zip(nested, [("inner.zip", [UInt8](try #require(FileManager.default.contents(atPath: two))))])
        #expect { _ = try f.importer.importFile(nested, displayName: "nested.zip") } throws: {
            "\($0)".contains("nested.zip: the ZIP entry 'inner.zip' is a ZIP file itself")
        }
        let broken = f.file("broken.zip", bytes: [0x50, 0x4B, 0x03, 0x04] + Array(repeating: 0, count: 40))
        #expect { _ = try f.importer.importFile(broken, displayName: "broken.zip") } throws: { "\($0)".contains("broken.zip:") }
        #expect(try f.count() == 0)
    }

    /// An import that rolls back takes its stored photos with it: nothing of it stays, in the database or in `evidence/`.
    @Test func aRolledBackImportLeavesNoPhotoBehind() throws {
        let f = try ImportFixture()
        // a case numbered where the import's second ticket will be: its insert fails, and the whole file rolls back
        let taken = f.config.caseNumberPrefix + "-2026-0000002"
        try f.store.write { db in
            try db.execute(
                sql: """
                    INSERT INTO offences (tbnr, text_de, amount_cents, points) VALUES ('141312', 'x', 2500, 0);
                    INSERT INTO cases (case_number, source_id, issued_at, plate, plate_country, tbnr, amount_cents, street, city,
                                       deadline, created_at, issued_day)
                    VALUES ('\(taken)', 'manual/2', 1773468000, 'KL-ZZ 1', 'D', '141312', 2500, 'X',
                            'Y', '2026-03-21', 0, '2026-03-14')
                    """
            )
        }
        TestSupport.write(f.dir + "/a.jpg", bytes: TestSupport.jpegWithExif)
        let csv = f.file(
            "export.csv",
            """
            \(Self.csvHeader)
            1;HH-07;2026-03-14T08:00;KL-AB 1;141312;Marktstraße;Kaiserslautern;a.jpg
            2;HH-07;2026-03-14T08:05;KL-AB 2;141312;Marktstraße;Kaiserslautern;

            """
        )
        #expect(throws: (any Error).self) { _ = try f.importer.importFile(csv, photoFolder: f.dir) }
        #expect(try f.count() == 1)
        #expect(try f.count("SELECT count(*) FROM evidence") == 0)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: f.dir + "/evidence")) ?? []).isEmpty)
    }

    @Test func winowigBilderByFileNameOrInline() throws {
        let f = try ImportFixture()
        TestSupport.write(f.dir + "/foto1.jpg", bytes: TestSupport.jpegWithExif)
        let inline = Data(TestSupport.pngWithText).base64EncodedString(options: .lineLength76Characters)
        let xml = f.file(
            "mde.xml",
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <OWIGMDEData Version="3.1">
              <Header Herkunft="MDE-12" Sachbearbeitername="Weber"/>
              <Mandant Name="Stadt Kaiserslautern">
                <Fall FallArt="VOWI">
                  <Falldaten>
                    <Fahrzeug><Kennzeichen>KL-GH 1</Kennzeichen><Nationalitaet>D</Nationalitaet></Fahrzeug>
                    <Tattag><Von>15.03.2026</Von></Tattag><Tatzeit><Von>08:00</Von></Tatzeit>
                  </Falldaten>
                  <Tatbestaende><Tatbestand><Tatbestandsnummer>141312</Tatbestandsnummer></Tatbestand></Tatbestaende>
                  <Tatorte><Tatort>Marktstraße 3</Tatort><Tatort>67655 Kaiserslautern</Tatort></Tatorte>
                  <Bilder>
                    <Bild Dateiname="foto1.jpg"/>
                    <Bild><Daten>
            \(inline)
                    </Daten></Bild>
                    <Bild><Daten>!!! not base64 !!!</Daten></Bild>
                  </Bilder>
                </Fall>
              </Mandant>
            </OWIGMDEData>
            """
        )
        let s = try f.importer.importFile(xml, photoFolder: f.dir)
        #expect(s.imported == 1 && s.photos == 2, "\(s)")
        #expect(s.warnings == ["\(xml):5: photo 3 is not a JPEG or PNG picture; the ticket was imported without it"], "\(s.warnings)")
        let id = try #require(try f.cases().first?.id)
        #expect(try f.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM evidence WHERE case_id = ?", arguments: [id]) } == 2)
    }
}
