import Foundation
import GRDB
import LotseBank
import LotseCore
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Hostile and careless bank files (issue 12, "Bank statements"): amounts the bank never booked, the same
/// booking in camt.054 and camt.053, sums that overflow.
@Suite struct BankTrustTests {
    func count(_ f: BankFixture, _ sql: String) throws -> Int {
        try f.store.read { try Int.fetchOne($0, sql: sql) } ?? -1
    }

    // MARK: every transaction amount is covered by the entry

    @Test(arguments: ["camt.054.001.02", "camt.054.001.08", "camt.053.001.08"])
    func aTransactionLargerThanItsEntryIsRejected(kind: String) throws {
        let f = try BankFixture()
        let cs = try f.cases()
        var camt = Camt(kind: kind)
        // The bank booked 0.01; the transaction claims the whole fine.
        camt.entry("0.01", ref: "S1", [.init(amount: eur(cs[0].amountCents), ref: rf(cs[0]), bankRef: "S1-1")])
        // The other way round: a transaction smaller than its entry (money the ledger would never see).
        camt.entry(eur(cs[1].amountCents), ref: "S2", [.init(amount: "1.00", ref: rf(cs[1]))])
        // A correct one beside them still counts.
        camt.entry(eur(cs[2].amountCents), ref: "S3", [.init(amount: eur(cs[2].amountCents), ref: rf(cs[2]))])
        let s = try f.reconciler.reconcile(f.file("single.xml", camt.xml))
        #expect(s.rejected == 2 && s.matched == 1 && s.paid == 1)
        #expect(try f.status(cs[0]) == .open)
        #expect(try f.status(cs[1]) == .open)
        #expect(try f.status(cs[2]) == .paid)
        #expect(s.problems.contains { $0.contains("the transaction is \(eur(cs[0].amountCents)) but the entry is 0.01") })
        #expect(s.problems.contains { $0.contains("the transaction is 1.00 but the entry is \(eur(cs[1].amountCents))") })
        // Kept for the office with the amount the bank booked, not the one claimed.
        let rejected = try f.list(.rejected)
        #expect(rejected.map(\.amountCents).sorted() == [1, cs[1].amountCents].sorted())
        #expect(rejected.allSatisfy { $0.caseID == nil })
        #expect(try count(f, "SELECT count(*) FROM payments WHERE disposition IN ('paid', 'partial', 'refund')") == 1)
        // Importing it again adds nothing.
        let again = try f.reconciler.reconcile(f.file("single.xml", camt.xml))
        #expect(again.rejected == 0 && again.matched == 0 && again.duplicates == 3)
    }

    @Test func debitsForeignCurrenciesAndBadBatchTotalsInsideACreditAreRejected() throws {
        let f = try BankFixture()
        let cs = try f.cases()
        var camt = Camt(kind: "camt.054.001.08")
        let a = cs[0].amountCents
        let b = cs[1].amountCents
        // A debit inside a credit batch: the credit parts would sum to more than the bank booked.
        camt.entry(
            eur(a),
            ref: "D1",
            batch: (2, eur(a)),
            [
                .init(amount: eur(a + 500), ref: rf(cs[0])), .init(amount: "5.00", credit: "DBIT"),
            ]
        )
        camt.entry(eur(b), ref: "D2", [.init(amount: eur(b), ref: rf(cs[1]), currency: "USD")])
        // The batch's own total disagrees with the entry.
        camt.entry(eur(a + b), ref: "D3", batch: (2, eur(a + b + 1)), [.init(amount: eur(a), ref: rf(cs[2])), .init(amount: eur(b), ref: rf(cs[3]))])
        let s = try f.reconciler.reconcile(f.file("mixed.xml", camt.xml))
        #expect(s.rejected == 3 && s.matched == 0)
        #expect(s.problems.contains { $0.contains("marked DBIT") })
        #expect(s.problems.contains { $0.contains("a transaction is in USD but the entry in EUR") })
        #expect(s.problems.contains { $0.contains("batch total is \(eur(a + b + 1)) but the entry is \(eur(a + b))") })
        #expect(try f.cases().prefix(4).allSatisfy { $0.status == .open })
    }

    // MARK: the same booking in camt.054 and camt.053 is one payment

