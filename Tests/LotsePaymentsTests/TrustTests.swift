import Foundation
import GRDB
import LotseCore
import LotseHTTP
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Presses "Pay with PayPal" on the case page: the approval link and its order id.
func pressPay(_ h: PayPalHarness, _ b: Browser, _ tok: String) async throws -> (url: String, orderID: String) {
    if b.cookies["lotse_csrf"] == nil { _ = try await b.send("GET", h.base + "/T/\(tok)") }
    let pay = try await b.send("POST", h.base + "/T/\(tok)/pay", form: ["csrf": b.cookies["lotse_csrf"] ?? ""])
    let url = pay.headers["location"] ?? ""
    return (url, String(url.split(separator: "=").last ?? ""))
}

func simCaptures(_ orders: [[String: Any]], order: String) -> [[String: Any]] {
    (orders.first { $0["id"] as? String == order }?["captures"] as? [[String: Any]]) ?? []
}

/// The payments section of issue 12: nobody pays twice, webhooks prove nothing by themselves, an order id belongs
/// to one case, a cancelled case is not captured.
@Suite(.serialized) struct PaymentTrustTests {
    /// Pay (O1), cancel at the return URL (O1 stays approvable at PayPal), pay again (O2), approve both, return both
    /// at once (and the approval webhooks arrive as well): one capture per case at PayPal, one payment in Lotse.
    @Test func twoApprovedOrdersReturnedAtOnceAreCapturedOnce() async throws {
        let n = 10
        let h = try PayPalHarness(cases: n)
        defer { h.stop() }
        let base = h.base
        let http = h.http
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 1...n {
                let tok = h.tokens[CaseNumber.make(prefix: "KL", year: 2026, sequence: i)]!
                group.addTask {
                    let b = Browser(http)
                    let first = try await pressPay(h, b, tok)
                    _ = try await b.send("GET", base + "/pay/paypal/cancel?token=\(first.orderID)")
                    let second = try await pressPay(h, b, tok)
                    #expect(second.orderID != first.orderID)
                    var returns: [String] = []
                    for url in [first.url, second.url] {
                        let back = try await b.send("GET", url + "&sim_action=approve")
                        returns.append(try #require(b.location(back, base: base)))
                    }
                    async let r1 = b.send("GET", returns[0])
                    async let r2 = b.send("GET", returns[1])
                    let done = try await [r1, r2]
                    // Both tabs end on the receipt of the one payment.
                    for d in done { #expect(d.headers["location"]?.contains("/receipt") == true, "\(d.headers["location"] ?? "")") }
                }
            }
            try await group.waitForAll()
        }
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let orders = try h.simOrders()
        var perCase: [String: Int] = [:]
        for o in orders { perCase[o["invoice_id"] as! String, default: 0] += (o["captures"] as! [Any]).count }
        #expect(perCase.count == n)
        #expect(perCase.values.allSatisfy { $0 == 1 }, "captures per case at PayPal: \(perCase)")
        for i in 1...n {
            let (status, payments) = try caseState(h, CaseNumber.make(prefix: "KL", year: 2026, sequence: i))
            #expect(status == .paid && payments.map(\.disposition) == [.paid])
        }
        #expect(try h.store().read { try Ledger.refunds($0) }.isEmpty)
    }

    /// A webhook changed after signing (another order id, a forged capture id) is refused; a genuinely signed event
    /// that PayPal's API does not confirm books nothing; the untampered event still verifies.
    @Test func tamperedWebhooksDoNotMarkACasePaid() async throws {
        let h = try PayPalHarness(cases: 2, simArgs: ["--drop-webhooks", "1"], env: ["LOTSE_PAYMENT_SWEEP_SECONDS": "3600"])
        defer { h.stop() }
        let b = Browser(h.http)
        let paid = try await pressPay(h, b, h.tokens["KL-2026-0000001"]!)
        let back = try await b.send("GET", paid.url + "&sim_action=approve")
        _ = try await b.send("GET", b.location(back, base: h.base)!)
        #expect(try caseState(h, "KL-2026-0000001").0 == .paid)
        let open = try await pressPay(h, Browser(h.http), h.tokens["KL-2026-0000002"]!)
        #expect(open.url.contains("/checkoutnow"))
        let capture = try #require(simCaptures(try h.simOrders(), order: paid.orderID).first?["id"] as? String)
        // The capture webhook PayPal signed for case 1 (Lotse never received it: webhooks are dropped).
        let genuine = try #require(try h.simWebhooks().first { $0.body.contains("PAYMENT.CAPTURE.COMPLETED") })
        func post(_ body: String) async throws -> Int {
            let r = try await h.http.send(
                OutboundRequest(
                    method: "POST",
                    url: h.base + "/webhooks/paypal",
                    headers: genuine.headers.map { ($0.key, $0.value) },
                    body: Array(body.utf8)
                )
            )
            return r.status
        }
        let otherOrder = genuine.body.replacingOccurrences(of: paid.orderID, with: open.orderID)
        #expect(otherOrder != genuine.body)
        #expect(try await post(otherOrder) == 400)
        let forgedCapture = otherOrder.replacingOccurrences(of: capture, with: "SIMC99999999")
        #expect(try await post(forgedCapture) == 400)
        #expect(try caseState(h, "KL-2026-0000002").0 == .open)
        #expect(try caseState(h, "KL-2026-0000002").1.isEmpty)
        // A correctly signed event whose contents PayPal's API does not confirm: nothing is booked.
        let event =
            #"{"event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"SIMC99999998","status":"COMPLETED","amount":{"currency_code":"EUR","value":"25.00"},"supplementary_data":{"related_ids":{"order_id":"\#(open.orderID)"}}}}"#
        let sent = try await h.http.send(
            OutboundRequest(
                method: "POST",
                url: h.simBase + "/sim/send-webhook",
                headers: [("Content-Type", "application/json")],
                body: Array(event.utf8)
            )
        )
        #expect(sent.status == 200)
        var handled = false
        for _ in 0..<40 where !handled {
            try await Task.sleep(nanoseconds: 100_000_000)
            handled = try h.store().read { try Int.fetchOne($0, sql: "SELECT count(*) FROM webhook_events") } == 1
        }
        #expect(handled, "the signed event was verified and handled")
        #expect(try caseState(h, "KL-2026-0000002").0 == .open)
        #expect(try caseState(h, "KL-2026-0000002").1.isEmpty)
        // The event as signed verifies (the raw body goes to verification, not a re-serialisation) and changes nothing.
        #expect(try await post(genuine.body) == 200)
        #expect(try caseState(h, "KL-2026-0000001").1.count == 1)
        #expect(try caseState(h, "KL-2026-0000002").1.isEmpty)
    }

    /// PayPal answers a new order with an id Lotse knows for another case: refused and logged, the motorist stays on
    /// their own case page, nobody sees another person's receipt.
    @Test func anOrderIDOfAnotherCaseIsRefused() async throws {
        let h = try PayPalHarness(cases: 2, simArgs: ["--repeat-order-ids"])
        defer { h.stop() }
        let a = Browser(h.http)
        let first = try await pressPay(h, a, h.tokens["KL-2026-0000001"]!)
        let back = try await a.send("GET", first.url + "&sim_action=approve")
        _ = try await a.send("GET", a.location(back, base: h.base)!)
        #expect(try caseState(h, "KL-2026-0000001").0 == .paid)
        let tok2 = h.tokens["KL-2026-0000002"]!
        let b = Browser(h.http)
        let second = try await pressPay(h, b, tok2)
        #expect(!second.url.contains("/checkoutnow"), "sent to another case's order: \(second.url)")
        #expect(second.url.contains("/T/\(tok2)") && second.url.contains("notice=paypal_unavailable"))
        let page = try await b.send("GET", h.base + second.url)
        #expect(page.status == 200 && page.text.contains("status-open"))
        // Even the other order's return link shows case 2 nothing of case 1.
        #expect(try caseState(h, "KL-2026-0000002").0 == .open)
        #expect(try h.store().read { try ProviderOrders.caseID($0, orderID: first.orderID) } == 1)
        let orders2 = try h.store().read { try Int.fetchOne($0, sql: "SELECT count(*) FROM provider_orders WHERE case_id = 2") }
        #expect(orders2 == 0)
        let log = try String(contentsOfFile: h.dir + "/serve.log", encoding: .utf8)
        #expect(log.contains("which belongs to case id 1: refused"))
    }

    /// Request ids do not repeat after a reinstall: the same case id and attempt on a new database make a new order,
    /// not a replay of the old installation's (paid) order.
    @Test func requestIDsDoNotRepeatAfterAReinstall() async throws {
        let h = try PayPalHarness(cases: 1)
        defer { h.stop() }
        let tok = h.tokens["KL-2026-0000001"]!
        let before = try await pressPay(h, Browser(h.http), tok)
        let back = try await Browser(h.http).send("GET", before.url + "&sim_action=approve")
        _ = try await Browser(h.http).send("GET", back.headers["location"]!)
        #expect(try caseState(h, "KL-2026-0000001").0 == .paid)
        try h.restartServe(reinstall: true)
        #expect(try caseState(h, "KL-2026-0000001").0 == .open)
        let after = try await pressPay(h, Browser(h.http), tok)
        #expect(after.url.contains("/checkoutnow"))
        #expect(after.orderID != before.orderID, "the old installation's order was replayed")
        #expect(try h.simOrders().count == 2)
    }

    /// An order opened before `lotse case --cancel` is not captured: not on return, not from the approval webhook,
    /// not by the sweep.
    @Test func cancellingACaseStopsCapture() async throws {
        let h = try PayPalHarness(
            cases: 3,
            simArgs: ["--drop-webhooks", "1"],
            env: ["LOTSE_PAYMENT_SWEEP_SECONDS": "1", "LOTSE_PAYMENT_SWEEP_AGE": "1"]
        )
        defer { h.stop() }
        var orders: [String] = []
        var returns: [String] = []
        for i in 1...3 {
            let b = Browser(h.http)
            let o = try await pressPay(h, b, h.tokens[CaseNumber.make(prefix: "KL", year: 2026, sequence: i)]!)
            orders.append(o.orderID)
            let cancel = try TestSupport.lotse(
                ["case", CaseNumber.make(prefix: "KL", year: 2026, sequence: i), "--cancel", "wrong plate"],
                dataDir: h.dir
            )
            #expect(cancel.status == 0)
            let back = try await b.send("GET", o.url + "&sim_action=approve")
            returns.append(b.location(back, base: h.base)!)
        }
        // Case 1 returns; case 2 never does (the sweep finds it); case 3's approval arrives by webhook.
        let done = try await Browser(h.http).send("GET", returns[0])
        #expect(done.headers["location"]?.contains("/receipt") != true)
        let approved = #"{"event_type":"CHECKOUT.ORDER.APPROVED","resource":{"id":"\#(orders[2])","status":"APPROVED"}}"#
        _ = try await h.http.send(
            OutboundRequest(
                method: "POST",
                url: h.simBase + "/sim/send-webhook",
                headers: [("Content-Type", "application/json")],
                body: Array(approved.utf8)
            )
        )
        try await Task.sleep(nanoseconds: 3_500_000_000)
        let sim = try h.simOrders()
        for (i, o) in orders.enumerated() {
            #expect(simCaptures(sim, order: o).isEmpty, "order of cancelled case \(i + 1) was captured")
            let (status, payments) = try caseState(h, CaseNumber.make(prefix: "KL", year: 2026, sequence: i + 1))
            #expect(status == .cancelled && payments.isEmpty)
        }
        #expect(try h.store().read { try Int.fetchOne($0, sql: "SELECT count(*) FROM webhook_events") } == 1)
    }
}
