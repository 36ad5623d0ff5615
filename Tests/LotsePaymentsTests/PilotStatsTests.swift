import Foundation
import GRDB
import LotseCore
import LotseHTTP
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// A small pilot built through the real flows (import, page views over HTTP, PayPal through the simulator,
/// a camt file, cash, the dunning run), with a known truth for every counter and rate.
@Suite(.serialized) struct PilotStatsTests {
    func camt(_ entries: [(amount: String, ref: String, text: String, date: String)]) -> String {
        let ntry = entries.map { e in
            """
            <Ntry><Amt Ccy="EUR">\(e.amount)</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>\(e.date)</Dt></BookgDt>
            <AcctSvcrRef>\(e.ref)</AcctSvcrRef><NtryDtls><TxDtls><AmtDtls><TxAmt><Amt Ccy="EUR">\(e.amount)</Amt></TxAmt></AmtDtls>
            <RmtInf><Ustrd>\(e.text)</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
            """
        }.joined(separator: "\n")
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>1</MsgId></GrpHdr>
            <Ntfctn>\(ntry)</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>
            """
    }

    @Test func everyCounterAndRateOfAKnownPilot() async throws {
        let h = try PayPalHarness(
            cases: 20,
            withoutQR: [17, 18, 19, 20],
            env: ["LOTSE_EVALUATOR_TOKEN": "eval-token-1", "LOTSE_VIEW_FLUSH_SECONDS": "1"]
        )
        defer { h.stop() }
        func n(_ i: Int) -> String { CaseNumber.make(prefix: "KL", year: 2026, sequence: i) }
        func tok(_ i: Int) -> String { h.tokens[n(i)]! }
        // 20 tickets of 14 March, 17–20 without QR code; 14 is paid and then cancelled, 21 comes in a later file.
        // Page views: 1–7 in German, 8–10 in English, case 1 twice; a HEAD and a link-preview bot do not count.
        for i in 1...10 {
            let b = Browser(h.http)
            _ = try await b.send("GET", h.base + "/T/\(tok(i))" + (i >= 8 ? "?lang=en" : ""))
            if i == 1 { _ = try await b.send("GET", h.base + "/T/\(tok(i))") }
        }
        _ = try await h.http.send(OutboundRequest(method: "HEAD", url: h.base + "/T/\(tok(11))"))
        _ = try await h.http.send(OutboundRequest(url: h.base + "/T/\(tok(12))", headers: [("User-Agent", "WhatsApp/2.23")]))
        // PayPal: 1–4 pay; 5 starts and cancels.
        for i in 1...5 {
            let b = Browser(h.http)
            _ = try await b.send("GET", h.base + "/T/\(tok(i))")
            let pay = try await b.send("POST", h.base + "/T/\(tok(i))/pay", form: ["csrf": b.cookies["lotse_csrf"]!])
            let back = try await b.send("GET", b.location(pay, base: h.base)! + "&sim_action=" + (i == 5 ? "cancel" : "approve"))
            _ = try await b.send("GET", b.location(back, base: h.base)!)
        }
        // A first look at the figures folds every case into the statistics cells: what follows reaches them through
        // the trigger on cases (differences of old and new rows), and must give the same truth. This server writes page
        // views every second (`LOTSE_VIEW_FLUSH_SECONDS`): the first look waits until the 16 views above are written.
        for _ in 0..<50 {
            let views = try h.store().read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events WHERE kind = 'page_viewed'") } ?? 0
            if views >= 16 { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let early = try TestSupport.lotse(
            ["stats", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "csv"],
            dataDir: h.dir,
            env: ["LOTSE_PUBLIC_BASE_URL": h.base]
        )
        #expect(early.stdout.contains("2026-03;20;10;5;< 5;< 5;0;0;0;0;0"), "\(early.stdout)")
        // A case paid and then cancelled leaves the figures as they were.
        TestSupport.write(h.dir + "/cash0.csv", "case_number;amount_eur;paid_on\n\(n(14));25,00;2026-03-15\n")
        _ = try TestSupport.lotse(["payments", "import", h.dir + "/cash0.csv"], dataDir: h.dir, env: ["LOTSE_PUBLIC_BASE_URL": h.base])
        _ = try TestSupport.lotse(["case", n(14), "--cancel", "wrong plate"], dataDir: h.dir, env: ["LOTSE_PUBLIC_BASE_URL": h.base])
        // A case imported after the first look is folded in by the next.
        TestSupport.write(
            h.dir + "/t2.csv",
            "ticket_no;device_id;issued_at;plate;tbnr;street;city\n99;HH-P;2026-03-14T09:00;KL-PP 99;141312;Markt;Kaiserslautern\n"
        )
        #expect(
            try TestSupport.lotse(["import", h.dir + "/t2.csv"], dataDir: h.dir, env: ["LOTSE_PUBLIC_BASE_URL": h.base]).stdout.contains("imported 1")
        )
        // Transfers for 6, 7 and 11 on 18 March (in time), one nobody can match; cash for 13 on 20 March.
        let c1 = h.dir + "/c1.xml"
        TestSupport.write(
            c1,
            camt([
                ("25.00", "A1", "Az \(n(6))", "2026-03-18"), ("25.00", "A2", n(7).lowercased(), "2026-03-18"),
                ("25.00", "A3", "Verwarnung \(n(11))", "2026-03-18"), ("25.00", "A4", "Knoellchen", "2026-03-18"),
            ])
        )
        let env = ["LOTSE_PUBLIC_BASE_URL": h.base]
        #expect(try TestSupport.lotse(["reconcile", c1], dataDir: h.dir, env: env).stdout.contains("matched 3, unmatched 1"))
        TestSupport.write(h.dir + "/cash.csv", "case_number;amount_eur;paid_on\n\(n(13));25,00;2026-03-20\n")
        #expect(try TestSupport.lotse(["payments", "import", h.dir + "/cash.csv"], dataDir: h.dir, env: env).status == 0)
        // Dunning on 27 March: 12 unpaid cases get a reminder; 12 pays late on 30 March.
        try await Task.sleep(nanoseconds: 600_000_000)  // the page-view batch is written
        #expect(try TestSupport.lotse(["dunning", "--as-of", "2026-03-27"], dataDir: h.dir, env: env).stdout.contains("reminded 12"))
        let c2 = h.dir + "/c2.xml"
        TestSupport.write(c2, camt([("25.00", "B1", n(12), "2026-03-30")]))
        _ = try TestSupport.lotse(["reconcile", c2], dataDir: h.dir, env: env)

        let out = try TestSupport.lotse(["stats", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "json"], dataDir: h.dir, env: env)
        #expect(out.status == 0, "\(out.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as! [String: Any]
        let totals = json["totals"] as! [String: Int]
        #expect(
            totals == [
                "issued": 20, "scanned": 10, "handoff_started": 5, "paid": 9, "paid_online": 4, "paid_bank_transfer": 4,
                "paid_other": 1, "paid_on_time": 4, "reminded": 12, "unmatched_bank_payments": 1,
            ]
        )
        let months = json["months"] as! [[String: Any]]
        #expect(months.count == 1 && months[0]["month"] as? String == "2026-03" && months[0]["issued"] as? Int == 20)
        let rates = (json["rates"] as! [String: Any]).compactMapValues { $0 as? Double }
        #expect(rates["scan_rate"] == 0.5 && rates["online_share_of_issued"] == 0.2 && rates["on_time_rate"] == 0.2)
        // the reminder rate: QR tickets whose reminder date has passed (8 of 16); over all tickets, a figure apart
        #expect(rates["online_share_of_paid"] == 0.4444 && rates["reminder_rate"] == 0.5 && rates["reminder_rate_all_tickets"] == 0.6)
        #expect(json["languages"] as? [String: Int] == ["de": 7, "en": 3])
        let cmp = json["comparison"] as! [String: Any]
        #expect(cmp["pilot_reminder_rate"] as? Double == 0.5)  // 8 of the 16 QR tickets
        #expect(cmp["baseline_reminder_rate"] as? Double == 0.2782)  // 1146 of 4120 in March 2025
        #expect(cmp["note"] as? String == "not enough data" && cmp["significant"] is NSNull)
        let control = cmp["control_group"] as! [String: Any]
        #expect(control["control_reminder_rate"] as? Double == 1.0 && control["reference_cases"] as? Int == 4)
        let times = json["time_to_payment"] as! [String: [String: Any]]
        #expect(times["bank_transfer"]?["count"] as? Int == 4 && times["cash"]?["count"] as? Int == 1)
        // Money (issue 19), in cents: every fine is 25 EUR; 4 paid online, 4 by transfer, 1 in cash, 11 still open. The
        // case paid in cash and then cancelled brings nothing (its money is on the refund list).
        let amounts = try h.store().read { try Int.fetchAll($0, sql: "SELECT DISTINCT amount_cents FROM cases") }
        #expect(amounts == [2500])
        let money = (json["money"] as? [String: Any])?["totals"] as? [String: Int]
        #expect(
            money == [
                "fines_cents": 50_000, "collected_cents": 22_500, "collected_online_cents": 10_000, "collected_bank_transfer_cents": 10_000,
                "collected_cash_cents": 2_500, "part_payments_cents": 0, "outstanding_cents": 27_500, "handed_over_cents": 0,
            ]
        )

        // The same numbers from the API; the CSV suppresses groups under 5; no token, no data.
        let api = try await h.http.send(
            OutboundRequest(
                url: h.base + "/api/v1/stats?from=2026-03-01&to=2026-03-31",
                headers: [("Authorization", "Bearer eval-token-1")]
            )
        )
        let apiJSON = try JSONSerialization.jsonObject(with: Data(api.body)) as! [String: Any]
        // counts from 1 to 4 are suppressed as in the CSV (null, named in "suppressed")
        let apiTotals = apiJSON["totals"] as! [String: Any]
        #expect(totals.allSatisfy { k, n in n > 0 && n < 5 ? apiTotals[k] is NSNull : apiTotals[k] as? Int == n })
        let csv = try await h.http.send(
            OutboundRequest(
                url: h.base + "/api/v1/stats.csv?from=2026-03-01&to=2026-03-31",
                headers: [("Authorization", "Bearer eval-token-1")]
            )
        )
        #expect(csv.text.contains("2026-03;20;10;5;9;< 5;< 5;< 5;< 5;12;< 5"))
        #expect(csv.text.contains(";500.00;225.00;100.00;100.00;25.00;0.00;275.00;0.00\n"), "\(csv.text)")
        #expect(try await h.http.send(OutboundRequest(url: h.base + "/api/v1/stats")).status == 401)
        // Issue 19: one reminder rate everywhere. The API's rate, the CSV's (its total row), the headline's and the
        // dashboard's list are the same 50 % (the QR tickets whose reminder date has passed).
        #expect((apiJSON["rates"] as? [String: Any])?["reminder_rate"] as? Double == 0.5)
        let csvTotal = try #require(csv.text.split(separator: "\n").first { $0.hasPrefix("total;") })
        #expect(csvTotal.split(separator: ";", omittingEmptySubsequences: false)[11] == "0.5000", "\(csvTotal)")
        let bearer = [("Authorization", "Bearer eval-token-1")]
        let english = try await h.http.send(OutboundRequest(url: h.base + "/stats?from=2026-03-01&to=2026-03-31&lang=en", headers: bearer))
        #expect(english.text.contains("With QR codes 50.0 % of the cases needed a reminder"))
        #expect(
            english.text.contains("Reminder rate: <strong>50.0 %</strong>")
                && english.text.contains("Reminder share over all tickets: <strong>60.0 %</strong>")
        )
        #expect(english.text.contains("<td>Mar 2026</td>") && english.text.contains("How to read this"))
        #expect(english.text.contains("Collected so far: €225.00 of €500.00 in fines; €275.00 still outstanding."))
        // the reminder chart: legends for the pilot's band and the control group, round ticks
        #expect(english.text.contains(">pilot&#39;s 95 % range<") || english.text.contains(">pilot's 95 % range<"))
        #expect(english.text.contains(">without QR code (control group)<") && english.text.contains(">25 %</text>"))
        // the printed report names the city, the period and the day it was printed
        #expect(english.text.contains("<p class=\"printonly\">Kaiserslautern · Period 2026-03-01 – 2026-03-31 · printed on "))
        // the language switch keeps the period; the German CSV names its columns in German
        #expect(english.text.contains("href=\"/stats?from=2026-03-01&amp;to=2026-03-31&amp;lang=de\""))
        let germanCSV = try await h.http.send(
            OutboundRequest(url: h.base + "/api/v1/stats.csv?from=2026-03-01&to=2026-03-31&lang=de", headers: bearer)
        )
        #expect(germanCSV.text.hasPrefix("Monat;ausgestellt;gescannt;") && germanCSV.text.contains(";Erinnerungsquote;"))
        // a period that cannot be: said on the page, not a JSON error
        let inverted = try await h.http.send(OutboundRequest(url: h.base + "/stats?from=2026-04-01&to=2026-03-01&lang=en", headers: bearer))
        #expect(inverted.status == 400 && inverted.headers["content-type"]?.hasPrefix("text/html") == true)
        #expect(inverted.text.contains("This period cannot be shown"))
        // The dashboard: sign-in form, session cookie, charts.
        let b = Browser(h.http)
        let form = try await b.send("GET", h.base + "/stats")
        #expect(form.status == 401 && form.text.contains("name=\"user\""))  // accounts sign in; the token stays for scripts
        // an evaluator's account (the token is for machine clients)
        let add = try TestSupport.lotse(
            ["users", "add", "eva", "--role", "evaluator", "--password-stdin"],
            env: h.serveEnv,
            stdin: "Auswertung-im-Maerz-26"
        )
        #expect(add.status == 0)
        let wrong = try await b.send("POST", h.base + "/office/login", form: ["csrf": b.cookies["lotse_csrf"]!, "user": "eva", "password": "nope"])
        #expect(wrong.status == 401)
        let ok = try await b.send(
            "POST",
            h.base + "/office/login",
            form: ["csrf": b.cookies["lotse_csrf"]!, "user": "eva", "password": "Auswertung-im-Maerz-26", "next": "/stats"]
        )
        #expect(ok.status == 303 && b.cookies["lotse_session"] != nil)
        let dash = try await b.send("GET", h.base + "/stats?from=2026-03-01&to=2026-03-31&lang=en")
        #expect(dash.status == 200 && dash.text.components(separatedBy: "<svg xmlns").count == 4)
        #expect(dash.text.contains("With QR codes 50.0 % of the cases needed a reminder, against 27.8 %"))
        // the German dashboard says it in German, with decimal commas
        let german = try await b.send("GET", h.base + "/stats?from=2026-03-01&to=2026-03-31&lang=de")
        #expect(german.text.contains("Mit QR-Code brauchten 50,0 % der Fälle eine Erinnerung, gegenüber 27,8 %"))
        #expect(!german.text.contains("With QR codes") && !german.text.contains("not enough data"))
        #expect(!dash.text.contains("KL-PP"))  // no plates, no personal data
    }
}
