import Crypto
import Foundation
import LotseCore

#if canImport(Glibc)
import Glibc
#endif

/// What a version 2 ticket token signs (formats §2b): the handheld that printed it (device number and key
/// generation, under signing key `keyID`) and the ticket as printed. A stock code, printed in advance on ticket
/// paper, signs only the device and the ticket number (time, TBNR and amount are 0).
public struct TicketClaim: Sendable, Hashable {
    public var keyID: UInt8
    public var deviceNumber: UInt16
    public var generation: UInt8
    public var ticketNumber: UInt32
    /// Minutes since 2020-01-01T00:00:00Z; 0 on a stock code.
    public var minutes: UInt32
    /// The TBNR as a number (24 bits); 0 on a stock code.
    public var tbnr: UInt32
    public var amountCents: UInt16

    /// 2020-01-01T00:00:00Z in UTC seconds: the time origin of `minutes`.
    public static let epoch: Int64 = 1_577_836_800

    public init(
        keyID: UInt8,
        deviceNumber: UInt16,
        generation: UInt8,
        ticketNumber: UInt32,
        minutes: UInt32 = 0,
        tbnr: UInt32 = 0,
        amountCents: UInt16 = 0
    ) {
        self.keyID = keyID
        self.deviceNumber = deviceNumber
        self.generation = generation
        self.ticketNumber = ticketNumber
        self.minutes = minutes
        self.tbnr = tbnr
        self.amountCents = amountCents
    }

    /// The claim of a ticket issued at `issuedAt` (UTC seconds, on or after 2020): nil when a field does not fit its
    /// bytes (a TBNR of more than 6 digits or above 2^24, an amount above 655.35 EUR, a time before 2020).
    public static func ticket(
        keyID: UInt8,
        deviceNumber: UInt16,
        generation: UInt8,
        ticketNumber: UInt32,
        issuedAt: Int64,
        tbnr: String,
        amountCents: Int
    ) -> TicketClaim? {
        guard issuedAt >= epoch, (issuedAt - epoch) / 60 < Int64(UInt32.max), tbnr.utf8.count == 6,
            let tbnrValue = UInt32(tbnr), tbnrValue > 0, tbnrValue < 1 << 24,
            let amount = UInt16(exactly: amountCents), amount > 0
        else { return nil }
        return TicketClaim(
            keyID: keyID,
            deviceNumber: deviceNumber,
            generation: generation,
            ticketNumber: ticketNumber,
            minutes: UInt32((issuedAt - epoch) / 60),
            tbnr: tbnrValue,
            amountCents: amount
        )
    }

    /// A stock code's claim: device and ticket number only.
    public static func stock(keyID: UInt8, deviceNumber: UInt16, generation: UInt8, ticketNumber: UInt32) -> TicketClaim {
        TicketClaim(keyID: keyID, deviceNumber: deviceNumber, generation: generation, ticketNumber: ticketNumber)
    }

    public var isStock: Bool { minutes == 0 && tbnr == 0 && amountCents == 0 }

    /// The time of the offence in UTC seconds (minute precision); nil on a stock code.
    public var issuedAt: Int64? { isStock ? nil : Self.epoch + Int64(minutes) * 60 }

    /// The TBNR as six digits; nil on a stock code.
    public var tbnrText: String? {
        guard !isStock else { return nil }
        let digits = String(tbnr)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// Bytes 0–17 of the token: what the MAC covers.
    public var payload: [UInt8] {
        var bytes: [UInt8] = [TicketTokens.version, keyID]
        bytes += [UInt8(deviceNumber >> 8), UInt8(deviceNumber & 0xFF), generation]
        bytes += [UInt8(ticketNumber >> 24), UInt8((ticketNumber >> 16) & 0xFF), UInt8((ticketNumber >> 8) & 0xFF), UInt8(ticketNumber & 0xFF)]
        bytes += [UInt8(minutes >> 24), UInt8((minutes >> 16) & 0xFF), UInt8((minutes >> 8) & 0xFF), UInt8(minutes & 0xFF)]
        bytes += [UInt8((tbnr >> 16) & 0xFF), UInt8((tbnr >> 8) & 0xFF), UInt8(tbnr & 0xFF)]
        bytes += [UInt8(amountCents >> 8), UInt8(amountCents & 0xFF)]
        return bytes
    }

    /// The claim in bytes 0–17, unverified; nil when the version is not 2.
    init?(payload b: [UInt8]) {
        guard b.count == 18, b[0] == TicketTokens.version else { return nil }
        keyID = b[1]
        deviceNumber = UInt16(b[2]) << 8 | UInt16(b[3])
        generation = b[4]
        ticketNumber = UInt32(b[5]) << 24 | UInt32(b[6]) << 16 | UInt32(b[7]) << 8 | UInt32(b[8])
        minutes = UInt32(b[9]) << 24 | UInt32(b[10]) << 16 | UInt32(b[11]) << 8 | UInt32(b[12])
        tbnr = UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15])
        amountCents = UInt16(b[16]) << 8 | UInt16(b[17])
    }
}

