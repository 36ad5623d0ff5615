import Foundation
import GRDB
import LotseCore
import LotseHTTP
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Issue 18 through the binary: backups while others write, restores, `lotse check`, retention and handover, a
/// graceful stop, and the systemd units.
@Suite(.serialized) struct OperationsCLITests {
    /// Rows of the tables a restore must bring back, as text (every column), for comparing two databases.
    static func contents(_ path: String) throws -> [String: [String]] {
        let store = try Store(path: path)
        return try store.read { db in
            var out: [String: [String]] = [:]
            for table in ["cases", "payments", "events", "imports", "case_counters", "stats_cells"] {
                out[table] = try Row.fetchAll(db, sql: "SELECT * FROM \(table)").map { "\($0)" }.sorted()
            }
            return out
        }
    }

    @Test func aBackupWhileOthersWriteRestoresEveryCasePaymentAndEvent() throws {
        let dir = TestSupport.tempDir("lotse-backup")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data"
        // the writers: twenty shifts of five tickets, each followed by the cash office's payments for three of them
        let writer = Thread {
            for shift in 0..<20 {
                var csv = "ticket_no;device_id;issued_at;plate;tbnr;street;city\n"
                for t in 0..<5 {
                    csv +=
                        "\(shift * 5 + t + 1);HH-B;2026-03-14T08:\(String(format: "%02d", t));KL-B \(shift * 5 + t + 1);141312;Markt;Kaiserslautern\n"
                }
                TestSupport.write(dir + "/shift-\(shift).csv", csv)
                _ = try? TestSupport.lotse(["import", dir + "/shift-\(shift).csv"], dataDir: data)
                var pay = "case_number;amount_eur;paid_on;receipt_no\n"
                for t in 0..<3 { pay += "KL-2026-\(String(format: "%07d", 24 + shift * 5 + t + 1));25,00;2026-03-15;Q-\(shift)-\(t)\n" }
                TestSupport.write(dir + "/cash-\(shift).csv", pay)
                _ = try? TestSupport.lotse(["payments", "import", dir + "/cash-\(shift).csv"], dataDir: data)
            }
        }
        #expect(try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"], dataDir: data).status == 0)
        #expect(try TestSupport.lotse(["keys", "list"], dataDir: data).status == 0)
        writer.start()
        var backups: [String] = []
        for n in 0..<3 {
            usleep(300_000)
            let file = dir + "/backup-\(n).sqlite"
            let out = try TestSupport.lotse(["backup", file], dataDir: data)
            #expect(out.status == 0 && out.stdout.contains("integrity ok"), "\(out.stdout) \(out.stderr)")
            backups.append(file)
        }
        while writer.isExecuting || !writer.isFinished { usleep(50_000) }
        // each copy taken under load is whole: every shift in it has all its tickets
        for file in backups {
            let cases = try Store(path: file).allCases().filter { $0.deviceID == "HH-B" }.count
            #expect(cases % 5 == 0, "\(file): \(cases) cases")
            #expect(FileManager.default.fileExists(atPath: file + ".keys.json"))
            #expect(try FileManager.default.attributesOfItem(atPath: file + ".keys.json")[.posixPermissions] as? Int == 0o600)
        }
        // the last copy, restored into an empty data directory, holds every case, payment and event
        let final = dir + "/final.sqlite"
        #expect(try TestSupport.lotse(["backup", final], dataDir: data).status == 0)
        let restored = dir + "/restored"
        let restore = try TestSupport.lotse(["restore", final], dataDir: restored)
        #expect(restore.status == 0 && restore.stdout.contains("key ring restored"), "\(restore.stdout) \(restore.stderr)")
        let original = try Self.contents(data + "/lotse.sqlite")
        #expect(original["cases"]?.count == 24 + 100 && original["payments"]?.count == 60)
        #expect(try Self.contents(restored + "/lotse.sqlite") == original)
        #expect(FileManager.default.contents(atPath: restored + "/keys.json") == FileManager.default.contents(atPath: data + "/keys.json"))
        // the codes printed before still open their pages: the same key ring
        let shown = try TestSupport.lotse(["case", "KL-2026-0000031", "--json"], dataDir: restored)
        #expect(shown.status == 0 && shown.stdout.contains("\"paid\""))
    }