    /// The notification comes without the bank's reference and with a booking time; the statement with
    /// the reference and a booking day (or the other way round): one payment, nothing to refund.
    @Test(arguments: [true, false])
    func aBookingIn054And053IsPaidOnce(notificationFirst: Bool) throws {
        let f = try BankFixture()
        let cs = try f.cases()
        let c = cs[3]
        let d = cs[4]
        var note = Camt(kind: "camt.054.001.08")
        note.entry(eur(c.amountCents), ref: nil, date: "2026-03-18T09:30:00+01:00", [.init(amount: eur(c.amountCents), ref: rf(c))])
        // A batch whose transactions carry no reference in the notification.
        note.entry(
            eur(d.amountCents + 700),
            ref: nil,
            date: "2026-03-18T09:31:00+01:00",
            batch: (2, eur(d.amountCents + 700)),
            [
                .init(amount: eur(d.amountCents), text: ["Az \(d.caseNumber)"], name: "Max"),
                .init(amount: "7.00", text: ["Miete"], name: "Moritz"),
            ]
        )
        var statement = Camt(kind: "camt.053.001.02")
        statement.entry(eur(c.amountCents), ref: "2026031800042", date: "2026-03-18", [.init(amount: eur(c.amountCents), ref: rf(c))])
        statement.entry(
            eur(d.amountCents + 700),
            ref: "2026031800043",
            batch: (2, eur(d.amountCents + 700)),
            [
                .init(amount: eur(d.amountCents), text: ["Az", d.caseNumber], bankRef: "2026031800043-1", name: "Max"),
                .init(amount: "7.00", text: ["Miete"], bankRef: "2026031800043-2", name: "Moritz"),
            ]
        )
        let first = notificationFirst ? note : statement
        let second = notificationFirst ? statement : note
        let s1 = try f.reconciler.reconcile(f.file("first.xml", first.xml))
        #expect(s1.matched == 2 && s1.unmatched == 1 && s1.duplicates == 0)
        let s2 = try f.reconciler.reconcile(f.file("second.xml", second.xml))
        #expect(s2.matched == 0 && s2.unmatched == 0 && s2.refunds == 0 && s2.duplicates == 3)
        #expect(s2.problems.count == 1 && s2.problems[0].contains("3 transactions without a bank reference"))
        #expect(try f.status(c) == .paid && f.status(d) == .paid)
        #expect(try f.refunds().isEmpty)
        #expect(try count(f, "SELECT count(*) FROM payments") == 3)
        // Both again, in any order: still nothing new.
        for p in ["first.xml", "second.xml"] {
            let r = try f.reconciler.reconcile(f.dir + "/" + p)
            #expect(r.matched == 0 && r.unmatched == 0 && r.duplicates == 3)
        }
        #expect(try count(f, "SELECT count(*) FROM payments") == 3)
    }

    /// Two real bookings that say the same (a motorist who sent the transfer twice): the bank's references
    /// tell them apart across files, and one file never folds its own bookings into one.
    @Test func twoBookingsThatSayTheSameAreTwoPayments() throws {
        let f = try BankFixture()
        let cs = try f.cases()
        let c = cs[5]
        let d = cs[6]
        // One notification per booking, each with its reference; then the statement of the day with both.
        var n1 = Camt(kind: "camt.054.001.08")
        n1.entry(eur(c.amountCents), ref: "N1", [.init(amount: eur(c.amountCents), ref: rf(c))])
        var n2 = Camt(kind: "camt.054.001.08")
        n2.entry(eur(c.amountCents), ref: "N2", [.init(amount: eur(c.amountCents), ref: rf(c))])
        #expect(try f.reconciler.reconcile(f.file("n1.xml", n1.xml)).paid == 1)
        #expect(try f.reconciler.reconcile(f.file("n2.xml", n2.xml)).refunds == 1)
        var day = Camt(kind: "camt.053.001.08")
        day.entry(eur(c.amountCents), ref: "N1", [.init(amount: eur(c.amountCents), ref: rf(c))])
        day.entry(eur(c.amountCents), ref: "N2", [.init(amount: eur(c.amountCents), ref: rf(c))])
        #expect(try f.reconciler.reconcile(f.file("day.xml", day.xml)).duplicates == 2)
        // Two such bookings in one file without any reference, then the statement with references.
        var twice = Camt(kind: "camt.054.001.02")
        twice.entry(eur(d.amountCents), ref: nil, [.init(amount: eur(d.amountCents), ref: rf(d))])
        twice.entry(eur(d.amountCents), ref: nil, [.init(amount: eur(d.amountCents), ref: rf(d))])
        let t = try f.reconciler.reconcile(f.file("twice.xml", twice.xml))
        #expect(t.paid == 1 && t.refunds == 1 && t.duplicates == 0)
        var stmt = Camt(kind: "camt.053.001.02")
        stmt.entry(eur(d.amountCents), ref: "M1", [.init(amount: eur(d.amountCents), ref: rf(d))])
        stmt.entry(eur(d.amountCents), ref: "M2", [.init(amount: eur(d.amountCents), ref: rf(d))])
        let s = try f.reconciler.reconcile(f.file("stmt.xml", stmt.xml))
        #expect(s.duplicates == 2 && s.matched == 0)
        #expect(try f.refunds().map(\.amountCents) == [c.amountCents, d.amountCents])
        #expect(try count(f, "SELECT count(*) FROM payments") == 4)
        // The placeholder reference NONREF identifies nothing: two entries of one amount are two.
        var nonref = Camt(kind: "camt.054.001.08")
        nonref.entry("3.00", ref: "NONREF", [.init(amount: "3.00", text: ["eins"])])
        nonref.entry("3.00", ref: "NONREF", [.init(amount: "3.00", text: ["zwei"])])
        #expect(try f.reconciler.reconcile(f.file("nonref.xml", nonref.xml)).unmatched == 2)
    }

