import Crypto
import Foundation
import LotseCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Signing keys, kept in `keys.json` in the data directory (mode 0600). The newest key signs;
/// every key verifies, so rotating keys never invalidates a printed ticket.
public struct KeyRing: Sendable {
    public struct Key: Codable, Sendable {
        public var id: UInt8
        public var secret: String  // base64, 32 bytes
        public var created: String

        public init(id: UInt8, secret: String, created: String) {
            self.id = id
            self.secret = secret
            self.created = created
        }
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

    /// Loads the key ring, creating it with one key on first use (under the key file's lock, so that two
    /// processes starting at once do not create two different first keys).
    public static func loadOrCreate(dataDir: String) throws -> KeyRing {
        if let ring = try load(dataDir: dataDir) { return ring }
        return try withFileLock(dataDir: dataDir) {
            if let ring = try load(dataDir: dataDir) { return ring }
            let ring = KeyRing(keys: [newKey(id: 1)])
            try ring.save(dataDir: dataDir)
            return ring
        }
    }

    /// The key ring in `keys.json`; nil when there is none yet.
    public static func load(dataDir: String) throws -> KeyRing? {
        let p = path(dataDir: dataDir)
        guard FileManager.default.fileExists(atPath: p) else { return nil }
        guard let data = FileManager.default.contents(atPath: p),
            let keys = try? JSONDecoder().decode([Key].self, from: data), !keys.isEmpty
        else {
            throw LotseError.io("\(p): the key file cannot be read")
        }
        return KeyRing(keys: keys)
    }

    static func newKey(id: UInt8) -> Key {
        let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        return Key(id: id, secret: secret, created: BerlinTime.isoUTC(Int64(Date().timeIntervalSince1970)))
    }

    /// Adds a new signing key; older keys keep verifying. Read, change and write happen under an exclusive
    /// `flock` on `keys.json.lock`, so concurrent rotations (two operators, two processes) never lose a key.
    public static func rotate(dataDir: String) throws -> KeyRing {
        try withFileLock(dataDir: dataDir) {
            let ring = try load(dataDir: dataDir) ?? KeyRing(keys: [newKey(id: 1)])
            guard ring.current.id < 255 else { throw LotseError.io("the key ring is full (255 keys)") }
            let next = KeyRing(keys: ring.keys + [newKey(id: ring.current.id + 1)])
            try next.save(dataDir: dataDir)
            return next
        }
    }

    /// Runs `body` holding an exclusive lock on `keys.json.lock` (mode 0600), across processes and threads.
    static func withFileLock<T>(dataDir: String, _ body: () throws -> T) throws -> T {
        try FileManager.default.createDirectory(
            atPath: dataDir,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let lockPath = path(dataDir: dataDir) + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LotseError.io("\(lockPath): cannot open the key lock file") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw LotseError.io("\(lockPath): cannot lock the key file") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Writes a temporary file (mode 0600, a name of its own per process and thread) and renames it over
    /// `keys.json`: a reader sees the old ring or the new one, never half of one.
    func save(dataDir: String) throws {
        try FileManager.default.createDirectory(
            atPath: dataDir,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let p = KeyRing.path(dataDir: dataDir)
        let data = try JSONEncoder().encode(keys)
        let tmp = p + ".\(getpid()).\(UUID().uuidString.prefix(8)).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LotseError.io("\(p): cannot write the key file") }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == data.count, synced, rename(tmp, p) == 0 else {
            unlink(tmp)
            throw LotseError.io("\(p): cannot write the key file")
        }
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
    let source: KeyRingSource

    /// Tokens of a fixed key ring.
    public init(ring: KeyRing) { source = KeyRingSource(ring: ring, dataDir: nil) }

    /// Tokens of the key ring in `dataDir` (created if missing) that follow the file: `reloadIfChanged()`
    /// picks up a ring that `lotse keys rotate` wrote in another process, without a restart.
    public init(dataDir: String) throws {
        source = KeyRingSource(ring: try KeyRing.loadOrCreate(dataDir: dataDir), dataDir: dataDir)
    }

    /// The key ring in use now.
    public var ring: KeyRing { source.ring }

    /// Reads `keys.json` again if its inode, size or modification time changed since it was last read
    /// (one `stat` otherwise; blocking: call it off the event loop). True when a new ring was loaded.
    @discardableResult
    public func reloadIfChanged() throws -> Bool { try source.reloadIfChanged() }

    public func token(caseID: Int64) -> String {
        precondition(caseID > 0 && caseID <= Int64(UInt32.max))
        let ring = self.ring
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
            bytes[0] == Self.version, let key = ring.mac(bytes[1])
        else { return nil }
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

/// The key ring a `CaseTokens` uses, and what the key file looked like when it was read.
final class KeyRingSource: Sendable {
    struct FileStamp: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var modifiedNanoseconds: Int
    }

    struct State {
        var ring: KeyRing
        var stamp: FileStamp?
    }

    let dataDir: String?
    private let state: Mutex<State>

    init(ring: KeyRing, dataDir: String?) {
        self.dataDir = dataDir
        state = Mutex(State(ring: ring, stamp: dataDir.flatMap { Self.stamp(KeyRing.path(dataDir: $0)) }))
    }

    var ring: KeyRing { state.withLock { $0.ring } }

    static func stamp(_ path: String) -> FileStamp? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileStamp(
            device: UInt64(st.st_dev),
            inode: UInt64(st.st_ino),
            size: Int64(st.st_size),
            modified: Int64(st.st_mtim.tv_sec),
            modifiedNanoseconds: Int(st.st_mtim.tv_nsec)
        )
    }

    func reloadIfChanged() throws -> Bool {
        guard let dataDir else { return false }
        let path = KeyRing.path(dataDir: dataDir)
        let now = Self.stamp(path)
        guard let now, now != state.withLock({ $0.stamp }) else { return false }
        // the file is replaced by rename, so what is read is one whole ring
        guard let ring = try KeyRing.load(dataDir: dataDir) else { return false }
        state.withLock { s in
            // a ring never loses keys: a file with fewer keys than the one in use is not taken
            if ring.keys.count >= s.ring.keys.count { s.ring = ring }
            s.stamp = now
        }
        return true
    }
}
