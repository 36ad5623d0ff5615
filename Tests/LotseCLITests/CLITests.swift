import Foundation
import GRDB
import LotseCore
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

@Suite(.serialized) struct CLITests {
    @Test func importPrintsTheSummaryLineAndNamesTheRejectsFile() throws {
        let dir = TestSupport.tempDir("lotse-cli")
        let csv = dir + "/shift.csv"
        TestSupport.write(
            csv,
            "ticket_no;device_id;issued_at;plate;tbnr;street;city\n1;HH;2026-03-14T08:00;KL-AB 1;141312;Markt;KL\n2;HH;2026-03-14T08:00;KL-AB 2;000001;Markt;KL\n"
        )
        let out = try TestSupport.lotse(["import", csv], dataDir: dir)
        #expect(out.status == 0)
        #expect(out.stdout.contains("\(csv): imported 1, duplicates 0, rejected 1"))
        #expect(out.stdout.contains("rejected rows written to \(dir)/rejects/"))
        let again = try TestSupport.lotse(["import", csv], dataDir: dir)
        #expect(again.stdout.contains("\(csv): imported 0, duplicates 1, rejected 1"))
    }

    @Test func exitCodes() throws {
        let dir = TestSupport.tempDir("lotse-cli")
        let missing = try TestSupport.lotse(["import", dir + "/nope.csv"], dataDir: dir)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("nope.csv"))
        #expect(missing.stderr.split(separator: "\n").count == 1)
        let junk = dir + "/junk.bin"
        TestSupport.write(junk, bytes: [0, 1, 2, 3, 255])
        let j = try TestSupport.lotse(["import", junk], dataDir: dir)
        #expect(j.status == 1 && j.stderr.contains("junk.bin:1: unknown format"))
        let usage = try TestSupport.lotse(["import"], dataDir: dir)
        #expect(usage.status == 2)
        let badFlag = try TestSupport.lotse(["qr", "--out", dir, "--format", "gif"], dataDir: dir)
        #expect(badFlag.status == 2)
        let unknownCase = try TestSupport.lotse(["case", "KL-2026-0000009"], dataDir: dir)
        #expect(unknownCase.status == 1 && unknownCase.stderr.contains("not found"))
    }

    @Test func qrCommandWritesDecodableCodesAndManifest() throws {
        let dir = TestSupport.tempDir("lotse-cli")
        _ = try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/winowig-mde-2026-03-15.xml"], dataDir: dir)
        let out = try TestSupport.lotse(
            ["qr", "--new", "--out", dir + "/qr", "--format", "png", "--module-size", "4"],
            dataDir: dir,
            env: ["LOTSE_PUBLIC_BASE_URL": "https://lotse.kaiserslautern.de"]
        )
        #expect(out.status == 0, "\(out.stderr)")
        let manifest = try String(contentsOfFile: dir + "/qr/manifest.csv", encoding: .utf8).split(separator: "\n")
        #expect(manifest.count == 13)
        for line in manifest.dropFirst().prefix(4) {
            let f = line.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
            #expect(try TestSupport.zbarimg(dir + "/qr/" + f[3]) == [f[2]])
            #expect(f[2].hasPrefix("HTTPS://LOTSE.KAISERSLAUTERN.DE/T/"))
        }
        let json = try TestSupport.lotse(["case", String(manifest[1].split(separator: ";")[0]), "--json"], dataDir: dir)
        let obj = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(obj?["status"] as? String == "open")
        #expect((obj?["events"] as? [[String: Any]])?.first?["kind"] as? String == "imported")
    }

    @Test func keysRotateKeepsPrintedCodesValid() throws {
        let dir = TestSupport.tempDir("lotse-cli")
        _ = try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/xowi-2026-03-16.xml"], dataDir: dir)
        _ = try TestSupport.lotse(["qr", "--out", dir + "/a"], dataDir: dir)
        let r = try TestSupport.lotse(["keys", "rotate"], dataDir: dir)
        #expect(r.status == 0 && r.stdout.contains("signing key is now 2"))
        let list = try TestSupport.lotse(["keys", "list"], dataDir: dir)
        #expect(list.stdout.contains("key 1") && list.stdout.contains("key 2 ") && !list.stdout.contains("secret"))
    }

    /// A `kill -9` in the middle of an import leaves the database as it was before that file.
    @Test func killDuringImportLosesNothingAndAddsNothing() throws {
        let dir = TestSupport.tempDir("lotse-kill")
        _ = try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/xowi-2026-03-16.xml"], dataDir: dir)
        let big = dir + "/big.csv"
        var text = "ticket_no;device_id;issued_at;plate;tbnr;street;city\n"
        text.reserveCapacity(60 * 400_000)
        for i in 0..<400_000 { text += "\(i);HH-9;2026-03-14T08:00;KL-AB \(i % 9000 + 1);141312;Markt;Kaiserslautern\n" }
        TestSupport.write(big, text)
        let running = try TestSupport.start(
            TestSupport.lotse,
            ["import", big],
            env: ["LOTSE_DATA_DIR": dir, "LOTSE_PILOT_DATA": TestSupport.pilotData]
        )
        // wait until the import transaction is under way (the WAL grows), then kill -9
        let wal = dir + "/lotse.sqlite-wal"
        let deadline = Date().addingTimeInterval(60)
        var walSize = 0
        while Date() < deadline && running.process.isRunning {
            walSize = ((try? FileManager.default.attributesOfItem(atPath: wal))?[.size] as? Int) ?? 0
            if walSize > 4_000_000 { break }
            usleep(20_000)
        }
        #expect(running.process.isRunning, "the import finished before it could be killed")
        kill(running.process.processIdentifier, SIGKILL)
        running.process.waitUntilExit()
        #expect(running.process.terminationReason == .uncaughtSignal)
        let store = try Store(path: dir + "/lotse.sqlite")
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM cases") } == 12)
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM imports") } == 1)
        // and the same file imports cleanly afterwards
        let small = dir + "/small.csv"
        TestSupport.write(small, String(text.prefix(20_000)).split(separator: "\n").dropLast().joined(separator: "\n") + "\n")
        let again = try TestSupport.lotse(["import", small], dataDir: dir)
        #expect(again.status == 0 && again.stdout.contains("rejected 0"))
    }

    @Test func reconcileDunningPaymentsAndCancelThroughTheBinary() throws {
        let dir = TestSupport.tempDir("lotse-cli")
        for f in ["handheld-HH-07-2026-03-14.csv", "winowig-mde-2026-03-15.xml", "xowi-2026-03-16.xml"] {
            #expect(try TestSupport.lotse(["import", TestSupport.pilotData + "/samples/" + f], dataDir: dir).status == 0)
        }
        let camt = TestSupport.pilotData + "/samples/camt054-2026-03-20.xml"
        let r = try TestSupport.lotse(["reconcile", camt], dataDir: dir)
        #expect(r.status == 0)
        #expect(r.stdout.contains("\(camt): matched 7, unmatched 1, ignored 2, duplicates 0"))
        let again = try TestSupport.lotse(["reconcile", camt], dataDir: dir)
        #expect(again.stdout.contains("\(camt): matched 0, unmatched 0, ignored 2, duplicates 8"))
        // A truncated file: exit 1, one line naming the file, nothing changed.
        let text = try String(contentsOfFile: camt, encoding: .utf8)
        let cut = dir + "/cut.xml"
        TestSupport.write(cut, String(text.prefix(text.count / 2)))
        let bad = try TestSupport.lotse(["reconcile", cut], dataDir: dir)
        #expect(bad.status == 1 && bad.stderr.hasPrefix("lotse: \(cut):") && bad.stderr.split(separator: "\n").count == 1)

        // The unmatched transfer, assigned by hand.
        let list = try TestSupport.lotse(["payments", "list", "--json"], dataDir: dir)
        let unmatched = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [[String: Any]]
        #expect(unmatched.count == 1)
        let id = unmatched[0]["id"] as! Int
        let assign = try TestSupport.lotse(["payments", "assign", String(id), "KL-2026-0000012"], dataDir: dir)
        #expect(assign.status == 0 && assign.stdout.contains("the case is paid"))

        // Cash at the city cash office.
        let cash = dir + "/kasse.csv"
        TestSupport.write(cash, "case_number;amount_eur;paid_on;receipt_no\nKL-2026-0000006;20,00;2026-03-25;KA-77\n")
        let c = try TestSupport.lotse(["payments", "import", cash], dataDir: dir)
        #expect(c.status == 0 && c.stdout.contains("\(cash): recorded 1, duplicates 0, rejected 0"))

        // Cancel one, then the dunning run: 48 cases, 6 paid (1, 3, 5, 25, 10, 12), 1 cash (6), 1 cancelled.
        let cancel = try TestSupport.lotse(["case", "KL-2026-0000007", "--cancel", "wrong plate"], dataDir: dir)
        #expect(cancel.status == 0 && cancel.stdout.contains("cancelled"))
        let out = dir + "/reminders.csv"
        let d = try TestSupport.lotse(["dunning", "--as-of", "2026-04-30", "--out", out], dataDir: dir)
        #expect(d.status == 0 && d.stdout.contains("reminded 40"), "\(d.stdout)\(d.stderr)")
        let rows = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 41 && rows[0] == "case_number;ticket_no;plate;offence_date;tbnr;amount_eur;deadline")
        #expect(!rows.contains { $0.hasPrefix("KL-2026-0000007;") || $0.hasPrefix("KL-2026-0000001;") })
        #expect(try TestSupport.lotse(["dunning", "--as-of", "2026-05-01"], dataDir: dir).stdout.contains("reminded 0"))
        #expect(try TestSupport.lotse(["dunning", "--as-of", "30.04.2026"], dataDir: dir).status == 2)

        // Case 2 got too little by transfer; paying the rest after the reminder closes it, and keeps the reminder.
        TestSupport.write(cash, "case_number;amount_eur;paid_on\nKL-2026-0000002;25,00;2026-05-02\n")
        _ = try TestSupport.lotse(["payments", "import", cash], dataDir: dir)
        let json = try TestSupport.lotse(["case", "KL-2026-0000002", "--json"], dataDir: dir)
        let obj = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        #expect(obj["status"] as? String == "paid")
        let payments = obj["payments"] as! [[String: Any]]
        #expect(payments.map { $0["channel"] as! String } == ["bank_transfer", "cash"])
        #expect(payments.map { $0["amount_cents"] as! Int } == [3000, 2500])
        #expect((obj["events"] as! [[String: Any]]).contains { $0["kind"] as? String == "reminder" })
    }

    @Test func demoBuildsAPilotThroughTheRealFlowsAndTheSameSeedGivesTheSameFigures() throws {
        func build() throws -> [String: Int] {
            let dir = TestSupport.tempDir("lotse-demo")
            let out = try TestSupport.lotse(["demo", "--months", "1", "--start", "2026-09-01", "--seed", "3"], dataDir: dir)
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stdout.contains("PayPal payments") && out.stdout.contains("case page of"))
            let stats = try TestSupport.lotse(["stats", "--from", "2026-09-01", "--to", "2026-09-30", "--format", "json"], dataDir: dir)
            let json = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as! [String: Any]
            return json["totals"] as! [String: Int]
        }
        let a = try build()
        #expect(a["issued"]! > 500)
        for k in [
            "scanned", "handoff_started", "paid_online", "paid_bank_transfer", "paid_other", "paid_on_time", "reminded", "unmatched_bank_payments",
        ] {
            #expect(a[k]! > 0, "\(k)")
        }
        #expect(a["paid"]! == a["paid_online"]! + a["paid_bank_transfer"]! + a["paid_other"]!)
        #expect(try build() == a)
    }

    /// `make demo`'s shift on the reference handheld (`scripts/demo_handheld.sh`): three tickets issued today, the first
    /// paid by transfer before the import closes its case, the third still pending; their printed codes are their URLs.
    @Test func theDemoShiftIssuesTicketsTodayAndOneIsPaidBeforeTheImport() throws {
        let dir = TestSupport.tempDir("lotse-demo-shift")
        let env = ["LOTSE_PUBLIC_BASE_URL": "http://127.0.0.1:8080", "LOTSE_DEMO": "1", "LOTSE_PILOT_DATA": TestSupport.pilotData]
        #expect(try TestSupport.lotse(["demo", "--months", "0"], dataDir: dir, env: env).status == 0)
        var scriptEnv = env
        scriptEnv["LOTSE_DATA_DIR"] = dir
        let out = try TestSupport.run(
            "/bin/bash",
            [TestSupport.root + "/scripts/demo_handheld.sh", TestSupport.binDir, dir],
            env: scriptEnv,
            cwd: TestSupport.root
        )
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("shift-today.csv: imported 2, duplicates 0, rejected 0"), "\(out.stdout)")
        let urls = out.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init).filter { $0.hasPrefix("HTTP://") }
        #expect(urls.count == 3)
        // the printed ticket's code is the URL shown beside it
        #expect(try TestSupport.zbarimg(dir + "/handheld/ticket-0900001.png") == [urls[0]])
        let tickets = try Store(path: dir + "/lotse.sqlite").allCases().filter { $0.deviceID == "HH-DEMO" }
        #expect(tickets.map(\.ticketNo) == ["0900001", "0900002"])
        #expect(tickets.map(\.status) == [.paid, .open])
        #expect(tickets.allSatisfy { BerlinTime.local($0.issuedAt).date == BerlinTime.local(Int64(Date().timeIntervalSince1970)).date })
    }

    /// Without `--start` the demo pilot ends today: today's or yesterday's tickets, open cases whose deadline is
    /// ahead, and one case page of each state printed.
    @Test func theDemoPilotEndsToday() throws {
        let dir = TestSupport.tempDir("lotse-demo-today")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try TestSupport.lotse(["demo", "--months", "1", "--seed", "5"], dataDir: dir, env: ["LOTSE_DEMO": "1"])
        #expect(out.status == 0, "\(out.stderr)")
        let now = Int64(Date().timeIntervalSince1970)
        let today = BerlinTime.local(now).date
        #expect(out.stdout.contains("pilot from \(today.addingMonthsKeepingDay(-1)) to \(today)"), "\(out.stdout)")
        for state in ["open", "overdue", "reminded", "partly paid", "paid"] {
            #expect(out.stdout.contains("(\(state)): http"), "\(state)")
        }
        let cases = try Store(path: dir + "/lotse.sqlite").allCases()
        let newest = try #require(cases.map { BerlinTime.local($0.issuedAt).date }.max())
        #expect(newest >= today.adding(days: -1))
        #expect(cases.contains { $0.status == .open && CivilDate(iso: $0.deadline)! >= today })
        // nothing happened after now
        #expect(cases.allSatisfy { $0.issuedAt <= now && ($0.paidAt ?? 0) <= now })
    }
}

extension CivilDate {
    /// The same day `n` months on (the month's last day where it is shorter), as `lotse demo` counts.
    func addingMonthsKeepingDay(_ n: Int) -> CivilDate {
        let m0 = year * 12 + (month - 1) + n
        let first = CivilDate(year: m0 / 12, month: m0 % 12 + 1, day: 1)
        let next = CivilDate(year: (m0 + 1) / 12, month: (m0 + 1) % 12 + 1, day: 1)
        return CivilDate(year: first.year, month: first.month, day: min(day, next.adding(days: -1).day))
    }
}
