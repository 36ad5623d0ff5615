import Testing

@testable import LotseBank

/// Keys that older versions stored must still be computed to the same text (a file read by an older
/// Lotse is then known again, not booked twice).
@Suite struct BankKeyTests {
    @Test func anEntryWithoutReferenceKeepsItsOldContentKey() {
        var t1 = CamtTransaction()
        t1.amountCents = 5500
        t1.endToEndID = "E2E-1"
        t1.debtorIBAN = "DE02120300000000202051"
        t1.structuredRef = "RF18KL20260000001"
        t1.unstructured = ["KL-2026-0000001", "Max"]
        var e = CamtEntry(line: 1)
        e.amountCents = 5500
        e.currency = "EUR"
        e.bookingDate = "2026-03-20"
        e.transactions = [t1, CamtTransaction()]
        // sha256 of "2026-03-20|5500|EUR|5500|E2E-1|DE02120300000000202051|RF18KL20260000001|KL-2026-0000001 Max|0||||",
        // computed outside Swift (Python's hashlib), as the old `String(format: "%02x")` code wrote it.
        #expect(Reconciler.legacyContentKey(e) == "sha256:16c262d84fc39df0d0b286edaab45646ae40bd2a43c62f71a2df10e28a6498aa")
    }
}
