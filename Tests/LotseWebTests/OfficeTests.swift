import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LotseCore
import LotseOffice
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

@testable import LotseWeb

func camt054(_ entries: [(amount: String, ref: String, rf: String?, text: String?)]) -> String {
    let ntry = entries.map { e in
        """
        <Ntry><Amt Ccy="EUR">\(e.amount)</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>2026-03-18</Dt></BookgDt><AcctSvcrRef>\(e.ref)</AcctSvcrRef>
        <NtryDtls><TxDtls><Amt Ccy="EUR">\(e.amount)</Amt><RmtInf>\(e.rf.map { "<Strd><CdtrRefInf><Ref>\($0)</Ref></CdtrRefInf></Strd>" } ?? "")\(e.text.map { "<Ustrd>\($0)</Ustrd>" } ?? "")</RmtInf></TxDtls></NtryDtls></Ntry>
        """
    }.joined(separator: "\n")
    return """
        <?xml version="1.0" encoding="UTF-8"?>
        <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>1</MsgId></GrpHdr><Ntfctn>
        \(ntry)
        </Ntfctn></BkToCstmrDbtCdtNtfctn></Document>
        """
}

@Suite struct OfficeAPITests {
    @Test func bankStatementUploadNeedsTheOfficeTokenAndReconciles() async throws {
        let f = try await WebFixture(officeToken: "office-secret-1234")
        let c1 = try f.store.read { try CaseQueries.byNumber($0, "KL-2026-0000001")! }
        let body = camt054([
            (Money.plain(c1.amountCents), "E1", RFReference.make(from: c1.caseNumber), nil),
            ("9.99", "E2", nil, "Spende"),
        ])
        try await f.test { client in
            let none = try await client.execute(uri: "/api/v1/bank-statements", method: .post, body: ByteBuffer(string: body))
            #expect(none.status == .unauthorized)
            let wrong = try await client.execute(
                uri: "/api/v1/bank-statements",
                method: .post,
                headers: [.authorization: "Bearer office-secret-1235"],
                body: ByteBuffer(string: body)
            )
            #expect(wrong.status == .unauthorized)
            let auth: HTTPFields = [.authorization: "Bearer office-secret-1234"]
            let ok = try await client.execute(
                uri: "/api/v1/bank-statements?name=camt-0318.xml",
                method: .post,
                headers: auth,
                body: ByteBuffer(string: body)
            )
            #expect(ok.status == .ok)
            let json = try JSONSerialization.jsonObject(with: Data(ok.text.utf8)) as! [String: Any]
            #expect(json["file"] as? String == "camt-0318.xml")
            #expect(json["matched"] as? Int == 1 && json["unmatched"] as? Int == 1 && json["duplicates"] as? Int == 0)
            let again = try await client.execute(
                uri: "/api/v1/bank-statements?name=camt-0318.xml",
                method: .post,
                headers: auth,
                body: ByteBuffer(string: body)
            )
            #expect((try JSONSerialization.jsonObject(with: Data(again.text.utf8)) as! [String: Any])["duplicates"] as? Int == 2)
            let bad = try await client.execute(
                uri: "/api/v1/bank-statements?name=cut.xml",
                method: .post,
                headers: auth,
                body: ByteBuffer(string: String(body.prefix(300)))
            )
            #expect(bad.status == .unprocessableContent)
            #expect(bad.text.contains("cut.xml:") && !bad.text.contains("/uploads/"))
            let list = try await client.execute(uri: "/api/v1/payments?list=unmatched", method: .get, headers: auth)
            let unmatched = try JSONSerialization.jsonObject(with: Data(list.text.utf8)) as! [[String: Any]]
            #expect(unmatched.count == 1 && unmatched[0]["amount_cents"] as? Int == 999)
            #expect((unmatched[0]["note"] as? String)?.contains("Spende") == true)
            #expect(try await client.execute(uri: "/api/v1/payments", method: .get).status == .unauthorized)
        }
        #expect(try f.store.read { try CaseQueries.byID($0, c1.id)!.status } == .paid)
    }

    @Test func officeRoutesAnswer401WithoutAConfiguredToken() async throws {
        let f = try await WebFixture()
        try await f.test { client in
            for uri in ["/api/v1/bank-statements", "/api/v1/imports"] {
                let r = try await client.execute(uri: uri, method: .post, headers: [.authorization: "Bearer "], body: ByteBuffer(string: "x"))
                #expect(r.status == .unauthorized)
            }
        }
    }

