import Foundation
import GRDB
import LotseCore
import LotseHTTP
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

@testable import LotseWeb

/// The evaluators' dashboard as a council sees it (issue 19): a year of tickets, read in a real headless Chromium at
/// 1280 px and on a 390 px phone, and printed as the PDF report.
@Suite(.serialized) struct DashboardTests {
    /// Twelve months of tickets (December 2025 to November 2026, 20 a month, one in five without a QR code), every
    /// third paid in cash, then the dunning of 30 November.
    static func aYearOfTickets(_ h: ConsoleHarness) throws {
        var lines = ["ticket_no;device_id;issued_at;plate;tbnr;street;city;qr_printed"]
        var number = 5000
        var month = CivilDate(year: 2025, month: 12, day: 1)
        for _ in 0..<12 {
            for i in 0..<20 {
                number += 1
                lines.append(
                    "\(number);HH-D;\(month.adding(days: i))T10:\(10 + i);KL-DB \(number);141312;Markt;Kaiserslautern;\(i % 5 == 4 ? 0 : 1)"
                )
            }
            month =
                month.month == 12 ? CivilDate(year: month.year + 1, month: 1, day: 1) : CivilDate(year: month.year, month: month.month + 1, day: 1)
        }
        TestSupport.write(h.dir + "/year.csv", lines.joined(separator: "\n") + "\n")
        let imported = try TestSupport.lotse(["import", h.dir + "/year.csv"], dataDir: h.dir, env: h.env)
        #expect(imported.stdout.contains("imported 240"), "\(imported.stdout)\(imported.stderr)")
        let cases = try h.store().read { db in
            try Row.fetchAll(db, sql: "SELECT case_number, amount_cents, issued_day FROM cases WHERE source_id LIKE 'HH-D/%' ORDER BY id")
                .map { ($0[0] as String, $0[1] as Int, CivilDate(iso: $0[2] as String)!) }
        }
        var cash = ["case_number;amount_eur;paid_on"]
        for (index, c) in cases.enumerated() where index % 3 == 0 {
            cash.append("\(c.0);\(Money.plain(c.1).replacingOccurrences(of: ".", with: ","));\(c.2.adding(days: 3))")
        }
        TestSupport.write(h.dir + "/cash.csv", cash.joined(separator: "\n") + "\n")
        #expect(try TestSupport.lotse(["payments", "import", h.dir + "/cash.csv"], dataDir: h.dir, env: h.env).status == 0)
        #expect(try TestSupport.lotse(["dunning", "--as-of", "2026-11-30"], dataDir: h.dir, env: h.env).status == 0)
    }

    static let period = "from=2025-12-01&to=2026-11-30"

    @Test(.enabled(if: WebDriver.available, "chromium and chromedriver are installed by make test"))
    func aCouncilReadsTheDashboardAtTheDeskOnAPhoneAndOnPaper() async throws {
        let h = try ConsoleHarness()
        try Self.aYearOfTickets(h)
        let browser = try WebDriver(width: 1280, height: 900, language: "en", log: h.dir + "/chromedriver.log")
        defer { browser.quit() }
        let shots = ProcessInfo.processInfo.environment["LOTSE_SCREENSHOT_DIR"]
        func shot(_ name: String) throws { if let shots { try browser.screenshot(to: shots + "/" + name + ".png") } }

        // the evaluator signs in on the dashboard's own page
        try browser.go(h.base + "/stats")
        try browser.type("#user", "eva")
        try browser.type("#password", ConsoleHarness.password)
        try browser.click("form[action='/office/login'] button")
        #expect(browser.wait { browser.url.contains("/stats") && browser.source.contains("<svg") }, "after signing in: \(browser.url)")
        try browser.go(h.base + "/stats?\(Self.period)&lang=en")
        #expect(browser.title.hasPrefix("Pilot statistics"))

        // At 1280 px nothing is cut off: the page does not scroll sideways, and neither table needs to.
        #expect(try browser.resize(width: 1280, height: 900) >= 1200)
        let wide = try #require(
            try browser.script(
                """
                const tables = [...document.querySelectorAll('.table')];
                return { page: document.documentElement.scrollWidth - window.innerWidth,
                         tables: tables.map(t => t.scrollWidth - t.clientWidth), rows: document.querySelectorAll('table tbody tr').length };
                """
            ) as? [String: Any]
        )
        #expect(wide["page"] as? Int ?? 1 <= 0, "the page is wider than the window: \(wide)")
        #expect((wide["tables"] as? [Int]) == [0, 0], "a table is cut off at 1280 px: \(wide)")
        #expect(wide["rows"] as? Int == 26, "12 months and a total, in counts and in money: \(wide)")
        // money in euros, the headline in words
        let page = browser.source
        #expect(page.contains("Collected so far: €"), "no money headline")
        #expect(page.contains("<td>Nov 2026</td>") && page.contains("<td>Dec 2025</td>"))
        try shot("dashboard-1280")

