import Foundation
import LotseTokens
import Testing

/// The verification code on a confirmation of payment (issue 16).
@Suite struct ReceiptCodeTests {
    let codes = ReceiptCodes(secret: Data(repeating: 3, count: 32).base64EncodedString())
    let payment = ReceiptCodes.Payment(caseID: 4711, caseNumber: "KL-2026-0004711", amountCents: 2500, paidAt: 1_774_000_000)

    @Test func aCodeVouchesForExactlyItsPayment() {
        let code = codes.code(payment)
        #expect(code.count == 19 && code.split(separator: "-").map(\.count) == [4, 4, 4, 4])
        #expect(codes.caseID(of: code) == 4711)
        #expect(codes.verify(code, payment))
        #expect(codes.verify(code.lowercased().replacingOccurrences(of: "-", with: " "), payment))  // as typed
        var other = payment
        other.amountCents = 2000
        #expect(!codes.verify(code, other))
        other = payment
        other.paidAt += 86400
        #expect(!codes.verify(code, other))
        other = payment
        other.caseID = 4712
        #expect(!codes.verify(code, other))
        let foreign = ReceiptCodes(secret: Data(repeating: 4, count: 32).base64EncodedString())
        #expect(!foreign.verify(code, payment))
        for junk in ["", "ABCD", String(repeating: "A", count: 17), "!!!!-!!!!-!!!!-!!!!"] {
            #expect(!codes.verify(junk, payment) && codes.caseID(of: junk) == nil)
        }
    }

    @Test func aConfirmationPrintedBeforeAKeyRotationStaysGenuine() {
        let old = KeyRing.Key(id: 1, secret: Data(repeating: 3, count: 32).base64EncodedString(), created: "2026-01-01T00:00:00Z")
        let new = KeyRing.Key(id: 2, secret: Data(repeating: 5, count: 32).base64EncodedString(), created: "2026-06-01T00:00:00Z")
        let printed = ReceiptCodes(ring: KeyRing(keys: [old])).code(payment)
        let rotated = ReceiptCodes(ring: KeyRing(keys: [old, new]))
        #expect(rotated.verify(printed, payment))
        // new codes are made with the new key: a ring without the old key still knows them, and no longer the old ones
        let fresh = rotated.code(payment)
        #expect(fresh != printed)
        let withoutOld = ReceiptCodes(ring: KeyRing(keys: [new]))
        #expect(withoutOld.verify(fresh, payment) && !withoutOld.verify(printed, payment))
        var other = payment
        other.amountCents = 1
        #expect(!rotated.verify(printed, other))
    }
}