    @Test func aBackupCarriesThePhotosAndAttachmentsItsDatabaseNames() async throws {
        let dir = TestSupport.tempDir("lotse-backup-files")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data"
        let export = dir + "/export"
        try FileManager.default.createDirectory(atPath: export, withIntermediateDirectories: true)
        TestSupport.write(export + "/front.jpg", bytes: TestSupport.jpegWithExif)
        TestSupport.write(export + "/plate.png", bytes: TestSupport.pngWithText)
        TestSupport.write(
            export + "/export.csv",
            """
            ticket_no;device_id;issued_at;plate;tbnr;street;city;photos
            1;HH-07;2026-03-14T08:00;KL-AB 1;141312;Marktstraße;Kaiserslautern;front.jpg|plate.png
            2;HH-07;2026-03-14T08:05;KL-AB 2;141312;Marktstraße;Kaiserslautern;

            """
        )
        let imported = try TestSupport.lotse(["import", export + "/export.csv"], dataDir: data)
        #expect(imported.status == 0 && imported.stdout.contains("photos 2"), "\(imported.stdout) \(imported.stderr)")
        // a motorist's statement with an attachment, as the statement form stores it
        try FileManager.default.createDirectory(atPath: data + "/statements", withIntermediateDirectories: true)
        TestSupport.write(data + "/statements/upload-1.pdf", "%PDF-1.4 the parking receipt")
        let store = try Store(path: data + "/lotse.sqlite")
        let caseID = try #require(try store.read { try Int64.fetchOne($0, sql: "SELECT id FROM cases WHERE ticket_no = '2'") })
        _ = try await store.addStatement(caseID: caseID, ground: .validTicket, text: "I had paid.", attachments: ["upload-1.pdf"], now: 1_773_500_000)
        let named =
            try store.read { try String.fetchAll($0, sql: "SELECT 'evidence/' || file FROM evidence ORDER BY number") } + ["statements/upload-1.pdf"]

        /// Each named file in `folder` as in the data directory, private.
        func expectCopies(in folder: String) throws {
            for file in named {
                #expect(FileManager.default.contents(atPath: folder + "/" + file) == FileManager.default.contents(atPath: data + "/" + file))
                #expect(try FileManager.default.attributesOfItem(atPath: folder + "/" + file)[.posixPermissions] as? Int == 0o600)
            }
        }
        let backup = dir + "/nightly.sqlite"
        let first = try TestSupport.lotse(["backup", backup], dataDir: data)
        #expect(first.status == 0 && first.stdout.contains("3 photos and attachments in \(backup).files"), "\(first.stdout) \(first.stderr)")
        try expectCopies(in: backup + ".files")
        #expect(try FileManager.default.attributesOfItem(atPath: backup + ".files")[.posixPermissions] as? Int == 0o700)
        // the next night's backup of the same name links the files it already holds instead of copying them again
        func inode(_ path: String) throws -> Int? { try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int }
        let before = try inode(backup + ".files/" + named[0])
        #expect(try TestSupport.lotse(["backup", backup], dataDir: data).status == 0)
        #expect(try inode(backup + ".files/" + named[0]) == before)
        // and so does the next day's backup of another name
        let nextDay = try TestSupport.lotse(["backup", dir + "/next-day.sqlite"], dataDir: data)
        #expect(nextDay.status == 0 && nextDay.stdout.contains("3 photos and attachments in"), "\(nextDay.stdout)")
        #expect(try inode(dir + "/next-day.sqlite.files/" + named[0]) == before)

        // restored into an empty data directory: the case page's photos and the office's attachments are there again
        let restored = dir + "/restored"
        let restore = try TestSupport.lotse(["restore", backup], dataDir: restored)
        #expect(restore.status == 0 && restore.stdout.contains("3 photos and attachments restored"), "\(restore.stdout) \(restore.stderr)")
        try expectCopies(in: restored)

        // a backup whose folder was not kept says what it cannot bring back
        try FileManager.default.copyItem(atPath: backup, toPath: dir + "/bare.sqlite")
        let bare = try TestSupport.lotse(["restore", dir + "/bare.sqlite"], dataDir: dir + "/restored-bare")
        #expect(bare.status == 0 && bare.stdout.contains("3 photos and attachments are not restored"), "\(bare.stdout)")

        // a doctored backup naming a file outside the data directory: nothing is written there
        try FileManager.default.copyItem(atPath: backup, toPath: dir + "/doctored.sqlite")
        try FileManager.default.copyItem(atPath: backup + ".files", toPath: dir + "/doctored.sqlite.files")
        TestSupport.write(dir + "/doctored.sqlite.files/outside.jpg", "not for the data directory")
        let queue = try DatabaseQueue(path: dir + "/doctored.sqlite")
        try await queue.write { try $0.execute(sql: "UPDATE evidence SET file = '../outside.jpg' WHERE number = 1") }
        try queue.close()
        let doctored = try TestSupport.lotse(["restore", dir + "/doctored.sqlite"], dataDir: dir + "/restored-doctored")
        #expect(doctored.stdout.contains("1 refused (evidence/../outside.jpg)"), "\(doctored.stdout) \(doctored.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/restored-doctored/outside.jpg"))

        // a doctored folder: a photo that is a link to a file outside it is not read, and a folder that is a link is not
        // entered
        let secret = dir + "/secret.txt"
        TestSupport.write(secret, "the server's secrets")
        try FileManager.default.copyItem(atPath: backup, toPath: dir + "/linked.sqlite")
        try FileManager.default.copyItem(atPath: backup + ".files", toPath: dir + "/linked.sqlite.files")
        let photo = dir + "/linked.sqlite.files/" + named[0]
        try FileManager.default.removeItem(atPath: photo)
        try FileManager.default.createSymbolicLink(atPath: photo, withDestinationPath: secret)
        try FileManager.default.removeItem(atPath: dir + "/linked.sqlite.files/statements")
        try FileManager.default.createDirectory(atPath: dir + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: backup + ".files/statements/upload-1.pdf", toPath: dir + "/elsewhere/upload-1.pdf")
        try FileManager.default.createSymbolicLink(atPath: dir + "/linked.sqlite.files/statements", withDestinationPath: dir + "/elsewhere")
        let linked = try TestSupport.lotse(["restore", dir + "/linked.sqlite"], dataDir: dir + "/restored-linked")
        #expect(linked.stdout.contains("1 photos and attachments restored; 2 refused"), "\(linked.stdout) \(linked.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/restored-linked/" + named[0]))
        #expect(!FileManager.default.fileExists(atPath: dir + "/restored-linked/statements/upload-1.pdf"))
        // a link planted in an earlier backup's folder is not carried on into the next backup
        let plantedFolder = dir + "/planted.sqlite.files/evidence"
        try FileManager.default.createDirectory(atPath: plantedFolder, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dir + "/planted.sqlite.files")
        try FileManager.default.createSymbolicLink(atPath: dir + "/planted.sqlite.files/" + named[1], withDestinationPath: secret)
        let afterPlant = try TestSupport.lotse(["backup", dir + "/after-plant.sqlite"], dataDir: data)
        #expect(afterPlant.status == 0, "\(afterPlant.stderr)")
        let carried = try FileManager.default.attributesOfItem(atPath: dir + "/after-plant.sqlite.files/" + named[1])
        #expect(carried[.type] as? FileAttributeType == .typeRegular)
        #expect(
            FileManager.default.contents(atPath: dir + "/after-plant.sqlite.files/" + named[1])
                == FileManager.default.contents(atPath: data + "/" + named[1])
        )
        // what a killed backup left beside its folder goes with the next run
        try FileManager.default.createDirectory(atPath: backup + ".files.99999.part/evidence", withIntermediateDirectories: true)
        #expect(try TestSupport.lotse(["backup", backup], dataDir: data).status == 0)
        #expect(!FileManager.default.fileExists(atPath: backup + ".files.99999.part"))
    }

    @Test func aRestoreRefusesADamagedFileAndAFullDataDirectory() throws {
        let dir = TestSupport.tempDir("lotse-restore")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data"
        #expect(try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"], dataDir: data).status == 0)
        #expect(try TestSupport.lotse(["backup", dir + "/good.sqlite"], dataDir: data).status == 0)
        // into the data directory it came from: refused
        let full = try TestSupport.lotse(["restore", dir + "/good.sqlite"], dataDir: data)
        #expect(full.status == 1 && full.stderr.contains("is not empty"), "\(full.stderr)")
        // a damaged copy: bytes overwritten in the middle of the file
        var bytes = try #require(FileManager.default.contents(atPath: dir + "/good.sqlite"))
        let middle = bytes.count / 2
        bytes.replaceSubrange(middle..<(middle + 4096), with: Data(repeating: 0x5A, count: 4096))
        FileManager.default.createFile(atPath: dir + "/bad.sqlite", contents: bytes)
        let damaged = try TestSupport.lotse(["restore", dir + "/bad.sqlite"], dataDir: dir + "/empty")
        #expect(damaged.status == 1 && damaged.stderr.split(separator: "\n").count == 1, "\(damaged.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/empty/lotse.sqlite"))
        // not a database at all
        TestSupport.write(dir + "/text.sqlite", "ticket_no;device_id\n")
        #expect(try TestSupport.lotse(["restore", dir + "/text.sqlite"], dataDir: dir + "/empty2").status == 1)
        #expect(try TestSupport.lotse(["restore", dir + "/good.sqlite"], dataDir: dir + "/empty3").status == 0)
        // a backup never replaces the live database or the key ring
        _ = try TestSupport.lotse(["keys", "list"], dataDir: data)
        for live in ["lotse.sqlite", "lotse.sqlite-wal", "keys.json"] {
            let out = try TestSupport.lotse(["backup", data + "/" + live], dataDir: data)
            #expect(out.status == 1 && out.stderr.contains("live database or the key ring"), "\(live): \(out.stderr)")
        }
        #expect(try TestSupport.lotse(["case", "KL-2026-0000001"], dataDir: data).status == 0)
        // lotse check names a damaged database
        try FileManager.default.createDirectory(atPath: dir + "/damaged", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/damaged/lotse.sqlite", contents: bytes)
        let check = try TestSupport.lotse(["check", "--offline"], dataDir: dir + "/damaged")
        #expect(check.status == 1 && (check.stdout.contains("damaged") || check.stdout.contains("malformed")), "\(check.stdout)")
    }

    @Test func checkSaysWhatIsWrongAndServeRefusesToStartOnAnError() throws {
        let dir = TestSupport.tempDir("lotse-check")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = ["LOTSE_PILOT_DATA": TestSupport.pilotData]
        #expect(try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"], dataDir: dir).status == 0)
        _ = try TestSupport.lotse(["keys", "list"], dataDir: dir, env: base)
        let ok = try TestSupport.lotse(["check", "--offline"], dataDir: dir, env: base)
        #expect(ok.status == 0 && ok.stdout.contains("check: ok"), "\(ok.stdout)")

        var bad = base
        bad["LOTSE_PUBLIC_BASE_URL"] = "http://lotse.example.org"
        bad["LOTSE_PAYEE_NAME"] = "Stadtkasse"
        bad["LOTSE_PAYEE_IBAN"] = "DE89370400440532013001"
        chmod(dir + "/keys.json", 0o644)
        let wrong = try TestSupport.lotse(["check", "--offline"], dataDir: dir, env: bad)
        #expect(wrong.status == 1)
        let errors = wrong.stdout.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(errors.count == 3, "\(wrong.stdout)")
        #expect(wrong.stdout.contains("must be https in production") && wrong.stdout.contains("not a valid IBAN"))
        #expect(wrong.stdout.contains("keys.json: mode 0644"))
        #expect(wrong.stdout.contains("check: 3 errors"))

        // the server runs the same check and does not start (the key ring's mode it puts right itself first)
        let port = TestSupport.freePort()
        let serve = try TestSupport.run(TestSupport.lotse, ["serve", "--port", String(port), "--data-dir", dir], env: bad)
        #expect(serve.status == 1 && serve.stderr.contains("not started: 2 errors"), "\(serve.stderr)")
        #expect(serve.stderr.contains("must be https in production") && serve.stderr.contains("not a valid IBAN"))
        #expect(try FileManager.default.attributesOfItem(atPath: dir + "/keys.json")[.posixPermissions] as? Int == 0o600)

        // PayPal asked with the wrong secret: refused (the simulator checks the credentials)
        chmod(dir + "/keys.json", 0o600)
        let simPort = TestSupport.freePort()
        let sim = try TestSupport.startServer(
            TestSupport.binDir + "/lotse-paypal-sim",
            ["--port", String(simPort), "--client-id", "sim-client", "--client-secret", "sim-secret"],
            log: dir + "/sim.log"
        )
        defer {
            sim.terminate()
            sim.waitUntilExit()
        }
        for _ in 0..<100 {
            if (try? CurlClient(connectTimeout: 1, timeout: 2).sendBlocking(OutboundRequest(url: "http://127.0.0.1:\(simPort)/sim/orders")))?.status
                == 200
            {
                break
            }
            usleep(50_000)
        }
        var paypal = base
        paypal["LOTSE_PAYPAL_API_BASE"] = "http://127.0.0.1:\(simPort)"
        paypal["LOTSE_PAYPAL_CLIENT_ID"] = "sim-client"
        paypal["LOTSE_PAYPAL_CLIENT_SECRET"] = "wrong"
        paypal["LOTSE_PAYPAL_TIMEOUT"] = "2"
        let refused = try TestSupport.lotse(["check"], dataDir: dir, env: paypal)
        #expect(refused.status == 1 && refused.stdout.contains("refused the credentials"), "\(refused.stdout)")
        paypal["LOTSE_PAYPAL_CLIENT_SECRET"] = "sim-secret"
        let accepted = try TestSupport.lotse(["check"], dataDir: dir, env: paypal)
        #expect(accepted.status == 0, "\(accepted.stdout)")
    }

    @Test func retentionAndHandoverThroughTheBinaryKeepTheStatistics() throws {
        let dir = TestSupport.tempDir("lotse-retention-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"], dataDir: dir).status == 0)
        TestSupport.write(dir + "/cash.csv", "case_number;amount_eur;paid_on\nKL-2026-0000001;35,00;2026-03-16\n")
        #expect(try TestSupport.lotse(["payments", "import", dir + "/cash.csv"], dataDir: dir).status == 0)
        #expect(try TestSupport.lotse(["dunning", "--as-of", "2026-03-27"], dataDir: dir).status == 0)
        let stats = ["stats", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "json"]
        let before = try TestSupport.lotse(stats, dataDir: dir).stdout
        let handover = try TestSupport.lotse(["handover", "--as-of", "2026-04-20", "--out", dir + "/handover.csv"], dataDir: dir)
        #expect(handover.status == 0 && handover.stdout.contains(": 23 cases reminded before"), "\(handover.stdout) \(handover.stderr)")
        // the same file again: refused, nothing handed over twice or lost from the first file
        let again = try TestSupport.lotse(["handover", "--as-of", "2026-04-21", "--out", dir + "/handover.csv"], dataDir: dir)
        #expect(again.status == 0 && again.stdout.contains("no case"), "\(again.stdout) \(again.stderr)")
        #expect(try String(contentsOfFile: dir + "/handover.csv", encoding: .utf8).split(separator: "\n").count == 24)
        // the handed-over cases closed today (the handover's real time): a look ahead names them all
        let dry = try TestSupport.lotse(["retention", "--as-of", "2027-07-01", "--dry-run"], dataDir: dir)
        #expect(dry.stdout.contains("would erase the personal data of 24 cases"), "\(dry.stdout)")
        // erasing ahead of time is refused
        #expect(try TestSupport.lotse(["retention", "--as-of", "2027-07-01"], dataDir: dir).status == 2)
        // today: the case paid in March
        let run = try TestSupport.lotse(["retention"], dataDir: dir)
        #expect(run.status == 0 && run.stdout.contains("erased the personal data of 1 case "), "\(run.stdout)")
        let paid = try TestSupport.lotse(["case", "KL-2026-0000001", "--json"], dataDir: dir).stdout
        #expect(!paid.contains("KL-AB 123") && paid.contains("\"paid\""), "\(paid)")
        let handed = try TestSupport.lotse(["case", "KL-2026-0000003", "--json"], dataDir: dir).stdout
        #expect(handed.contains("KL-XY 45") && handed.contains("\"handed_over\""), "\(handed)")
        // the figures of the pilot are the same (statuses aside: the handover moved 23 cases)
        func figures(_ text: String) throws -> [String: Int] {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            return try #require(json["totals"] as? [String: Int])
        }
        #expect(try figures(TestSupport.lotse(stats, dataDir: dir).stdout) == figures(before))
    }

    @Test func serveStopsOnSIGTERMAfterWritingThePageViews() async throws {
        let dir = TestSupport.tempDir("lotse-sigterm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = TestSupport.freePort()
        let base = "http://127.0.0.1:\(port)"
        let env = ["LOTSE_PUBLIC_BASE_URL": base, "LOTSE_PILOT_DATA": TestSupport.pilotData, "LOTSE_DATA_DIR": dir]
        #expect(
            try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"], dataDir: dir, env: env).status == 0
        )
        #expect(try TestSupport.lotse(["qr", "--all", "--out", dir + "/qr"], dataDir: dir, env: env).status == 0)
        let urls = try String(contentsOfFile: dir + "/qr/manifest.csv", encoding: .utf8).split(separator: "\n").dropFirst()
            .map { String($0.split(separator: ";")[2]) }
        let serve = try TestSupport.startServer(TestSupport.lotse, ["serve", "--port", String(port)], env: env, log: dir + "/serve.log")
        #expect(TestSupport.waitUntilServing(base))
        // twice each: the second view of a page comes from the cache, in the connection's pipeline
        let client = CurlClient()
        for url in urls + urls {
            #expect(try await client.send(OutboundRequest(url: url, headers: [("User-Agent", "Mozilla/5.0 (Linux; Android 14)")])).status == 200)
        }
        // page views are written every few seconds; stopped at once, none may be lost
        kill(serve.processIdentifier, SIGTERM)
        serve.waitUntilExit()
        #expect(serve.terminationReason == .exit && serve.terminationStatus == 0)
        let views = try Store(path: dir + "/lotse.sqlite").read {
            try Int.fetchOne($0, sql: "SELECT count(*) FROM events WHERE kind = 'page_viewed'")
        }
        #expect(views == urls.count * 2)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "systemd-analyze is not installed"))
    func theSystemdUnitsVerify() throws {
        // the units name /usr/local/bin/lotse: a copy of the built binary stands in for it
        let dir = TestSupport.tempDir("lotse-units")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var units: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: TestSupport.root + "/deploy")
        where name.hasSuffix(".service") || name.hasSuffix(".timer") {
            let text = try String(contentsOfFile: TestSupport.root + "/deploy/" + name, encoding: .utf8)
            TestSupport.write(dir + "/" + name, text.replacingOccurrences(of: "/usr/local/bin/lotse", with: TestSupport.lotse))
            units.append(dir + "/" + name)
        }
        #expect(units.count >= 7)
        let out = try TestSupport.run("/usr/bin/systemd-analyze", ["verify"] + units.sorted(), env: ["SYSTEMD_LOG_LEVEL": "warning"])
        let problems = (out.stdout + out.stderr).split(separator: "\n").filter { line in
            // this container has no running systemd: its own complaints are not about the units
            !line.contains("Failed to connect") && !line.contains("System has not been booted") && !line.isEmpty
        }
        #expect(out.status == 0 || problems.isEmpty, "\(out.stdout)\n\(out.stderr)")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }
}
