import Crypto
import Foundation
import LotseCore

/// The verification code on a confirmation of payment (Zahlungsnachweis, issue 16): anyone the motorist shows it to
/// can ask `/verify?code=…` whether the city received that payment.
///
/// The code is the case's id (4 bytes) and an HMAC-SHA256 (6 bytes) over the id, the case number, the amount and the
/// time of payment, base32 in four groups (`ABCD-EFGH-IJKL-MNOP`). The key is derived by HKDF from the case tokens'
/// key, so a forged code needs that key; a code for another amount or day does not verify, and a payment booked back
/// (a refund that reopens the case) changes the facts and voids the code. It carries no personal data.
///
/// A code is made with the key derived from the ring's current key and checked against the keys of every key in the
/// ring: a confirmation printed before `lotse keys rotate` stays genuine for as long as its key is in the ring.
public struct ReceiptCodes: Sendable {
    /// The derived keys' bytes, the signing key last (`SymmetricKey` is not `Sendable`).
    let keys: [[UInt8]]

    /// Codes of one key.
    public init(secret: String) { self.init(secrets: [secret]) }

    /// Codes made with the last of `secrets` (base64) and checked against each of them.
    public init(secrets: [String]) {
        precondition(!secrets.isEmpty, "receipt codes need a key")
        keys = secrets.map { KeyRing.derivedKey(secret: $0, purpose: "lotse receipt codes v1") }
    }

    /// Codes of the key ring: made with its current key, checked against all its keys.
    public init(ring: KeyRing) { self.init(secrets: ring.keys.map(\.secret)) }

    /// The facts a code vouches for.
    public struct Payment: Sendable, Equatable {
        public var caseID: Int64
        public var caseNumber: String
        public var amountCents: Int
        public var paidAt: Int64

        public init(caseID: Int64, caseNumber: String, amountCents: Int, paidAt: Int64) {
            self.caseID = caseID
            self.caseNumber = caseNumber
            self.amountCents = amountCents
            self.paidAt = paidAt
        }
    }

    public func code(_ payment: Payment) -> String {
        let id = UInt32(truncatingIfNeeded: payment.caseID)
        let bytes = [UInt8(id >> 24), UInt8((id >> 16) & 255), UInt8((id >> 8) & 255), UInt8(id & 255)] + mac(payment, key: keys.last!)
        let text = Array(Base32.encode(bytes))
        return stride(from: 0, to: text.count, by: 4).map { String(text[$0..<min($0 + 4, text.count)]) }.joined(separator: "-")
    }

    /// The case id a code names (nil: not a code's shape); whether it is genuine is `verify`'s question.
    public func caseID(of code: String) -> Int64? { Self.parse(code)?.caseID }

    /// Whether `code` is the code of exactly this payment.
    public func verify(_ code: String, _ payment: Payment) -> Bool {
        guard let (id, mac) = Self.parse(code) else { return false }
        guard id == payment.caseID else { return false }
        return keys.contains { ConstantTime.equal(mac, self.mac(payment, key: $0)) }
    }

    /// A code as typed (any case, with or without dashes or spaces): the case id and the MAC's bytes.
    static func parse(_ code: String) -> (caseID: Int64, mac: ArraySlice<UInt8>)? {
        let compact = code.uppercased().filter { $0 != "-" && $0 != " " }
        guard compact.count == 16, let bytes = Base32.decode(compact), bytes.count == 10 else { return nil }
        return (Int64(bytes[0]) << 24 | Int64(bytes[1]) << 16 | Int64(bytes[2]) << 8 | Int64(bytes[3]), bytes[4...])
    }

    func mac(_ payment: Payment, key: [UInt8]) -> [UInt8] {
        let message = "\(payment.caseID)|\(payment.caseNumber)|\(payment.amountCents)|\(payment.paidAt)"
        return Array(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: key)).prefix(6))
    }
}

extension KeyRing {
    /// A key for one purpose (form values, receipt codes), derived by HKDF-SHA256 from a key of the ring (`secret`,
    /// base64): the ring's key itself signs only case tokens.
    public static func derivedKey(secret: String, purpose: String) -> [UInt8] {
        let material = SymmetricKey(data: Data(base64Encoded: secret) ?? Data(secret.utf8))
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: material, info: Data(purpose.utf8), outputByteCount: 32).withUnsafeBytes { Array($0) }
    }
}
