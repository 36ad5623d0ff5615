import Crypto
import Foundation
import LotseCore

/// Signing keys, kept in `keys.json` in the data directory (mode 0600). The newest key signs;
/// every key verifies, so rotating keys never invalidates a printed ticket.
public struct KeyRing: Sendable {
    public struct Key: Codable, Sendable {
        public var id: UInt8
        public var secret: String // base64, 32 bytes
        public var created: String
    }

    public private(set) var keys: [Key]
    /// Per key id, an HMAC already keyed: each MAC starts from a copy (the key is hashed once, not per token).
    let macs: [UInt8: KeyedMAC]

    public init(keys: [Key]) {
        self.keys = keys.sorted { $0.id < $1.id }
        var m: [UInt8: KeyedMAC] = [:]
        for k in keys {
            if let d = Data(base64Encoded: k.secret), d.count >= 32 { m[k.id] = KeyedMAC(HMAC(key: SymmetricKey(data: d))) }
        }
        macs = m
    }

    public var current: Key { keys.last! }

    public static func path(dataDir: String) -> String { dataDir + "/keys.json" }

    /// Loads the key ring, creating it with one key on first use.
    public static func loadOrCreate(dataDir: String) throws -> KeyRing {
        let p = path(dataDir: dataDir)
        if FileManager.default.fileExists(atPath: p) {
            guard let data = FileManager.default.contents(atPath: p),
                  let keys = try? JSONDecoder().decode([Key].self, from: data), !keys.isEmpty else {
                throw LotseError.io("\(p): the key file cannot be read")
            }
            return KeyRing(keys: keys)
        }
        let ring = KeyRing(keys: [newKey(id: 1)])
        try ring.save(dataDir: dataDir)
        return ring
    }

    static func newKey(id: UInt8) -> Key {
        let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        return Key(id: id, secret: secret, created: BerlinTime.isoUTC(Int64(Date().timeIntervalSince1970)))
    }

    /// Adds a new signing key; older keys keep verifying.
    public static func rotate(dataDir: String) throws -> KeyRing {
        let ring = try loadOrCreate(dataDir: dataDir)
        guard ring.current.id < 255 else { throw LotseError.io("the key ring is full (255 keys)") }
        let next = KeyRing(keys: ring.keys + [newKey(id: ring.current.id + 1)])
        try next.save(dataDir: dataDir)
        return next
    }

    func save(dataDir: String) throws {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let p = KeyRing.path(dataDir: dataDir)
        let data = try JSONEncoder().encode(keys)
        let tmp = p + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw LotseError.io("\(p): cannot write the key file")
        }
        _ = try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tmp)
        if rename(tmp, p) != 0 { throw LotseError.io("\(p): cannot write the key file") }
    }

    func mac(_ id: UInt8) -> KeyedMAC? { macs[id] }
}

/// An HMAC-SHA256 state after the key: a value, copied before use (its digest state is copy-on-write),
/// so sharing it between threads is safe.
struct KeyedMAC: @unchecked Sendable {
    let keyed: HMAC<SHA256>

    init(_ keyed: HMAC<SHA256>) { self.keyed = keyed }

    func code(_ payload: [UInt8]) -> HMAC<SHA256>.MAC {
        var h = keyed
        h.update(data: payload)
        return h.finalize()
    }
}

/// The case token (formats §2): version, key id, case id and a truncated HMAC-SHA256 over them,
/// base32 upper case. 1 + 1 + 4 + 16 bytes = 36 characters. Nothing personal is inside.
public struct CaseTokens: Sendable {
    public static let version: UInt8 = 1
    public static let macLength = 16
    static let payloadLength = 6
    public let ring: KeyRing

    public init(ring: KeyRing) { self.ring = ring }

    public func token(caseID: Int64) -> String {
        precondition(caseID > 0 && caseID <= Int64(UInt32.max))
        let key = ring.current
        let id = UInt32(caseID)
        var bytes: [UInt8] = [Self.version, key.id, UInt8(id >> 24), UInt8((id >> 16) & 0xFF), UInt8((id >> 8) & 0xFF), UInt8(id & 0xFF)]
        bytes += mac(bytes, key: ring.mac(key.id)!)
        return Base32.encode(bytes)
    }

    func mac(_ payload: [UInt8], key: KeyedMAC) -> [UInt8] {
        Array(key.code(payload).prefix(Self.macLength))
    }

    /// The case id of a genuine token, nil for anything forged, altered or signed by an unknown key.
    /// Lower-case tokens are accepted (some scanners lower-case URLs).
    public func verify(_ token: String) -> Int64? {
        guard token.utf8.count == 36, let bytes = Base32.decode(token), bytes.count == Self.payloadLength + Self.macLength,
              bytes[0] == Self.version, let key = ring.mac(bytes[1]) else { return nil }
        let payload = Array(bytes[0..<Self.payloadLength])
        let expected = mac(payload, key: key)
        var diff: UInt8 = 0
        for i in 0..<Self.macLength { diff |= expected[i] ^ bytes[Self.payloadLength + i] }
        guard diff == 0 else { return nil }
        let id = Int64(bytes[2]) << 24 | Int64(bytes[3]) << 16 | Int64(bytes[4]) << 8 | Int64(bytes[5])
        return id > 0 ? id : nil
    }

    /// `PUBLIC_BASE_URL` upper-cased + `/T/` + token: only QR alphanumeric characters.
    public static func url(base: String, token: String) -> String {
        base.uppercased() + "/T/" + token
    }
}