    // MARK: no sum can overflow

    /// 93,000 transactions of 999,999,999,999 EUR: the sum would overflow a 64-bit integer.
    static func overflowingBatch(count: Int = 93_000, amount: String = "999999999999") -> String {
        var s = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn><Ntfctn>
            <Ntry><Amt Ccy="EUR">\(amount)</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
            <BookgDt><Dt>2026-03-18</Dt></BookgDt><AcctSvcrRef>OVF</AcctSvcrRef><NtryDtls>
            <Btch><NbOfTxs>\(count)</NbOfTxs><TtlAmt Ccy="EUR">\(amount)</TtlAmt></Btch>

            """
        s.reserveCapacity(count * 60)
        for _ in 0..<count { s += "<TxDtls><Amt Ccy=\"EUR\">\(amount)</Amt></TxDtls>\n" }
        return s + "</NtryDtls></Ntry></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n"
    }

    @Test func hugeAmountsAreRejectedAndNeverOverflow() throws {
        let f = try BankFixture()
        let s = try f.reconciler.reconcile(f.file("overflow.xml", Self.overflowingBatch()))
        #expect(s.rejected == 1 && s.matched == 0 && s.unmatched == 0)
        #expect(s.problems.count == 1 && s.problems[0].contains("above the ceiling of 1000000.00 EUR per transfer"))
        // At the ceiling a transfer is taken; a cent above it is not.
        var camt = Camt(kind: "camt.054.001.08")
        camt.entry("1000000.00", ref: "C1", [.init(amount: "1000000.00", text: ["Spende"])])
        camt.entry("1000000.01", ref: "C2", [.init(amount: "1000000.01", text: ["Spende"])])
        camt.entry("999999999999", ref: "C3", [])
        let c = try f.reconciler.reconcile(f.file("ceiling.xml", camt.xml))
        #expect(c.unmatched == 1 && c.rejected == 2)
        #expect(try f.list(.unmatched).map(\.amountCents) == [100_000_000])
    }

    @Test func theBinaryReportsAnOverflowingFileInOneLine() throws {
        let dir = TestSupport.tempDir("lotse-bank-cli")
        let sample = TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv"
        #expect(try TestSupport.lotse(["import", sample], dataDir: dir).status == 0)
        let path = dir + "/overflow.xml"
        TestSupport.write(path, Self.overflowingBatch())
        let r = try TestSupport.lotse(["reconcile", path], dataDir: dir)
        #expect(r.status == 0 || r.status == 1)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("lotse: \(path):") && lines[0].contains("ceiling"))
        #expect(r.stdout.contains("1 entry rejected"))
    }

    // MARK: hostile structure

    @Test func nestedEntriesHugeFieldsAndOddNamesEndInOneLine() throws {
        let f = try BankFixture()
        let head = "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.054.001.08\"><BkToCstmrDbtCdtNtfctn><Ntfctn>"
        let tail = "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
        let entry = "<Amt Ccy=\"EUR\">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
        let inputs: [(String, String)] = [
            ("nested.xml", head + "<Ntry>" + entry + "<Ntry>" + entry + "</Ntry></Ntry>" + tail),
            ("nestedtx.xml", head + "<Ntry>" + entry + "<NtryDtls><TxDtls><TxDtls></TxDtls></TxDtls></NtryDtls></Ntry>" + tail),
            (
                "long.xml",
                head + "<Ntry>" + entry + "<NtryDtls><TxDtls><RmtInf><Ustrd>" + String(repeating: "A", count: 2_000_000)
                    + "</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>" + tail
            ),
            ("ns.xml", "<?xml version=\"1.0\"?><Document xmlns=\"urn:x&#10;line " + String(repeating: "y", count: 5000) + "\"/>"),
        ]
        for (name, text) in inputs {
            let path = f.file(name, text)
            do {
                _ = try f.reconciler.reconcile(path)
                Issue.record("\(name) was accepted")
            } catch let e as LotseError {
                #expect(e.description.hasPrefix(path + ":"))
                #expect(!e.description.contains("\n") && e.description.count < 300, "\(name): \(e.description.prefix(400))")
            }
        }
        #expect(try count(f, "SELECT count(*) FROM payments") == 0)
        #expect(try count(f, "SELECT count(*) FROM bank_entries") == 0)
    }
}