/// A handheld's key (formats §2b): HMAC-SHA256 under signing key `key_id` of `keys.json` of the ASCII bytes
/// `lotse-device-key`, the device number (2 bytes, big-endian) and the generation (1 byte). The server derives it
/// again from its key ring, so checking a ticket token needs no database.
public enum DeviceKey {
    public static let label = Array("lotse-device-key".utf8)

    public static func message(number: UInt16, generation: UInt8) -> [UInt8] {
        label + [UInt8(number >> 8), UInt8(number & 0xFF), generation]
    }

    public static func derive(signingKey: [UInt8], number: UInt16, generation: UInt8) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message(number: number, generation: generation), using: SymmetricKey(data: signingKey)))
    }
}

/// Version 2 tokens: 34 bytes (the 18 of the claim and the first 16 of HMAC-SHA256 under the device key over
/// them), base32 upper case, 55 characters.
public enum TicketTokens {
    public static let version: UInt8 = 2
    public static let byteCount = 34
    public static let textLength = 55
    static let macLength = 16

    /// The token of `claim` under the handheld's `deviceKey` (what a handheld computes offline).
    public static func make(_ claim: TicketClaim, deviceKey: [UInt8]) -> String {
        let payload = claim.payload
        let mac = HMAC<SHA256>.authenticationCode(for: payload, using: SymmetricKey(data: deviceKey))
        return Base32.encode(payload + Array(mac).prefix(macLength))
    }

    /// The claim and MAC of a token of the right shape, not yet verified.
    static func parse(_ token: String) -> (claim: TicketClaim, mac: [UInt8])? {
        guard token.utf8.count == textLength, let bytes = Base32.decode(token), bytes.count == byteCount,
            let claim = TicketClaim(payload: Array(bytes[0..<18]))
        else { return nil }
        return (claim, Array(bytes[18...]))
    }

    /// `PUBLIC_BASE_URL` upper-cased + `/T/` + token.
    public static func url(base: String, token: String) -> String {
        base.uppercased() + "/T/" + token
    }
}

extension CaseTokens {
    /// The claim of a genuine version 2 token (its MAC checked in constant time under the device key derived from
    /// the key ring), nil for anything forged, altered, of an unknown signing key or of device number 0. Needs no
    /// database: whether the device was revoked is the caller's question, after this.
    public func verifyTicket(_ token: String) -> TicketClaim? {
        guard let (claim, mac) = TicketTokens.parse(token), claim.deviceNumber > 0, claim.generation > 0,
            let signing = ring.mac(claim.keyID)
        else { return nil }
        let deviceKey = Array(signing.code(DeviceKey.message(number: claim.deviceNumber, generation: claim.generation)))
        let expected = HMAC<SHA256>.authenticationCode(for: claim.payload, using: SymmetricKey(data: deviceKey))
        guard ConstantTime.equal(Array(expected).prefix(TicketTokens.macLength), mac) else { return nil }
        return claim
    }

    /// The device key of device `number`, generation `generation`, under the current signing key (what
    /// `lotse devices add` writes into the key file), with that key's id.
    public func deviceKey(number: UInt16, generation: UInt8, keyID: UInt8? = nil) -> (keyID: UInt8, key: [UInt8])? {
        let id = keyID ?? ring.current.id
        guard let signing = ring.mac(id) else { return nil }
        return (id, Array(signing.code(DeviceKey.message(number: number, generation: generation))))
    }
}

/// The key file a handheld vendor loads (formats §2b), written with mode 0600.
public struct DeviceKeyFile: Codable, Sendable, Equatable {
    public var deviceID: String
    public var number: UInt16
    public var generation: UInt8
    public var keyID: UInt8
    /// Base64 of the 32-byte device key.
    public var key: String
    /// The public base URL, upper case.
    public var baseURL: String

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id"
        case number, generation
        case keyID = "key_id"
        case key
        case baseURL = "base_url"
    }

    public init(deviceID: String, number: UInt16, generation: UInt8, keyID: UInt8, key: [UInt8], baseURL: String) {
        self.deviceID = deviceID
        self.number = number
        self.generation = generation
        self.keyID = keyID
        self.key = Data(key).base64EncodedString()
        self.baseURL = baseURL.uppercased()
    }

    /// The 32 key bytes; nil when `key` is not base64 of 32 bytes.
    public var keyBytes: [UInt8]? {
        guard let data = Data(base64Encoded: key), data.count == 32 else { return nil }
        return Array(data)
    }

    /// Writes the file with mode 0600 (it holds a key that signs tickets), replacing none: an existing file is an error.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LotseError.io("\(path): cannot create the key file (does it exist already?)") }
        defer { close(fd) }
        let written = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else { throw LotseError.io("\(path): cannot write the key file") }
    }

    /// Reads a key file.
    public static func read(from path: String) throws -> DeviceKeyFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw LotseError.io("\(path): cannot read the key file") }
        guard let file = try? JSONDecoder().decode(DeviceKeyFile.self, from: data), file.keyBytes != nil else {
            throw LotseError.io("\(path): not a Lotse device key file")
        }
        return file
    }
}
