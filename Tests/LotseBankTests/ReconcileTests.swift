import Foundation
import GRDB
import LotseBank
import LotseCore
import LotseImport
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// A real database filled from the shipped sample export, and camt files written for each test.
final class BankFixture {
    let dir = TestSupport.tempDir("lotse-bank")
    let store: Store
    var config = try! LotseConfig(environment: [:])  // an empty environment is valid
    let reconciler: Reconciler

    init() throws {
        config.dataDir = dir
        store = try Store(path: dir + "/lotse.sqlite")
        let importer = Importer(store: store, config: config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath))
        _ = try importer.importFile(TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv")
        reconciler = Reconciler(store: store)
    }

    func cases() throws -> [CaseRecord] {
        try store.allCases()
    }

    func status(_ c: CaseRecord) throws -> CaseStatus {
        try store.read { try CaseQueries.byID($0, c.id)!.status }
    }

    func file(_ name: String, _ text: String) -> String {
        let p = dir + "/" + name
        TestSupport.write(p, text)
        return p
    }

    func list(_ d: Disposition) throws -> [PaymentRecord] { try store.read { try Ledger.list($0, d) } }
    func refunds() throws -> [PaymentRecord] { try store.read { try Ledger.refunds($0) } }
}

/// Builds camt.054/053 documents of version 02 or 08.
struct Camt {
    var kind = "camt.054.001.02"
    var entries: [String] = []

    var v08: Bool { kind.hasSuffix(".08") }

    struct Tx {
        var amount: String
        var ref: String? = nil
        var text: [String] = []
        var bankRef: String? = nil
        var name = "Erika Mustermann"
        var iban = "DE02120300000000202051"
        var credit = "CRDT"
        var currency = "EUR"
    }

    func tx(_ t: Tx) -> String {
        let amt =
            v08
            ? "<Amt Ccy=\"\(t.currency)\">\(t.amount)</Amt><CdtDbtInd>\(t.credit)</CdtDbtInd>"
            : "<AmtDtls><TxAmt><Amt Ccy=\"\(t.currency)\">\(t.amount)</Amt></TxAmt></AmtDtls>"
        let party = v08 ? "<Dbtr><Pty><Nm>\(t.name)</Nm></Pty></Dbtr>" : "<Dbtr><Nm>\(t.name)</Nm></Dbtr>"
        var rmt = ""
        if let r = t.ref {
            rmt += "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr></Tp><Ref>\(r)</Ref></CdtrRefInf></Strd>"
        }
        for u in t.text { rmt += "<Ustrd>\(u)</Ustrd>" }
        return """
              <TxDtls>
                <Refs>\(t.bankRef.map { "<AcctSvcrRef>\($0)</AcctSvcrRef>" } ?? "")<EndToEndId>NOTPROVIDED</EndToEndId></Refs>
                \(amt)
                <RltdPties>\(party)<DbtrAcct><Id><IBAN>\(t.iban)</IBAN></Id></DbtrAcct></RltdPties>
                \(rmt.isEmpty ? "" : "<RmtInf>\(rmt)</RmtInf>")
              </TxDtls>
            """
    }

    mutating func entry(
        _ amount: String,
        ref: String?,
        credit: Bool = true,
        booked: Bool = true,
        date: String = "2026-03-18",
        batch: (count: Int, total: String)? = nil,
        _ txs: [Tx]
    ) {
        let sts = v08 ? "<Sts><Cd>\(booked ? "BOOK" : "PDNG")</Cd></Sts>" : "<Sts>\(booked ? "BOOK" : "PDNG")</Sts>"
        let btch = batch.map { "<Btch><NbOfTxs>\($0.count)</NbOfTxs><TtlAmt Ccy=\"EUR\">\($0.total)</TtlAmt></Btch>" } ?? ""
        entries.append(
            """
              <Ntry>
                <Amt Ccy="EUR">\(amount)</Amt>
                <CdtDbtInd>\(credit ? "CRDT" : "DBIT")</CdtDbtInd>
                \(sts)
                <BookgDt>\(date.contains("T") ? "<DtTm>\(date)</DtTm>" : "<Dt>\(date)</Dt>")</BookgDt>
                <ValDt><Dt>\(date.prefix(10))</Dt></ValDt>
                \(ref.map { "<AcctSvcrRef>\($0)</AcctSvcrRef>" } ?? "")
                <BkTxCd><Prtry><Cd>NTRF+166</Cd><Issr>DK</Issr></Prtry></BkTxCd>
                <NtryDtls>\(btch)
            \(txs.map(tx).joined(separator: "\n"))
                </NtryDtls>
              </Ntry>
            """
        )
    }