        // On a 390 px phone the page still does not scroll sideways: the charts and tables scroll within their boxes.
        let narrow = try browser.resize(width: 390, height: 844)
        #expect(narrow > 0 && narrow <= 400)
        let phone = try #require(
            try browser.script(
                """
                const boxes = [...document.querySelectorAll('.chart, .table')];
                return { page: document.documentElement.scrollWidth - window.innerWidth,
                         outside: boxes.filter(b => b.getBoundingClientRect().right > window.innerWidth + 1).length,
                         scrolling: boxes.filter(b => b.scrollWidth > b.clientWidth).map(b => getComputedStyle(b).overflowX) };
                """
            ) as? [String: Any]
        )
        #expect(phone["page"] as? Int ?? 1 <= 0, "the page scrolls sideways on a phone: \(phone)")
        #expect(phone["outside"] as? Int == 0, "a chart or table reaches past the screen: \(phone)")
        let scrolling = phone["scrolling"] as? [String] ?? []
        #expect(!scrolling.isEmpty && scrolling.allSatisfy { $0 == "auto" || $0 == "scroll" }, "\(phone)")
        try shot("dashboard-390")

        // The PDF for the council: A4, several pages, numbered, with the city, the period, the money; no heading at
        // the foot of a page (headings keep with what follows them); nothing of the screen's controls.
        let eva = try await h.clerk("eva")
        let reply = try await eva.get("/stats/report.pdf?\(Self.period)&lang=en")
        #expect(reply.status == 200 && reply.headers["content-type"] == "application/pdf", "\(reply.status) \(reply.text.prefix(300))")
        #expect(reply.headers["content-disposition"]?.contains("lotse-report-2025-12-01-2026-11-30.pdf") == true)
        let pdf = h.dir + "/report.pdf"
        TestSupport.write(pdf, bytes: Array(reply.body))
        let info = try TestSupport.run("/usr/bin/pdfinfo", [pdf]).stdout
        let pages = try #require(info.split(separator: "\n").first { $0.hasPrefix("Pages:") }.flatMap { Int($0.split(separator: " ").last!) })
        #expect(pages >= 2 && pages <= 8, "\(info)")
        #expect(info.contains("(A4)"), "\(info)")
        let text = try TestSupport.run("/usr/bin/pdftotext", ["-layout", pdf, "-"]).stdout
        for expected in [
            "Pilot statistics", "Kaiserslautern", "Period 2025-12-01 – 2026-11-30", "printed on", "Collected so far: €", "Money",
            "Nov 2026", "Reminder rate",
        ] {
            #expect(text.contains(expected), "the PDF lacks \(expected)")
        }
        #expect(!text.contains("Sign out") && !text.contains("Download as CSV"))
        let headings = [
            "Tickets issued and paid, by channel", "From ticket to online payment", "Money", "Rates", "Time to payment",
            "Languages the pages were read in", "Figures per month",
        ]
        for number in 1...pages {
            let one = try TestSupport.run("/usr/bin/pdftotext", ["-f", String(number), "-l", String(number), "-layout", pdf, "-"]).stdout
            var lines = one.split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet.whitespaces.union(["\u{0C}"])) }.filter {
                !$0.isEmpty
            }
            let footer = lines.popLast() ?? ""
            #expect(footer.replacingOccurrences(of: " ", with: "") == "\(number)/\(pages)", "page \(number) ends with '\(footer)'")
            #expect(!headings.contains(lines.last ?? ""), "page \(number) ends with the heading '\(lines.last ?? "")'")
        }

        // without a session, no report
        let anonymous = try await h.clerk(nil)
        #expect(try await anonymous.get("/stats/report.pdf?\(Self.period)").status == 401)
    }

    /// One set of figures for money everywhere: the API in cents, the CSV in euros, the dashboard in words.
    @Test func moneyAgreesAcrossAPICSVAndDashboard() async throws {
        let h = try ConsoleHarness()
        try Self.aYearOfTickets(h)
        let truth = try h.store().read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT sum(amount_cents * (status != 'cancelled')), sum(amount_cents * (status = 'paid' AND paid_channel = 'cash')),
                           sum((amount_cents - received_cents) * (status IN ('open', 'overdue', 'reminded')))
                    FROM cases WHERE issued_day BETWEEN '2025-12-01' AND '2026-11-30'
                    """
            ).map { ($0[0] as Int, $0[1] as Int, $0[2] as Int) }
        }
        let (fines, cash, outstanding) = try #require(truth)
        #expect(cash > 0 && outstanding > 0 && fines == cash + outstanding)
        let eva = try await h.clerk("eva")
        let api = try JSONSerialization.jsonObject(with: Data(try await eva.get("/api/v1/stats?\(Self.period)").body)) as? [String: Any]
        let money = try #require((api?["money"] as? [String: Any])?["totals"] as? [String: Int])
        #expect(
            money == [
                "fines_cents": fines, "collected_cents": cash, "collected_online_cents": 0, "collected_bank_transfer_cents": 0,
                "collected_cash_cents": cash, "part_payments_cents": 0, "outstanding_cents": outstanding, "handed_over_cents": 0,
            ]
        )
        #expect((api?["money"] as? [String: Any])?["months"].map { ($0 as? [Any])?.count } == 12)
        let csv = try await eva.get("/api/v1/stats.csv?\(Self.period)&lang=de").text
        #expect(
            csv.split(separator: "\n").first?.hasSuffix(
                ";Verwarnungsgelder_EUR;eingenommen_EUR;online_eingenommen_EUR;überwiesen_EUR;bar_EUR;Teilzahlungen_EUR;ausstehend_EUR;abgegeben_EUR"
            ) == true
        )
        let total = try #require(csv.split(separator: "\n").first { $0.hasPrefix("total;") })
        #expect(
            total.hasSuffix(";\(Money.plain(fines));\(Money.plain(cash));0.00;0.00;\(Money.plain(cash));0.00;\(Money.plain(outstanding));0.00"),
            "\(total)"
        )
        let page = try await eva.get("/stats?\(Self.period)&lang=en").text
        #expect(
            page.contains(
                "Collected so far: \(Money.display(cash, language: "en")) of \(Money.display(fines, language: "en")) in fines; "
                    + "\(Money.display(outstanding, language: "en")) still outstanding."
            )
        )
        let german = try await eva.get("/stats?\(Self.period)&lang=de").text
        #expect(german.contains("Bisher eingenommen: \(Money.display(cash, language: "de")) von \(Money.display(fines, language: "de"))"))
    }

    /// A Chromium that fails, or takes too long, gives an error (the route then answers 503 with the page that says to
    /// print from the browser); a third report while two are printed is told to wait.
    @Test func aFailingChromiumIsAnErrorNotAHang() async throws {
        let failing = ReportPrinter(chromium: "/bin/false", publicDir: TestSupport.root + "/public")
        await #expect(throws: ReportPrinter.Failure.self) { try await failing.pdf(of: "<html></html>") }
        let dir = TestSupport.tempDir("lotse-slow-chromium")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(
            atPath: dir + "/chromium",
            contents: Data("#!/bin/sh\nsleep 30\n".utf8),
            attributes: [.posixPermissions: 0o755]
        )
        let slow = ReportPrinter(chromium: dir + "/chromium", publicDir: TestSupport.root + "/public", timeout: 1, limit: 1)
        let started = Date()
        let first = Task { try await slow.pdf(of: "<html></html>") }
        try await Task.sleep(nanoseconds: 200_000_000)
        await #expect(throws: ReportPrinter.Failure.self) { try await slow.pdf(of: "<html></html>") }  // busy
        await #expect(throws: ReportPrinter.Failure.self) { try await first.value }  // stopped after its timeout
        #expect(Date().timeIntervalSince(started) < 10)
        // the page it prints carries its stylesheet and logo inline (a file page cannot reach the server)
        let page = failing.inline("<link rel=\"stylesheet\" href=\"/style.css\"><img src=\"/logo.svg\">")
        #expect(page.contains("<style>") && page.contains("src=\"data:image/svg+xml;base64,") && !page.contains("/style.css"))
    }
}
