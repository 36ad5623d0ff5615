import Foundation
import GRDB
import LotseCore
import LotseHTTP
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Issue 14: a motorist pays a ticket with PayPal minutes after the warden printed it, hours before the shift's
/// export is imported: the real `lotse serve`, the real `lotse-handheld`, the PayPal simulator.
@Suite(.serialized) struct PayBeforeImportTests {
    /// HH-Q enrolled in the harness's data directory; `lotse-handheld issue` of ticket `number` into `export`.
    /// `at` nil: now (a ticket can be paid online before its import only within `LOTSE_PENDING_DAYS` of its issue).
    static func issue(_ h: PayPalHarness, _ number: String, export: String, at: String? = nil) throws -> String {
        let key = h.dir + "/hhq.json"
        if !FileManager.default.fileExists(atPath: key) {
            let added = try TestSupport.lotse(["devices", "add", "HH-Q", "--out", key], dataDir: h.dir, env: h.serveEnv)
            guard added.status == 0 else { throw PayPalHarness.Failure("devices add: \(added.stderr)") }
        }
        var args = ["issue", "--key", key, "--ticket", number, "--plate", "KL-Q 42", "--tbnr", "141312", "--street", "Markt"]
        args += ["--city", "Kaiserslautern", "--export", export, "--catalogue", TestSupport.cataloguePath]
        if let at { args += ["--at", at] }
        let issued = try TestSupport.run(TestSupport.lotseHandheld, args)
        guard issued.status == 0 else { throw PayPalHarness.Failure("lotse-handheld: \(issued.stderr)") }
        return issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func payWithPayPalBeforeTheExportAndTheImportClosesTheCase() async throws {
        let h = try PayPalHarness(cases: 1)
        defer { h.stop() }
        let export = h.dir + "/shift-q.csv"
        let url = try Self.issue(h, "0000042", export: export)
        let path = String(url.dropFirst(h.base.count))
        let b = Browser(h.http)
        // the pending page offers PayPal (and the transfer with the ticket's reference)
        let page = try await b.send("GET", h.base + path + "?lang=en")
        #expect(page.status == 200 && page.text.contains("The full record follows") && page.text.contains("Pay with PayPal"))
        let csrf = try #require(b.cookies["lotse_csrf"])
        // a forged form opens nothing
        let forged = try await b.send("POST", h.base + path + "/pay", form: ["csrf": String(repeating: "0", count: 32)])
        #expect(forged.status == 303 && !(forged.headers["location"] ?? "").contains(h.simBase))
        #expect(try h.store().allCases().count == 1)

        // pressed twice (a double click): one provisional case, one order
        async let first = b.send("POST", h.base + path + "/pay", form: ["csrf": csrf, "lang": "en"])
        async let second = b.send("POST", h.base + path + "/pay", form: ["csrf": csrf, "lang": "en"])
        let links = Set(try await [first, second].map { $0.headers["location"] ?? "" })
        #expect(links.count == 1 && links.first!.hasPrefix(h.simBase + "/checkoutnow?token="), "\(links)")
        #expect(try h.simOrders().count == 1)
        let provisional = try #require(try h.store().allCases().first { $0.isProvisional })
        #expect(provisional.ticketNo == "42" && provisional.deviceID == "HH-Q" && provisional.amountCents == 2500)

        let back = try await b.send("GET", links.first! + "&sim_action=approve")
        let done = try await b.send("GET", try #require(b.location(back, base: h.base)))
        let receiptURL = try #require(b.location(done, base: h.base))
        #expect(receiptURL.contains("/receipt"))
        let receipt = try await b.send("GET", receiptURL)
        #expect(receipt.status == 200 && receipt.text.contains(provisional.caseNumber) && receipt.text.contains("€25.00"))
        // the ticket's code now leads to the paid case; plate and place follow with the export
        let paid = try await b.send("GET", h.base + path + "?lang=en")
        #expect(paid.text.contains("status-paid") && paid.text.contains("follows with the device") && !paid.text.contains("Pay with PayPal"))
        #expect(try caseState(h, provisional.caseNumber).0 == .paid)

        // the evening import completes the case: the same number, paid once, no reminder
        let imported = try TestSupport.lotse(["import", export], dataDir: h.dir, env: h.serveEnv)
        #expect(imported.status == 0 && imported.stdout.contains("imported 1, duplicates 0, rejected 0"), "\(imported.stdout) \(imported.stderr)")
        let cases = try h.store().allCases()
        #expect(cases.count == 2)
        let completed = try #require(cases.first { $0.id == provisional.id })
        #expect(!completed.isProvisional && completed.plate == "KL-Q 42" && completed.ticketNo == "0000042" && completed.status == .paid)
        let (_, payments) = try caseState(h, completed.caseNumber)
        #expect(payments.count == 1 && payments[0].channel == .paypal && payments[0].disposition == .paid)
        let shown = try TestSupport.lotse(["case", completed.caseNumber], dataDir: h.dir, env: h.serveEnv)
        #expect(shown.stdout.contains("KL-Q 42") && !shown.stdout.contains("differs"), "\(shown.stdout)")
        let dunning = try TestSupport.lotse(["dunning", "--as-of", "2026-04-30"], dataDir: h.dir, env: h.serveEnv)
        #expect(dunning.status == 0)
        #expect(try caseState(h, completed.caseNumber).0 == .paid)
    }

    @Test func theOfficeSeesWhereTheExportDiffersFromTheScannedCode() async throws {
        let h = try PayPalHarness(cases: 1)
        defer { h.stop() }
        // the code printed at 09:30; the export (edited on the device) says 10:15
        let url = try Self.issue(h, "0000043", export: h.dir + "/printed.csv", at: "2026-03-14T09:30")
        _ = try Self.issue(h, "0000043", export: h.dir + "/exported.csv", at: "2026-03-14T10:15")
        #expect(try TestSupport.lotse(["import", h.dir + "/exported.csv"], dataDir: h.dir, env: h.serveEnv).status == 0)
        let page = try await h.http.send(OutboundRequest(url: url))
        #expect(page.status == 200)
        let number = try #require(try h.store().allCases().first { $0.ticketNo == "0000043" }?.caseNumber)
        #expect(page.text.contains(number))
        // page views are written once a second
        var shown = ""
        for _ in 0..<40 {
            shown = try TestSupport.lotse(["case", number], dataDir: h.dir, env: h.serveEnv).stdout
            if shown.contains("differs") { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(shown.contains("time signed 2026-03-14 09:30, exported 2026-03-14 10:15"), "\(shown)")
        // scanned again: noted once
        _ = try await h.http.send(OutboundRequest(url: url))
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let events = try h.store().caseHistory(number: number)?.events ?? []
        #expect(events.filter { $0.kind == .ticketDiffers }.count == 1)
    }
}