    @Test func handheldUploadImports() async throws {
        let f = try await WebFixture(officeToken: "tok")
        let csv = try String(contentsOfFile: TestSupport.pilotData + "/samples/xowi-2026-03-16.xml", encoding: .utf8)
        try await f.test { client in
            let r = try await client.execute(
                uri: "/api/v1/imports?name=xowi.xml",
                method: .post,
                headers: [.authorization: "Bearer tok"],
                body: ByteBuffer(string: csv)
            )
            #expect(r.status == .ok)
            let json = try JSONSerialization.jsonObject(with: Data(r.text.utf8)) as! [String: Any]
            #expect(json["imported"] as? Int == 12 && json["format"] as? String == "xowi")
        }
    }
}

@Suite struct CaseStateWordingTests {
    /// Each state of a case is one sentence of what happened and what happens next, with the dates that matter, in
    /// German and English (issue 16): open, due soon (today, tomorrow), past its deadline, overdue, reminded (with the
    /// reminder's own date and deadline, which the page then shows as the date to pay by), partly paid, paid, cancelled,
    /// handed over.
    @Test func eachStateIsOneSentenceWithItsDatesInGermanAndEnglish() async throws {
        let f = try await WebFixture()
        let page = MotoristController(env: f.env)
        let t = f.env.translations
        let open = try #require(try await f.store.caseRecord(number: "KL-2026-0000001"))
        let deadline = try #require(CivilDate(iso: open.deadline))
        func sentence(_ c: CaseRecord, _ lang: String, today: CivilDate) -> (text: String, payBy: String, due: Bool) {
            let values = page.caseValues(c, lang: lang, today: today)
            return (values[.statusText], values[.deadline], values.shape.due)
        }
        func euros(_ cents: Int, _ lang: String) -> String { Money.display(cents, language: lang) }
        let amount = open.amountCents
        // the offence in the reader's language where a text is shipped, marked German where it falls back
        let english = page.caseValues(open, lang: "en", today: deadline)
        #expect(open.tbnr == "117161" && english[.offenceLang] == "en" && english[.offence].hasPrefix("Outside a built-up area, you left"))
        var untranslated = open
        untranslated.tbnr = "112020"
        untranslated.offenceText = "Sie parkten vorschriftswidrig auf dem Seitenstreifen."
        #expect(page.caseValues(untranslated, lang: "en", today: deadline)[.offenceLang] == "en", "English for every TBNR")
        let fallback = page.caseValues(untranslated, lang: "fr", today: deadline)
        #expect(fallback[.offenceLang] == "de" && fallback[.offenceNote].contains("en allemand"))
        #expect(page.caseValues(untranslated, lang: "de", today: deadline)[.offenceNote].isEmpty)
        for lang in ["de", "en"] {
            let d = t.date(deadline, lang)
            let english = lang == "en"
            let first = sentence(open, lang, today: deadline.adding(days: -5))
            #expect(
                first.text
                    == (english
                        ? "Please pay \(euros(amount, lang)) by \(d). Once your payment has arrived, the matter is closed."
                        : "Bitte zahlen Sie \(euros(amount, lang)) bis zum \(d). Sobald Ihre Zahlung eingegangen ist, ist die Sache erledigt.")
            )
            #expect(first.payBy == d && first.due)
            #expect(sentence(open, lang, today: deadline.adding(days: -1)).text.contains(english ? "– that is tomorrow." : "– das ist morgen."))
            #expect(sentence(open, lang, today: deadline).text.contains(english ? "– that is today." : "– das ist heute."))
            #expect(
                sentence(open, lang, today: deadline.adding(days: 1)).text.hasPrefix(
                    english
                        ? "The deadline, \(d), has passed. Please pay \(euros(amount, lang)) now"
                        : "Die Frist ist am \(d) abgelaufen. Bitte zahlen Sie jetzt"
                )
            )
            var overdue = open
            overdue.status = .overdue
            #expect(
                sentence(overdue, lang, today: deadline.adding(days: 3)).text.contains(
                    english ? "If you have already transferred" : "schon überwiesen"
                )
            )
            var reminded = open
            reminded.status = .reminded
            let sent = deadline.adding(days: 6)
            reminded.remindedAt = BerlinTime.utc(date: sent, hour: 7, minute: 0)
            let newDeadline = t.date(sent.adding(days: f.config.paymentDays), lang)
            let remindedPage = sentence(reminded, lang, today: sent.adding(days: 1))
            #expect(
                remindedPage.text.hasPrefix(
                    english
                        ? "We sent you a reminder on \(t.date(sent, lang)). Please pay \(euros(amount, lang)) by \(newDeadline); if it is not paid by then, the case goes to the fine procedure"
                        : "Wir haben Ihnen am \(t.date(sent, lang)) eine Erinnerung geschickt. Bitte zahlen Sie \(euros(amount, lang)) bis zum \(newDeadline);"
                ),
                "\(remindedPage.text)"
            )
            #expect(remindedPage.payBy == newDeadline, "a reminded case shows the reminder's date to pay by, not the first one")
            var partly = open
            partly.receivedCents = 1000
            let rest = euros(amount - 1000, lang)
            #expect(
                sentence(partly, lang, today: deadline.adding(days: -3)).text.hasPrefix(
                    english
                        ? "We have received €10.00 of \(euros(amount, lang)). Please pay \(rest) by \(d)."
                        : "Bei uns sind 10,00\u{00A0}€ von \(euros(amount, lang)) eingegangen. Bitte zahlen Sie \(rest) bis zum \(d)."
                )
            )
            var paid = open
            paid.status = .paid
            paid.paidAt = BerlinTime.utc(date: deadline.adding(days: -2), hour: 12, minute: 0)
            #expect(
                sentence(paid, lang, today: deadline).text.hasPrefix(
                    (english ? "Paid on " : "Bezahlt am ") + t.date(deadline.adding(days: -2), lang)
                )
            )
            var cancelled = open
            cancelled.status = .cancelled
            let gone = sentence(cancelled, lang, today: deadline)
            #expect(
                gone.text.hasPrefix(
                    english
                        ? "The city has cancelled this ticket. You do not need to pay anything"
                        : "Die Stadt hat diesen Strafzettel aufgehoben. Sie müssen nichts zahlen"
                )
            )
            #expect(!gone.due)
            var handedOver = open
            handedOver.status = .handedOver
            let handed = sentence(handedOver, lang, today: deadline.adding(days: 30))
            #expect(handed.text.contains(english ? "handed over to the fine procedure" : "an das Bußgeldverfahren abgegeben") && !handed.due)
        }
    }

    @Test func everyStateIsWordedAndOnlyOpenCasesArePayable() async throws {
        let f = try await WebFixture()
        let n = ["KL-2026-0000001", "KL-2026-0000002", "KL-2026-0000003", "KL-2026-0000004"]
        let ids = try f.store.read { db in try n.map { try CaseQueries.byNumber(db, $0)!.id } }
        // 2: paid in cash; 3: cancelled; 1 and 4: through the dunning run, then 4 is reminded.
        _ = try f.store.write { db in
            try Ledger.record(
                db,
                IncomingPayment(
                    channel: .cash,
                    amountCents: 99_00,
                    paidAt: BerlinTime.utc(date: CivilDate(year: 2026, month: 3, day: 19), hour: 12, minute: 0),
                    source: "t",
                    dedupKey: "k"
                ),
                caseID: ids[1]
            )
            try Ledger.cancel(db, caseID: ids[2], reason: "wrong plate", at: 0)
        }
        _ = try Dunning.run(store: f.store, asOf: CivilDate(year: 2026, month: 3, day: 23), graceDays: 5, at: 0, out: f.dir + "/r1.csv")
        try f.store.write { try $0.execute(sql: "UPDATE cases SET status = 'reminded' WHERE id = ?", arguments: [ids[3]]) }
        let tokens = try n.map(f.token)
        try await f.test { client in
            let overdue = try await client.execute(uri: "/T/\(tokens[0])?lang=en", method: .get).text
            #expect(overdue.contains("status-overdue") && overdue.contains("If you have already transferred the money"))
            #expect(overdue.contains("girocode.svg"))
            let paid = try await client.execute(uri: "/T/\(tokens[1])?lang=en", method: .get).text
            #expect(paid.contains("Paid on 19 March 2026."))
            #expect(paid.contains("status-paid") && !paid.contains("girocode.svg"))
            let cancelled = try await client.execute(uri: "/T/\(tokens[2])", method: .get).text
            #expect(cancelled.contains("aufgehoben") && !cancelled.contains("girocode.svg") && !cancelled.contains("IBAN"))
            #expect(try await client.execute(uri: "/T/\(tokens[2])/girocode.svg", method: .get).status == .notFound)
            let reminded = try await client.execute(uri: "/T/\(tokens[3])", method: .get).text
            #expect(reminded.contains("Erinnerung geschickt") && reminded.contains("girocode.svg"))
        }
    }
}
