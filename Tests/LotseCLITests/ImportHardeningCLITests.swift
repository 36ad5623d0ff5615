import Foundation
import GRDB
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Issue 12, importer, through the real binary: hostile bytes end in exit 1 with one line, never a signal;
/// a killed import leaves no rejects file; an independent parser counts the same records as `lotse import`.
@Suite(.serialized) struct ImportHardeningCLITests {
    static var corpus: String { TestSupport.root + "/Tests/Corpus" }

    /// One line on stderr naming the file and a line, in words, and exit status 1 (not a crash: SIGILL before).
    func expectOneLineError(_ out: TestSupport.Output, _ file: String, _ words: String) {
        #expect(out.status == 1, "\(file): status \(out.status) \(out.stderr)")
        let lines = out.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(out.stderr)")
        #expect(out.stderr.hasPrefix("lotse: \(file):"), "\(out.stderr)")
        #expect(out.stderr.contains(words), "\(out.stderr)")
        #expect(!out.stderr.contains("NSXMLParserErrorDomain"), "\(out.stderr)")
    }

    @Test func invalidUTF8InXMLEndsTheImportAndTheReconcileWithOneLine() throws {
        let dir = TestSupport.tempDir("lotse-utf8")
        #expect(try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"], dataDir: dir).status == 0)
        for (folder, command) in [("xowi", "import"), ("winowig", "import"), ("camt", "reconcile")] {
            for name in ["invalid-utf8-element-name.xml", "invalid-utf8-attribute-name.xml", "invalid-utf8-comment.xml"] {
                let file = Self.corpus + "/\(folder)/\(name)"
                let out = try TestSupport.lotse([command, file], dataDir: dir)
                expectOneLineError(out, file, "not valid UTF-8")
            }
        }
        // nothing was imported or booked
        let store = try Store(path: dir + "/lotse.sqlite")
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM cases") } == 24)
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM payments") } == 0)
    }

    /// The limits hold for camt too (the same XML stream): attributes, references, depth, a DTD.
    @Test func xmlLimitsThroughTheBinary() throws {
        let dir = TestSupport.tempDir("lotse-limits")
        let camt = dir + "/attrs.xml"
        let attrs = (0..<200_000).map { "a\($0)=\"1\"" }.joined(separator: " ")
        TestSupport.write(
            camt,
            "<?xml version=\"1.0\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.054.001.08\"><BkToCstmrDbtCdtNtfctn \(attrs)/></Document>\n"
        )
        let started = Date()
        expectOneLineError(try TestSupport.lotse(["reconcile", camt], dataDir: dir), camt, "more than 256 attributes")
        #expect(Date().timeIntervalSince(started) < 5)
        for (name, words) in [
            ("many-references.xml", "references"), ("deep.xml", "nested more than 64 deep"), ("dtd.xml", "document type declaration"),
        ] {
            let file = Self.corpus + "/camt/" + name
            expectOneLineError(try TestSupport.lotse(["reconcile", file], dataDir: dir), file, words)
        }
    }

