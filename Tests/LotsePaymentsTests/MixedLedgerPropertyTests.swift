import Foundation
import GRDB
import LotseCore
import LotseHTTP
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// What one case's motorist (and the office) does in a mixed history.
struct MixedPlan: Sendable {
    var number: String
    var amountCents: Int
    var payPal: Bool
    var cancelFirst: Bool, secondOrder: Bool, approveFirst: Bool, approveSecond: Bool
    var returnsTogether: Bool, lostReturn: Bool
    var officeCancel: Bool
    var outsideCapture: Bool
    /// Cents sent by bank transfer (0: none), and by cash at the office (0: none).
    var bankCents: Int
    var cashCents: Int
}

/// One tampered or replayed webhook and what Lotse answered (nil: the server was down at that moment).
struct WebhookAttempt: Sendable {
    var kind: String
    var status: Int?
}

extension LedgerPropertyTests {
    /// The PayPal interleavings of `randomInterleavingsKeepEveryCaseChargedAtMostOnce`, and in the middle of them:
    /// `kill -9` of the real `lotse serve` at seeded moments (restarted on the same data directory: returns, webhooks
    /// and the sweep finish the work); webhooks changed after signing (another order id, a forged capture id, another
    /// amount) and genuine ones replayed; the same cases paid by bank transfer (camt.054 in two files, the camt.053
    /// repeating them, a file read twice, through `lotse reconcile`) and in cash (`lotse payments import`, twice).
    /// Afterwards: every case paid at most once; every cent received (captures PayPal made, transfers, cash) is in
    /// the ledger exactly once as paid (less its surplus to refund), partial, refund or unmatched; tampered webhooks
    /// were refused and booked nothing; no approved order of a payable case is left uncaptured, no refund half-done.
    @Test(arguments: [11, 12] as [UInt64])
    func killsTamperedWebhooksAndMixedChannelsKeepEveryCentOnce(seed: UInt64) async throws {
        let n = 20
        let h = try PayPalHarness(
            cases: n,
            simArgs: [
                "--seed", String(seed), "--fail", "0.05", "--lost-response", "0.05", "--duplicate-webhooks", "0.3",
                "--reorder-webhooks", "0.3", "--double-capture", "0.5",
            ],
            env: ["LOTSE_PAYMENT_SWEEP_SECONDS": "1", "LOTSE_PAYMENT_SWEEP_AGE": "1"]
        )
        defer { h.stop() }
        var random = SeededRandom(seed: seed &* 104_729)
        let amounts = Dictionary(uniqueKeysWithValues: try h.store().allCases().map { ($0.caseNumber, $0.amountCents) })
        let plans = (1...n).map { i in Self.plan(CaseNumber.make(prefix: "KL", year: 2026, sequence: i), amounts, &random) }
        let bankFiles = try Self.bankFiles(plans, dir: h.dir, random: &random)
        let cashFile = h.dir + "/cash.csv"
        TestSupport.write(
            cashFile,
            "case_number;amount_eur;paid_on;channel;receipt_no\n"
                + plans.filter { $0.cashCents > 0 }.map { "\($0.number);\(Money.plain($0.cashCents));2026-03-20;cash;Q-\($0.number)\n" }.joined()
        )
        let offices: [[String]] =
            (bankFiles + [bankFiles[Int(random.next() % UInt64(bankFiles.count))]]).map { ["reconcile", $0] }
            + [["payments", "import", cashFile], ["payments", "import", cashFile]]
        let officeOrder = offices.shuffled(using: &random)
        let officeDelays = officeOrder.map { _ in 0.1 + Double(random.next() % 300) / 1000 }
        let killAt = (0..<(2 + Int(seed % 2))).map { _ in 0.3 + Double(random.next() % 2500) / 1000 }.sorted()
        let killPauses = killAt.map { _ in Double(random.next() % 300) / 1000 }
        let tamperPicks = (0..<12).map { _ in (pick: random.next(), kind: Int(random.next() % 4)) }

        let access = try h.simAccessToken()
        let dir = h.dir
        let started = Date()
        let attempts: [WebhookAttempt] = try await withThrowingTaskGroup(of: [WebhookAttempt].self) { group in
            // The motorists, eight at a time.
            group.addTask {
                try await withThrowingTaskGroup(of: Void.self) { journeys in
                    var running = 0
                    for plan in plans where plan.payPal {
                        if running >= 8 {
                            try await journeys.next()
                            running -= 1
                        }
                        running += 1
                        journeys.addTask { try await Self.journey(h, plan, access: access) }
                    }
                    try await journeys.waitForAll()
                }
                return []
            }
            // The office: bank files and cash imports, while the motorists pay.
            group.addTask {
                for (args, delay) in zip(officeOrder, officeDelays) {
                    try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                    let out = try TestSupport.lotse(args, dataDir: dir)
                    #expect(out.status == 0, "seed \(seed): lotse \(args.joined(separator: " ")): \(out.stderr)")
                }
                return []
            }
            // The killer.
            group.addTask {
                for (at, pause) in zip(killAt, killPauses) {
                    let wait = at - Date().timeIntervalSince(started)
                    if wait > 0 { try await Task.sleep(nanoseconds: UInt64(wait * 1e9)) }
                    try h.killAndRestartServe(pause: pause)
                }
                return []
            }
            // The forger: webhooks PayPal signed, changed after signing, or replayed as they are.
            group.addTask {
                var attempts: [WebhookAttempt] = []
                for (pick, kind) in tamperPicks {
                    try await Task.sleep(nanoseconds: 200_000_000)
                    if let attempt = try await Self.forge(h, pick: pick, kind: kind) { attempts.append(attempt) }
                }
                return attempts
            }
            var all: [WebhookAttempt] = []
            for try await a in group { all += a }
            return all
        }
        // One more kill once everybody is done: whatever was in flight is left to the restarted server.
        try h.killAndRestartServe(pause: 0.2)

        var problems: [String] = ["not checked yet"]
        for _ in 0..<60 where !problems.isEmpty {
            try await Task.sleep(nanoseconds: 500_000_000)
            problems = try check(h, otherChannels: true) + Self.checkMoney(h, plans)
        }
        let trail = "seed \(seed), kills at \(killAt), logs in \(h.dir)"
        #expect(problems.isEmpty, "\(trail): \(problems)")
        // Tampered webhooks were refused whenever the server was up to answer; replays changed nothing (checked above).
        for a in attempts where a.kind != "replay" && a.status != nil { #expect(a.status == 400, "\(trail): \(a.kind) answered \(a.status!)") }
        #expect(attempts.contains { $0.kind != "replay" && $0.status == 400 }, "\(trail): no tampered webhook reached the server")
        #expect(h.kills == killAt.count + 1)
        #expect(Date().timeIntervalSince(started) < 40, "\(trail): took \(Date().timeIntervalSince(started)) s")
    }

    static func plan(_ number: String, _ amounts: [String: Int], _ random: inout SeededRandom) -> MixedPlan {
        let amount = amounts[number]!
        let bank = random.next() % 8
        let cash = random.next() % 8
        return MixedPlan(
            number: number,
            amountCents: amount,
            payPal: random.chance(0.8),
            cancelFirst: random.chance(0.4),
            secondOrder: random.chance(0.5),
            approveFirst: random.chance(0.8),
            approveSecond: random.chance(0.7),
            returnsTogether: random.chance(0.5),
            lostReturn: random.chance(0.25),
            officeCancel: random.chance(0.1),
            outsideCapture: random.chance(0.15),
            // none (most), the amount, too little, too much
            bankCents: bank < 5 ? 0 : bank == 5 ? amount : bank == 6 ? amount / 2 : amount + 250,
            cashCents: cash < 6 ? 0 : cash == 6 ? amount : amount - 500
        )
    }

    /// The transfers as a bank reports them: each in one of two camt.054 files, all again in the day's camt.053
    /// (with the bank's references, so the same booking is one payment).
    static func bankFiles(_ plans: [MixedPlan], dir: String, random: inout SeededRandom) throws -> [String] {
        var notifications: [[String]] = [[], []]
        var statement: [String] = []
        for (i, p) in plans.enumerated() where p.bankCents > 0 {
            let entry = camtEntry(cents: p.bankCents, bankRef: "B\(i)", rf: RFReference.make(from: p.number)!, payer: "Payer \(p.number)")
            notifications[Int(random.next() % 2)].append(entry)
            statement.append(entry)
        }
        let files = [
            ("n1.xml", "camt.054.001.08", notifications[0]), ("n2.xml", "camt.054.001.08", notifications[1]), ("s.xml", "camt.053.001.08", statement),
        ]
        return files.map { name, kind, entries in
            TestSupport.write(dir + "/" + name, camt(kind, entries))
            return dir + "/" + name
        }
    }

    static func camtEntry(cents: Int, bankRef: String, rf: String, payer: String) -> String {
        let amount = Money.plain(cents)
        return """
            <Ntry><Amt Ccy="EUR">\(amount)</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
            <BookgDt><Dt>2026-03-19</Dt></BookgDt><ValDt><Dt>2026-03-19</Dt></ValDt><AcctSvcrRef>\(bankRef)</AcctSvcrRef>
            <BkTxCd><Prtry><Cd>NTRF+166</Cd><Issr>DK</Issr></Prtry></BkTxCd><NtryDtls><TxDtls>
            <Refs><AcctSvcrRef>\(bankRef)-1</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
            <Amt Ccy="EUR">\(amount)</Amt><CdtDbtInd>CRDT</CdtDbtInd>
            <RltdPties><Dbtr><Pty><Nm>\(payer)</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct></RltdPties>
            <RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr></Tp><Ref>\(rf)</Ref></CdtrRefInf></Strd></RmtInf>
            </TxDtls></NtryDtls></Ntry>
            """
    }

    static func camt(_ kind: String, _ entries: [String]) -> String {
        let is054 = kind.hasPrefix("camt.054")
        let root = is054 ? "BkToCstmrDbtCdtNtfctn" : "BkToCstmrStmt"
        let inner = is054 ? "Ntfctn" : "Stmt"
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <Document xmlns="urn:iso:std:iso:20022:tech:xsd:\(kind)">
            <\(root)><GrpHdr><MsgId>MSG-\(kind)</MsgId><CreDtTm>2026-03-19T06:00:00+01:00</CreDtTm></GrpHdr>
            <\(inner)><Id>1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>
            \(entries.joined(separator: "\n"))
            </\(inner)></\(root)></Document>
            """
    }

    /// One motorist's PayPal journey; every step may meet a killed server (then it is simply lost).
    static func journey(_ h: PayPalHarness, _ plan: MixedPlan, access: String) async throws {
        let base = h.base
        let http = h.http
        let tok = h.tokens[plan.number]!
        let b = Browser(http)
        var orders: [(url: String, orderID: String)] = []
        if let first = try? await pressPay(h, b, tok) { orders.append(first) }
        if plan.cancelFirst, let first = orders.first { _ = try? await b.send("GET", base + "/pay/paypal/cancel?token=\(first.orderID)") }
        if plan.secondOrder, let second = try? await pressPay(h, Browser(http), tok) { orders.append(second) }
        orders = orders.filter { $0.url.contains("/checkoutnow") }
        var returns: [String] = []
        for (k, o) in orders.enumerated() where k == 0 ? plan.approveFirst : plan.approveSecond {
            if let back = try? await b.send("GET", o.url + "&sim_action=approve"), let l = b.location(back, base: base) { returns.append(l) }
        }
        if plan.officeCancel { _ = try TestSupport.lotse(["case", plan.number, "--cancel", "test"], dataDir: h.dir) }
        if !plan.lostReturn {
            if plan.returnsTogether {
                await withTaskGroup(of: Void.self) { g in
                    for r in returns + returns.prefix(1) { g.addTask { _ = try? await Browser(http).send("GET", r) } }
                }
            } else {
                for r in returns { _ = try? await b.send("GET", r) }
            }
        }
        if plan.outsideCapture, let first = orders.first {
            // Someone captures at PayPal outside Lotse (a new request id): PayPal takes the money again.
            _ = try? await http.send(
                OutboundRequest(
                    method: "POST",
                    url: h.simBase + "/v2/checkout/orders/\(first.orderID)/capture",
                    headers: [
                        ("Authorization", "Bearer " + access), ("Content-Type", "application/json"),
                        ("PayPal-Request-Id", "outside-" + first.orderID),
                    ],
                    body: Array("{}".utf8)
                )
            )
        }
    }

    /// Takes a webhook PayPal signed and posts it to Lotse: changed (another order id, a forged capture id, another
    /// amount) or, for `kind` 3, as it is (a replay). Nil when there was nothing to change yet.
    static func forge(_ h: PayPalHarness, pick: UInt64, kind: Int) async throws -> WebhookAttempt? {
        let signed = try h.simWebhooks()
        guard !signed.isEmpty else { return nil }
        let genuine = signed[Int(pick % UInt64(signed.count))]
        let orderIDs = try h.simOrders().map { $0["id"] as! String }.sorted()
        var body = genuine.body
        let name: String
        switch kind {
        case 0:
            // Another case's order: the body names an order id; swap it for another one.
            guard let mine = orderIDs.first(where: { body.contains($0) }), let other = orderIDs.first(where: { $0 != mine }) else { return nil }
            body = body.replacingOccurrences(of: mine, with: other)
            name = "another order"
        case 1:
            guard let range = body.range(of: #"SIMC[0-9A-F]{8}"#, options: .regularExpression) else { return nil }
            body.replaceSubrange(range, with: "SIMCF0RGED\(pick % 100)")
            name = "forged capture"
        case 2:
            guard let range = body.range(of: #""value":"[0-9]+\.[0-9]{2}""#, options: .regularExpression) else { return nil }
            body.replaceSubrange(range, with: #""value":"0.01""#)
            name = "another amount"
        default:
            name = "replay"
        }
        if name != "replay" && body == genuine.body { return nil }
        let reply = try? await h.http.send(
            OutboundRequest(
                method: "POST",
                url: h.base + "/webhooks/paypal",
                headers: genuine.headers.map { ($0.key, $0.value) },
                body: Array(body.utf8)
            )
        )
        return WebhookAttempt(kind: name, status: reply?.status)
    }

    /// Money in, money in the ledger: every capture PayPal made, every transfer and every cash payment exactly once,
    /// each case paid at most once and by its amount; nothing forged; the work the server was killed in is finished.
    static func checkMoney(_ h: PayPalHarness, _ plans: [MixedPlan]) throws -> [String] {
        var problems: [String] = []
        var received = 0
        var captureIDs: Set<String> = []
        var approvedOpen: [String: [String]] = [:]  // case number -> orders approved at PayPal and never captured
        for o in try h.simOrders() {
            let value = Money.parseCents(o["value"] as! String)!
            let captures = o["captures"] as! [[String: Any]]
            received += value * captures.count
            for c in captures { captureIDs.insert(c["id"] as! String) }
            if o["status"] as! String == "APPROVED" { approvedOpen[o["invoice_id"] as! String, default: []].append(o["id"] as! String) }
        }
        received += plans.reduce(0) { $0 + $1.bankCents + $1.cashCents }
        let store = try h.store()
        let (payments, cases, paidEvents, requested) = try store.read { db in
            (
                try PaymentRecord.fetchAll(db, sql: "SELECT payments.*, NULL AS case_number FROM payments"),
                try Row.fetchAll(db, sql: "SELECT id, case_number, status, amount_cents FROM cases").map {
                    (id: $0["id"] as Int64, number: $0["case_number"] as String, status: $0["status"] as String, amount: $0["amount_cents"] as Int)
                },
                Dictionary(
                    try Row.fetchAll(db, sql: "SELECT case_id, count(*) AS n FROM events WHERE kind = 'paid' GROUP BY case_id").map {
                        ($0["case_id"] as Int64, $0["n"] as Int)
                    },
                    uniquingKeysWith: +
                ),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM provider_refunds WHERE status = 'requested'") ?? 0
            )
        }
        let kept = payments.filter { [.paid, .partial, .refund, .unmatched].contains($0.disposition) }.reduce(0) { $0 + $1.amountCents }
        if kept != received { problems.append("received \(received) cents, the ledger holds \(kept)") }
        for p in payments where p.disposition == .rejected { problems.append("payment \(p.id) rejected: \(p.note ?? "")") }
        // Each source exactly once.
        for p in payments where p.channel == .paypal && !captureIDs.contains(p.externalID ?? "") {
            problems.append("payment \(p.id) names capture \(p.externalID ?? "none"), which PayPal never made")
        }
        for plan in plans where plan.bankCents > 0 {
            let mine = payments.filter { $0.channel == .bankTransfer && $0.payer == "Payer \(plan.number)" }
            if mine.map(\.amountCents) != [plan.bankCents] { problems.append("\(plan.number): transfer booked as \(mine.map(\.amountCents))") }
        }
        for plan in plans where plan.cashCents > 0 {
            let mine = payments.filter { $0.channel == .cash && $0.externalID == "Q-\(plan.number)" }
            if mine.map(\.amountCents) != [plan.cashCents] { problems.append("\(plan.number): cash booked as \(mine.map(\.amountCents))") }
        }
        if payments.filter({ $0.channel != .paypal }).count != plans.filter({ $0.bankCents > 0 }).count + plans.filter({ $0.cashCents > 0 }).count {
            problems.append("more bank or cash payments than were made")
        }
        // Each case paid at most once, by its amount; the rest is partial (still open) or to be refunded.
        for c in cases {
            let mine = payments.filter { $0.caseID == c.id }
            let paid = mine.filter { $0.disposition == .paid }
            let partial = mine.filter { $0.disposition == .partial }
            // Paid once: one `paid` event. Earlier partial payments that the last one completed count as paid with it;
            // together they come to the amount exactly (the rest of the last one is its surplus, to refund).
            let events = paidEvents[c.id] ?? 0
            // a case the office cancelled after it was paid keeps its `paid` event (its history); its money is refunded
            let paidOnce = c.status == "paid" || (c.status == "cancelled" && events == 1)
            if events > 1 || (events == 1) != paidOnce { problems.append("\(c.number): \(c.status) with \(events) paid events") }
            switch c.status {
            case "paid":
                let net = paid.reduce(0) { $0 + $1.amountCents - $1.refundCents }
                if net != c.amount || !partial.isEmpty { problems.append("\(c.number): paid \(net) of \(c.amount), \(partial.count) partial left") }
            case "cancelled":
                if !paid.isEmpty || !partial.isEmpty { problems.append("\(c.number): cancelled with \(paid.count) paid, \(partial.count) partial") }
            default:
                if !paid.isEmpty { problems.append("\(c.number): \(c.status) with a paid payment") }
                if partial.reduce(0, { $0 + $1.amountCents }) >= c.amount { problems.append("\(c.number): open though partials cover it") }
                if let open = approvedOpen[c.number] { problems.append("\(c.number): \(c.status), approved orders \(open) never captured") }
            }
            for p in mine where p.disposition == .refund && p.refundCents != p.amountCents {
                problems.append("\(c.number): refund payment \(p.id) refunds \(p.refundCents) of \(p.amountCents)")
            }
        }
        if requested > 0 { problems.append("\(requested) PayPal refunds requested and never finished") }
        return problems
    }
}