    var xml: String {
        let is054 = kind.hasPrefix("camt.054")
        let root = is054 ? "BkToCstmrDbtCdtNtfctn" : "BkToCstmrStmt"
        let inner = is054 ? "Ntfctn" : "Stmt"
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment the parser must skip -->
            <Document xmlns="urn:iso:std:iso:20022:tech:xsd:\(kind)" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
              <\(root)>
                <GrpHdr><MsgId>MSG-\(kind)</MsgId><CreDtTm>2026-03-19T06:00:00+01:00</CreDtTm></GrpHdr>
                <\(inner)>
                  <Id>1</Id>
                  <Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>
            \(entries.joined(separator: "\n"))
                </\(inner)>
              </\(root)>
            </Document>
            """
    }
}

func rf(_ c: CaseRecord) -> String { RFReference.make(from: c.caseNumber)! }
func eur(_ cents: Int) -> String { Money.plain(cents) }

@Suite struct ReconcileTests {
    @Test(arguments: ["camt.054.001.02", "camt.054.001.08", "camt.053.001.02", "camt.053.001.08"])
    func matchesTypedAndFreeTextReferencesInEveryVersion(kind: String) throws {
        let f = try BankFixture()
        let cs = try f.cases()
        var camt = Camt(kind: kind)
        // Structured RF reference.
        camt.entry(eur(cs[0].amountCents), ref: "E1", [.init(amount: eur(cs[0].amountCents), ref: rf(cs[0]), bankRef: "T1")])
        // RF typed into the free text with spaces, lower case.
        let spaced = rf(cs[1]).lowercased().enumerated().map { $0.offset % 4 == 3 ? "\($0.element) " : "\($0.element)" }.joined()
        camt.entry(eur(cs[1].amountCents), ref: "E2", [.init(amount: eur(cs[1].amountCents), text: ["Knoellchen \(spaced) danke"])])
        // Case number with other separators in the free text, split over two lines.
        let n = cs[2].caseNumber.replacingOccurrences(of: "-", with: " / ")
        camt.entry(eur(cs[2].amountCents), ref: "E3", [.init(amount: eur(cs[2].amountCents), text: ["Verwarnung", "Az. \(n)"])])
        // Nothing to go by.
        camt.entry("12.34", ref: "E4", [.init(amount: "12.34", text: ["Miete Maerz"])])
        // A debit and a pending credit are not payments to match.
        camt.entry(eur(cs[3].amountCents), ref: "E5", credit: false, [.init(amount: eur(cs[3].amountCents), ref: rf(cs[3]))])
        camt.entry(eur(cs[3].amountCents), ref: "E6", booked: false, [.init(amount: eur(cs[3].amountCents), ref: rf(cs[3]))])
        let path = f.file("statement.xml", camt.xml)

        let s = try f.reconciler.reconcile(path)
        #expect(s.format == kind)
        #expect(s.line == "\(path): matched 3, unmatched 1, ignored 2, duplicates 0")
        #expect(try f.status(cs[0]) == .paid)
        #expect(try f.status(cs[1]) == .paid)
        #expect(try f.status(cs[2]) == .paid)
        #expect(try f.status(cs[3]) == .open)
        let unmatched = try f.list(.unmatched)
        #expect(unmatched.count == 1)
        #expect(unmatched[0].amountCents == 1234)
        #expect(unmatched[0].note?.contains("no case number in the text 'Miete Maerz'") == true)
        let payments = try f.store.read { try Ledger.payments($0, caseID: cs[0].id) }
        #expect(payments.map(\.channel) == [.bankTransfer])
        #expect(BerlinTime.local(payments[0].paidAt).date.description == "2026-03-18")

        // The same file again adds nothing.
        let again = try f.reconciler.reconcile(path)
        #expect(again.matched == 0 && again.unmatched == 0 && again.duplicates == 4 && again.ignored == 2)
        #expect(try f.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM payments") } == 4)
        #expect(try f.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events WHERE kind = 'paid'") } == 3)
    }

    @Test(arguments: ["camt.054.001.02", "camt.054.001.08"])
    func splitsBatchesAndRejectsOnesThatDoNotAddUp(kind: String) throws {
        let f = try BankFixture()
        let cs = try f.cases()
        var camt = Camt(kind: kind)
        let a = cs[4].amountCents
        let b = cs[5].amountCents
        camt.entry(
            eur(a + b),
            ref: "B1",
            batch: (2, eur(a + b)),
            [
                .init(amount: eur(a), ref: rf(cs[4]), bankRef: "B1-1"),
                .init(amount: eur(b), text: ["\(cs[5].caseNumber)"], bankRef: "B1-2"),
            ]
        )
        camt.entry(
            eur(a + b + 100),
            ref: "B2",
            batch: (2, eur(a + b + 100)),
            [
                .init(amount: eur(a), ref: rf(cs[6])),
                .init(amount: eur(b), ref: rf(cs[7])),
            ]
        )
        let s = try f.reconciler.reconcile(f.file("batch.xml", camt.xml))
        #expect(s.matched == 2 && s.unmatched == 0 && s.rejected == 1)
        #expect(s.problems.count == 1)
        #expect(s.problems[0].contains("batch.xml:") && s.problems[0].contains("sum to \(eur(a + b)) but the entry is \(eur(a + b + 100))"))
        #expect(try f.status(cs[4]) == .paid && f.status(cs[5]) == .paid)
        #expect(try f.status(cs[6]) == .open && f.status(cs[7]) == .open)
        let rejected = try f.list(.rejected)
        #expect(rejected.count == 1 && rejected[0].amountCents == a + b + 100)

        // A camt.053 that repeats the itemised batch (same bank reference) adds nothing.
        var stmt = Camt(kind: kind.replacingOccurrences(of: "054", with: "053"))
        stmt.entry(eur(a + b), ref: "B1", batch: (2, eur(a + b)), [])
        let r = try f.reconciler.reconcile(f.file("stmt.xml", stmt.xml))
        #expect(r.duplicates == 1 && r.matched == 0 && r.unmatched == 0 && r.rejected == 0)
        // ...nor one that itemises it again under another entry reference.
        var stmt2 = Camt(kind: "camt.053.001.02")
        stmt2.entry(
            eur(a + b),
            ref: "OTHER",
            batch: (2, eur(a + b)),
            [
                .init(amount: eur(a), ref: rf(cs[4]), bankRef: "B1-1"),
                .init(amount: eur(b), text: ["\(cs[5].caseNumber)"], bankRef: "B1-2"),
            ]
        )
        let r2 = try f.reconciler.reconcile(f.file("stmt2.xml", stmt2.xml))
        #expect(r2.duplicates == 2 && r2.matched == 0)
        #expect(try f.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM payments WHERE disposition = 'paid'") } == 2)
    }

    @Test func partialDoubleAndSurplusPayments() throws {
        let f = try BankFixture()
        let cs = try f.cases()
        let c = cs[8]
        let d = cs[9]
        var camt = Camt(kind: "camt.054.001.08")
        camt.entry("5.00", ref: "P1", [.init(amount: "5.00", ref: rf(c))])  // too little
        camt.entry(eur(d.amountCents + 500), ref: "P2", [.init(amount: eur(d.amountCents + 500), ref: rf(d))])  // surplus
        _ = try f.reconciler.reconcile(f.file("a.xml", camt.xml))
        #expect(try f.status(c) == .open)
        #expect(try f.list(.partial).map(\.amountCents) == [500])
        #expect(try f.status(d) == .paid)
        #expect(try f.refunds().map(\.refundCents) == [500])

        // The rest arrives: the case is paid; then the motorist pays the whole amount again: refund.
        var more = Camt(kind: "camt.054.001.08")
        more.entry(eur(c.amountCents - 500), ref: "P3", [.init(amount: eur(c.amountCents - 500), text: [c.caseNumber])])
        more.entry(eur(c.amountCents), ref: "P4", [.init(amount: eur(c.amountCents), ref: rf(c))])
        let s = try f.reconciler.reconcile(f.file("b.xml", more.xml))
        #expect(s.matched == 2 && s.paid == 1 && s.refunds == 1)
        #expect(try f.status(c) == .paid)
        #expect(try f.list(.partial).isEmpty)
        #expect(try f.refunds().map(\.refundCents).sorted() == [500, c.amountCents].sorted())
        let paid = try f.store.read { try Ledger.payments($0, caseID: c.id) }
        #expect(paid.map(\.disposition) == [.paid, .paid, .refund])
    }

    @Test func malformedFilesExitWithoutChangingAnything() throws {
        let f = try BankFixture()
        let cs = try f.cases()
        var camt = Camt(kind: "camt.054.001.02")
        for i in 0..<5 { camt.entry(eur(cs[i].amountCents), ref: "X\(i)", [.init(amount: eur(cs[i].amountCents), ref: rf(cs[i]))]) }
        let full = camt.xml
        let truncated = f.file("cut.xml", String(full.prefix(full.count * 3 / 4)))
        #expect(throws: LotseError.self) { try f.reconciler.reconcile(truncated) }
        do { _ = try f.reconciler.reconcile(truncated) } catch let e as LotseError {
            #expect(e.description.hasPrefix(truncated + ":"))
            #expect(!e.description.contains("\n"))
        }
        let notCamt = f.file(
            "pain.xml",
            "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\"><CstmrCdtTrfInitn/></Document>"
        )
        #expect(throws: LotseError.self) { try f.reconciler.reconcile(notCamt) }
        let junk = f.file("junk.xml", "\u{1}\u{2}binary")
        #expect(throws: LotseError.self) { try f.reconciler.reconcile(junk) }
        #expect(try f.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM payments") } == 0)
        #expect(try f.store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM bank_entries") } == 0)
        #expect(try f.cases().allSatisfy { $0.status == .open })
    }

    @Test func assignsAnUnmatchedPaymentByHand() throws {
        let f = try BankFixture()
        let cs = try f.cases()
        var camt = Camt()
        camt.entry(eur(cs[10].amountCents), ref: "U1", [.init(amount: eur(cs[10].amountCents), text: ["Strafzettel Auto KL AB 123"])])
        _ = try f.reconciler.reconcile(f.file("u.xml", camt.xml))
        let u = try f.list(.unmatched)
        #expect(u.count == 1)
        let d = try f.store.write { try Ledger.assign($0, paymentID: u[0].id, caseID: cs[10].id) }
        #expect(d == .paid)
        #expect(try f.status(cs[10]) == .paid)
        #expect(try f.list(.unmatched).isEmpty)
        #expect(throws: LotseError.self) { try f.store.write { try Ledger.assign($0, paymentID: u[0].id, caseID: cs[11].id) } }
    }

    @Test func cancelledCasesAreRefunded() throws {
        let f = try BankFixture()
        let cs = try f.cases()
        try f.store.write { try Ledger.cancel($0, caseID: cs[12].id, reason: "wrong plate", at: 1_800_000_000) }
        var camt = Camt()
        camt.entry(eur(cs[12].amountCents), ref: "C1", [.init(amount: eur(cs[12].amountCents), ref: rf(cs[12]))])
        let s = try f.reconciler.reconcile(f.file("c.xml", camt.xml))
        #expect(s.refunds == 1)
        #expect(try f.status(cs[12]) == .cancelled)
        #expect(try f.refunds().first?.note == "case cancelled")
    }
}