    /// A `kill -9` during an import with rejects left `rejects/…rejects.csv` for an import that never committed.
    @Test func killDuringImportLeavesNoRejectsFile() throws {
        let dir = TestSupport.tempDir("lotse-kill-rejects")
        let big = dir + "/big.csv"
        var text = "ticket_no;device_id;issued_at;plate;tbnr;street;city\n"
        text.reserveCapacity(60 * 400_000)
        for i in 0..<400_000 {
            // every tenth row has an unknown offence and is rejected: the rejects file exists early
            text += "\(i);HH-9;2026-03-14T08:00;KL-AB \(i % 9000 + 1);\(i % 10 == 0 ? "999999" : "141312");Markt;Kaiserslautern\n"
        }
        TestSupport.write(big, text)
        let running = try TestSupport.start(
            TestSupport.lotse,
            ["import", big],
            env: ["LOTSE_DATA_DIR": dir, "LOTSE_PILOT_DATA": TestSupport.pilotData]
        )
        let wal = dir + "/lotse.sqlite-wal"
        let deadline = Date().addingTimeInterval(60)
        var rejectsWritten = false
        while Date() < deadline && running.process.isRunning {
            let walSize = ((try? FileManager.default.attributesOfItem(atPath: wal))?[.size] as? Int) ?? 0
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/rejects")) ?? []
            rejectsWritten = !files.isEmpty
            if walSize > 4_000_000 && rejectsWritten { break }
            usleep(20_000)
        }
        #expect(running.process.isRunning, "the import finished before it could be killed")
        #expect(rejectsWritten)
        kill(running.process.processIdentifier, SIGKILL)
        running.process.waitUntilExit()
        #expect(running.process.terminationReason == .uncaughtSignal)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/rejects")) ?? []
        #expect(!left.contains { $0.hasSuffix(".rejects.csv") }, "\(left)")
        let store = try Store(path: dir + "/lotse.sqlite")
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM cases") } == 0)
        // the next import removes the dead import's part file and names its own rejects file
        let small = dir + "/small.csv"
        TestSupport.write(small, "ticket_no;device_id;issued_at;plate;tbnr;street;city\n1;HH;2026-03-14T08:00;KL-AB 1;999999;Markt;KL\n")
        let again = try TestSupport.lotse(["import", small], dataDir: dir)
        #expect(again.status == 0 && again.stdout.contains("rejected 1"))
        let after = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/rejects")) ?? []
        #expect(after.count == 1 && after[0].hasPrefix("small.csv.") && after[0].hasSuffix(".rejects.csv"), "\(after)")
    }

    // MARK: oracle: an independent parser sees as many records as `lotse import` accounts for

    static let oracle = """
        import csv, sys, xml.etree.ElementTree as ET
        kind, path = sys.argv[1], sys.argv[2]
        if kind == "csv":
            with open(path, newline="", encoding="utf-8-sig") as f:
                rows = [r for r in csv.reader(f, delimiter=";") if r and any(c.strip(" \\t") for c in r)]
            print(len(rows) - 1)
        elif kind == "winowig":
            print(sum(1 for _ in ET.parse(path).getroot().iter("Fall")))
        else:
            print(sum(1 for _ in ET.parse(path).getroot().iter("{http://www.owi21.de}Bestand")))
        """

    func expectOracle(_ kind: String, _ file: String) throws {
        let dir = TestSupport.tempDir("lotse-oracle")
        let script = dir + "/oracle.py"
        TestSupport.write(script, Self.oracle)
        let counted = try TestSupport.run("/usr/bin/env", ["python3", script, kind, file])
        #expect(counted.status == 0, "\(counted.stderr)")
        let records = Int(counted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let out = try TestSupport.lotse(["import", file], dataDir: dir)
        #expect(out.status == 0, "\(out.stderr)")
        let line = try #require(out.stdout.split(separator: "\n").first { $0.contains(": imported ") })
        let numbers = line.split(separator: ":").last!.split(separator: ",").map { Int($0.split(separator: " ").last!)! }
        #expect(numbers.count == 3)
        #expect(records > 10 && numbers.reduce(0, +) == records, "python3 counts \(records), lotse: \(line)")
        #expect(numbers[0] > 0 && numbers[1] > 0 && numbers[2] > 0, "the sample exercises imported, duplicates and rejected: \(line)")
    }

    @Test func oracleCSV() throws { try expectOracle("csv", Self.corpus + "/csv/oracle-hostile.csv") }
    @Test func oracleWinowig() throws { try expectOracle("winowig", Self.corpus + "/winowig/oracle-hostile.xml") }
    @Test func oracleXOWi() throws { try expectOracle("xowi", Self.corpus + "/xowi/oracle-hostile.xml") }
}
