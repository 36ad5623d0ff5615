import Foundation
import GRDB
import LotseCore
import LotseHTTP
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// A deterministic generator for the journeys' choices.
struct Dice {
    var state: UInt64
    mutating func next() -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53)
    }
}

@Suite(.serialized) struct ReliabilityTests {
    /// 200 payment journeys against a simulator that fails, times out, loses responses, and duplicates, reorders and
    /// drops webhooks; motorists double-click, open second tabs, cancel, abandon and never come back.
    /// Afterwards every approved order is captured, every captured case is paid exactly once, nobody is charged twice.
    @Test func twoHundredJourneysWithFaults() async throws {
        let n = 200
        let h = try PayPalHarness(
            cases: n,
            simArgs: [
                "--seed", "42", "--fail", "0.08", "--lost-response", "0.08", "--slow", "0.04", "--delay", "1.5",
                "--duplicate-webhooks", "0.3", "--reorder-webhooks", "0.3", "--drop-webhooks", "0.25",
            ],
            env: ["LOTSE_PAYMENT_SWEEP_SECONDS": "1", "LOTSE_PAYMENT_SWEEP_AGE": "2"]
        )
        defer { h.stop() }
        enum Plan: Sendable { case pay, cancel, abandon }
        var dice = Dice(state: 7)
        var journeys: [(String, Plan, Bool, Bool, Bool)] = []  // case, plan, double click, second tab, lost return
        for i in 1...n {
            let r = dice.next()
            let plan: Plan = r < 0.1 ? .cancel : r < 0.15 ? .abandon : .pay
            journeys.append((CaseNumber.make(prefix: "KL", year: 2026, sequence: i), plan, dice.next() < 0.2, dice.next() < 0.15, dice.next() < 0.2))
        }
        let base = h.base
        let http = h.http
        let tokens = h.tokens
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for (number, plan, double, secondTab, lostReturn) in journeys {
                if running >= 12 {
                    try await group.next()
                    running -= 1
                }
                running += 1
                group.addTask {
                    let b = Browser(http)
                    let tok = tokens[number]!
                    _ = try await b.send("GET", base + "/T/\(tok)")
                    let csrf = b.cookies["lotse_csrf"]!
                    var presses = [Task<OutboundReply, Error>]()
                    presses.append(Task { try await b.send("POST", base + "/T/\(tok)/pay", form: ["csrf": csrf]) })
                    if double { presses.append(Task { try await b.send("POST", base + "/T/\(tok)/pay", form: ["csrf": csrf]) }) }
                    if secondTab {
                        let tab = Browser(http)
                        _ = try await tab.send("GET", base + "/T/\(tok)")
                        let c2 = tab.cookies["lotse_csrf"]!
                        presses.append(Task { try await tab.send("POST", base + "/T/\(tok)/pay", form: ["csrf": c2]) })
                    }
                    var approveURL: String?
                    for p in presses {
                        let r = try await p.value
                        if let l = r.headers["location"], l.contains("/checkoutnow") { approveURL = l }
                    }
                    // PayPal failed every retry (the page says to try again): the motorist presses once more, up to twice
                    for _ in 0..<2 where approveURL == nil {
                        let again = try await b.send("POST", base + "/T/\(tok)/pay", form: ["csrf": csrf])
                        if let l = again.headers["location"], l.contains("/checkoutnow") { approveURL = l }
                    }
                    guard let approveURL, plan != .abandon else { return }
                    let back = try await b.send("GET", approveURL + "&sim_action=" + (plan == .cancel ? "cancel" : "approve"))
                    guard !lostReturn, let ret = b.location(back, base: base) else { return }
                    let done = try await b.send("GET", ret)
                    if plan == .pay, done.status == 303, let l = done.headers["location"], l.contains("/receipt") {
                        // a second click on the return link (back button) must not pay again
                        _ = try await b.send("GET", ret)
                    }
                }
            }
            try await group.waitForAll()
        }
        // Let delayed, retried and reordered webhooks and the sweep settle.
        var settled = false
        for _ in 0..<60 where !settled {
            try await Task.sleep(nanoseconds: 500_000_000)
            let orders = try h.simOrders()
            let approvedNotCaptured = orders.filter { $0["status"] as? String == "APPROVED" }.count
            let captured = Set(orders.filter { $0["status"] as? String == "COMPLETED" }.map { $0["invoice_id"] as! String })
            let paid = try h.store().read { try Int.fetchOne($0, sql: "SELECT count(*) FROM cases WHERE status = 'paid'") ?? 0 }
            settled = approvedNotCaptured == 0 && paid == captured.count
        }
        let orders = try h.simOrders()
        // No capture is lost: every approved order was captured.
        #expect(orders.filter { $0["status"] as? String == "APPROVED" }.isEmpty)
        // Nobody is charged twice: at most one capture per case at PayPal.
        var capturesPerCase: [String: Int] = [:]
        for o in orders { capturesPerCase[o["invoice_id"] as! String, default: 0] += (o["captures"] as! [Any]).count }
        #expect(capturesPerCase.values.allSatisfy { $0 <= 1 })
        let captured = Set(capturesPerCase.filter { $0.value == 1 }.map(\.key))
        // Exactly once in Lotse: every captured case is paid with exactly one PayPal payment; nothing else is paid.
        let store = try h.store()
        let rows = try store.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT case_number, status, (SELECT count(*) FROM payments p WHERE p.case_id = cases.id) AS n,
                           (SELECT count(*) FROM payments p WHERE p.case_id = cases.id AND p.disposition = 'paid') AS paid
                    FROM cases
                    """
            ).map { ($0["case_number"] as String, $0["status"] as String, $0["n"] as Int, $0["paid"] as Int) }
        }
        for (number, status, count, paid) in rows {
            if captured.contains(number) {
                #expect(status == "paid" && count == 1 && paid == 1, "\(number): \(status), \(count) payments")
            } else {
                #expect(status == "open" && count == 0, "\(number): \(status), \(count) payments")
            }
        }
        let planned = journeys.filter { $0.1 == .pay }.count
        #expect(captured.count == planned, "every approved journey ends captured")
        // The faults did happen.
        let log = try String(contentsOfFile: h.dir + "/serve.log", encoding: .utf8)
        #expect(log.contains("retrying"))
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM webhook_events") ?? 0 } > 0)
    }

    /// A paid case is never captured again: an order approved in a second tab after the first one was paid is
    /// left uncaptured. Should PayPal capture it anyway, the second payment is recorded as a refund and refunded
    /// through PayPal's API (so it leaves the office's list of refunds still to make).
    @Test func aPaidCaseIsNotCapturedAgainAndASecondCaptureIsRefundedThroughPayPal() async throws {
        let h = try PayPalHarness(cases: 1)
        defer { h.stop() }
        let tok = h.tokens["KL-2026-0000001"]!
        // Tab A starts an order, then cancels it at PayPal's page... but tab B had it open and approves it later.
        let a = Browser(h.http)
        _ = try await a.send("GET", h.base + "/T/\(tok)")
        let first = try await a.send("POST", h.base + "/T/\(tok)/pay", form: ["csrf": a.cookies["lotse_csrf"]!])
        let firstURL = first.headers["location"]!
        let firstOrder = String(firstURL.split(separator: "=").last!)
        _ = try await a.send("GET", h.base + "/pay/paypal/cancel?token=\(firstOrder)")  // Lotse thinks it was cancelled
        let second = try await a.send("POST", h.base + "/T/\(tok)/pay", form: ["csrf": a.cookies["lotse_csrf"]!])
        let secondURL = second.headers["location"]!
        #expect(secondURL != firstURL)
        for url in [secondURL, firstURL] {
            let back = try await a.send("GET", url + "&sim_action=approve")
            let done = try await a.send("GET", a.location(back, base: h.base)!)
            #expect(done.headers["location"]?.contains("/receipt") == true)
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        var (status, payments) = try caseState(h, "KL-2026-0000001")
        #expect(status == .paid && payments.map(\.disposition) == [.paid])
        let captures = try h.simOrders().map { ($0["id"] as! String, ($0["captures"] as! [Any]).count) }
        #expect(captures.first { $0.0 == firstOrder }?.1 == 0)
        // PayPal captures the first order anyway (as if someone called its API): its webhook brings the money,
        // which goes on the refund list.
        let token = try await h.http.send(
            OutboundRequest(
                method: "POST",
                url: h.simBase + "/v1/oauth2/token",
                headers: [
                    ("Authorization", "Basic " + Data("sim-client:sim-secret".utf8).base64EncodedString()),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                body: Array("grant_type=client_credentials".utf8)
            )
        )
        let access = (try JSONSerialization.jsonObject(with: Data(token.body)) as! [String: Any])["access_token"] as! String
        let cap = try await h.http.send(
            OutboundRequest(
                method: "POST",
                url: h.simBase + "/v2/checkout/orders/\(firstOrder)/capture",
                headers: [("Authorization", "Bearer " + access), ("Content-Type", "application/json")],
                body: Array("{}".utf8)
            )
        )
        #expect(cap.status == 201)
        for _ in 0..<30 where payments.count < 2 {
            try await Task.sleep(nanoseconds: 100_000_000)
            (status, payments) = try caseState(h, "KL-2026-0000001")
        }
        #expect(status == .paid)
        #expect(payments.map(\.disposition) == [.paid, .refund])
        var refund: (status: String, refundID: String?)?
        let secondCapture = try #require(payments.last?.externalID)
        for _ in 0..<30 where refund?.status != "completed" {
            try await Task.sleep(nanoseconds: 100_000_000)
            refund = try h.store().read { try ProviderOrders.refund($0, captureID: secondCapture) }
        }
        #expect(refund?.status == "completed")
        let atPayPal = try #require(simCaptures(try h.simOrders(), order: firstOrder).first)
        #expect(atPayPal["status"] as? String == "REFUNDED" && atPayPal["refund_id"] as? String == refund?.refundID)
        #expect(try caseState(h, "KL-2026-0000001").1[1].note?.contains("refunded through PayPal") == true)
        #expect(try h.store().read { try Ledger.refunds($0).count } == 0)
        // The refund's webhook changes nothing more; the paid capture stays.
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(try caseState(h, "KL-2026-0000001").0 == .paid)
        #expect(try caseState(h, "KL-2026-0000001").1.map(\.disposition) == [.paid, .refund])
    }
}
