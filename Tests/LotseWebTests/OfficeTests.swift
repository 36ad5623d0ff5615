import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LotseCore
import LotseOffice
@_spi(Testing) import LotseStorage
import LotseTestSupport
import LotseWeb
import Testing

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
            #expect(cancelled.contains("eingestellt") && !cancelled.contains("girocode.svg") && !cancelled.contains("IBAN"))
            #expect(try await client.execute(uri: "/T/\(tokens[2])/girocode.svg", method: .get).status == .notFound)
            let reminded = try await client.execute(uri: "/T/\(tokens[3])", method: .get).text
            #expect(reminded.contains("Erinnerung geschickt") && reminded.contains("girocode.svg"))
        }
    }
}
