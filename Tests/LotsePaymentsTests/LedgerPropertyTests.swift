import Foundation
import GRDB
import LotseCore
import LotseHTTP
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Random interleavings of presses, cancels at the return URL, second orders, approvals, returns (lost, repeated,
/// concurrent), office cancels and captures PayPal makes outside Lotse, against a simulator that fails, loses
/// responses, duplicates and reorders webhooks. Afterwards: every capture PayPal made is exactly one payment in
/// Lotse; at most one payment per case counts as paid; money kept by PayPal for a case is the one paid payment or on
/// the refund list; everything else went back through PayPal; nobody is charged twice.
@Suite(.serialized) struct LedgerPropertyTests {
    @Test func randomInterleavingsKeepEveryCaseChargedAtMostOnce() async throws {
        let n = 40
        let h = try PayPalHarness(
            cases: n,
            simArgs: [
                "--seed", "9", "--fail", "0.05", "--lost-response", "0.05", "--duplicate-webhooks", "0.3", "--reorder-webhooks", "0.3",
                "--double-capture", "1",
            ],
            env: ["LOTSE_PAYMENT_SWEEP_SECONDS": "1", "LOTSE_PAYMENT_SWEEP_AGE": "1"]
        )
        defer { h.stop() }
        let access = try h.simAccessToken()
        var dice = Dice(state: 2026)
        struct Plan: Sendable {
            var number: String
            var cancelFirst: Bool, secondOrder: Bool, approveFirst: Bool, approveSecond: Bool
            var returnsTogether: Bool, lostReturn: Bool, officeCancel: Int  // 0 never, 1 before approval, 2 after the returns
            var outsideCapture: Bool
        }
        var plans: [Plan] = []
        for i in 1...n {
            let r = dice.next()
            plans.append(
                Plan(
                    number: CaseNumber.make(prefix: "KL", year: 2026, sequence: i),
                    cancelFirst: dice.next() < 0.5,
                    secondOrder: dice.next() < 0.6,
                    approveFirst: dice.next() < 0.8,
                    approveSecond: dice.next() < 0.7,
                    returnsTogether: dice.next() < 0.5,
                    lostReturn: dice.next() < 0.25,
                    officeCancel: r < 0.1 ? 1 : r < 0.2 ? 2 : 0,
                    outsideCapture: dice.next() < 0.25
                )
            )
        }
        let base = h.base
        let simBase = h.simBase
        let http = h.http
        let dir = h.dir
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for plan in plans {
                if running >= 8 {
                    try await group.next()
                    running -= 1
                }
                running += 1
                let tok = h.tokens[plan.number]!
                group.addTask {
                    let b = Browser(http)
                    var orders = [try await pressPay(h, b, tok)]
                    if plan.cancelFirst { _ = try await b.send("GET", base + "/pay/paypal/cancel?token=\(orders[0].orderID)") }
                    if plan.secondOrder { orders.append(try await pressPay(h, Browser(http), tok)) }
                    orders = orders.filter { $0.url.contains("/checkoutnow") }
                    if plan.officeCancel == 1 { _ = try TestSupport.lotse(["case", plan.number, "--cancel", "test"], dataDir: dir) }
                    var returns: [String] = []
                    for (k, o) in orders.enumerated() where k == 0 ? plan.approveFirst : plan.approveSecond {
                        let back = try await b.send("GET", o.url + "&sim_action=approve")
                        if let l = b.location(back, base: base) { returns.append(l) }
                    }
                    if !plan.lostReturn {
                        if plan.returnsTogether {
                            try await withThrowingTaskGroup(of: Void.self) { g in
                                for r in returns + returns.prefix(1) { g.addTask { _ = try await Browser(http).send("GET", r) } }
                                try await g.waitForAll()
                            }
                        } else {
                            for r in returns { _ = try await b.send("GET", r) }
                        }
                    }
                    if plan.officeCancel == 2 { _ = try TestSupport.lotse(["case", plan.number, "--cancel", "test"], dataDir: dir) }
                    if plan.outsideCapture, let first = orders.first {
                        // Someone captures at PayPal outside Lotse (a new request id): PayPal takes the money again.
                        _ = try? await http.send(
                            OutboundRequest(
                                method: "POST",
                                url: simBase + "/v2/checkout/orders/\(first.orderID)/capture",
                                headers: [
                                    ("Authorization", "Bearer " + access), ("Content-Type", "application/json"),
                                    ("PayPal-Request-Id", "outside-" + first.orderID),
                                ],
                                body: Array("{}".utf8)
                            )
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        var problems: [String] = ["not checked yet"]
        for _ in 0..<40 where !problems.isEmpty {
            try await Task.sleep(nanoseconds: 500_000_000)
            problems = try check(h)
        }
        #expect(problems.isEmpty, "\(problems)")
        // The interesting things did happen: payments, refunds through PayPal, office cancels, second orders.
        let statuses = try h.simOrders().flatMap { ($0["captures"] as! [[String: Any]]).map { $0["status"] as! String } }
        let (paid, cancelled, orders) = try h.store().read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM cases WHERE status = 'paid'") ?? 0,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM cases WHERE status = 'cancelled'") ?? 0,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM provider_orders") ?? 0
            )
        }
        #expect(paid >= n / 3 && cancelled >= 3 && orders > n, "paid \(paid), cancelled \(cancelled), orders \(orders)")
        #expect(statuses.filter { $0 == "REFUNDED" }.count >= 3, "\(statuses)")
    }

    /// The invariants; an empty list when they hold. `otherChannels`: cases may be paid by transfer or cash too (then
    /// whether a case is paid is not PayPal's alone to say; `checkMoney` checks it).
    func check(_ h: PayPalHarness, otherChannels: Bool = false) throws -> [String] {
        var problems: [String] = []
        var capturesByCase: [String: [(id: String, status: String)]] = [:]
        for o in try h.simOrders() {
            for c in o["captures"] as! [[String: Any]] {
                capturesByCase[o["invoice_id"] as! String, default: []].append((c["id"] as! String, c["status"] as! String))
            }
        }
        let store = try h.store()
        let (cases, payments, onList, refunded) = try store.read { db in
            (
                try Row.fetchAll(db, sql: "SELECT id, case_number, status FROM cases").map {
                    ($0["id"] as Int64, $0["case_number"] as String, $0["status"] as String)
                },
                try Row.fetchAll(db, sql: "SELECT case_id, external_id, disposition FROM payments WHERE channel = 'paypal'")
                    .map { ($0["case_id"] as Int64?, $0["external_id"] as String, $0["disposition"] as String) },
                Set(try Ledger.refunds(db).compactMap(\.externalID)),
                Set(try String.fetchAll(db, sql: "SELECT capture_id FROM provider_refunds WHERE status = 'completed'"))
            )
        }
        for (id, number, status) in cases {
            let caps = capturesByCase[number] ?? []
            let mine = payments.filter { $0.0 == id }
            let paid = mine.filter { $0.2 == "paid" }
            if paid.count > 1 { problems.append("\(number): \(paid.count) paid payments") }
            if !otherChannels && (status == "paid") != (paid.count == 1) {
                problems.append("\(number): status \(status) with \(paid.count) paid payments")
            }
            for c in caps {
                let p = mine.filter { $0.1 == c.id }
                if p.count != 1 {
                    problems.append("\(number): capture \(c.id) is \(p.count) payments")
                    continue
                }
                switch c.status {
                case "COMPLETED":
                    // Money PayPal keeps: the payment that counts, or on the office's refund list.
                    if p[0].2 != "paid" && !onList.contains(c.id) { problems.append("\(number): kept capture \(c.id) is \(p[0].2), not listed") }
                case "REFUNDED":
                    if p[0].2 != "refund" || !refunded.contains(c.id) { problems.append("\(number): refunded capture \(c.id) is \(p[0].2)") }
                default:
                    problems.append("\(number): capture \(c.id) \(c.status)")
                }
            }
            let kept = caps.filter { $0.status == "COMPLETED" }.count
            if kept > 1 { problems.append("\(number): charged \(kept) times") }
            if mine.count != caps.count { problems.append("\(number): \(mine.count) payments for \(caps.count) captures") }
        }
        return problems
    }
}
