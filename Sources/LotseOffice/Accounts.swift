import Crypto
import Foundation
import HummingbirdBcrypt
import HummingbirdOTP
import LotseCore
import LotseStorage

/// The rules of the console's accounts: passwords (bcrypt, a minimum length, not a common password), the optional
/// second factor (TOTP, required for admins), and the lock after failed sign-ins.
public struct AccountRules: Sendable {
    public static let minimumLength = 12
    /// bcrypt's cost: 2^12 rounds, about a quarter of a second per hash on a server core.
    public static let bcryptCost: UInt8 = 12
    /// Failed sign-ins in a row before a user is locked, and the first lock (doubled with each further failure).
    public static let lockThreshold = 5
    public static let lockSeconds: Int64 = 60

    /// Lower-cased common passwords (`pilot-data/common-passwords.txt`).
    let common: Set<String>

    public init(commonPasswords path: String) {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        common = Set(text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty })
    }

    /// The common-passwords list next to the catalogue.
    public init(config: LotseConfig) {
        self.init(commonPasswords: (config.cataloguePath as NSString).deletingLastPathComponent + "/common-passwords.txt")
    }

    /// Why `password` may not be used by `user`, in one line; nil when it may.
    public func problem(password: String, user: String) -> String? {
        if password.count < Self.minimumLength { return "the password must have at least \(Self.minimumLength) characters" }
        let lower = password.lowercased()
        if common.contains(lower) { return "the password is on the list of common passwords" }
        // a common password with a few digits or signs around it is just as common
        let core = lower.trimmingCharacters(in: CharacterSet.letters.inverted)
        if !core.isEmpty && common.contains(core) { return "the password is a common password with characters added" }
        if lower.contains(user.lowercased()) { return "the password must not contain the user name" }
        if Set(password).count < 5 { return "the password repeats too few characters" }
        return nil
    }

    public static func isValidName(_ name: String) -> Bool {
        (2...40).contains(name.count)
            && name.unicodeScalars.allSatisfy {
                ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "._-".unicodeScalars.contains($0)
            }
    }

    /// The bcrypt hash of a password (slow on purpose: call it off the event loop).
    public static func hash(_ password: String) -> String { Bcrypt.hash(password, cost: bcryptCost) }

    public static func verify(_ password: String, hash: String) -> Bool { Bcrypt.verify(password, hash: hash) }

    /// A new TOTP secret: 32 random characters of the base32 alphabet (its bytes are the HMAC key).
    public static func newSecret() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var g = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet[Int(g.next() % 32)] })
    }

    /// Whether `code` is the secret's TOTP code now, the step before or the step after (clocks drift).
    public static func verifyCode(_ code: String, secret: String, at date: Date = Date()) -> Bool {
        let digits = code.filter { !$0.isWhitespace }
        guard digits.count == 6, let value = Int(digits) else { return false }
        let totp = TOTP(secret: secret)
        return [-30.0, 0, 30].contains { totp.compute(date: date.addingTimeInterval($0)) == value }
    }

    /// A new API token for scripts (shown once) and the hash that is stored.
    public static func newAPIToken() -> (token: String, hash: String) {
        var g = SystemRandomNumberGenerator()
        let token = "lotse_" + (0..<4).map { _ in String(format: "%016llx", g.next() as UInt64) }.joined()
        return (token, apiTokenHash(token))
    }

    public static func apiTokenHash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The code an authenticator app shows for `secret` at `date` (six digits).
    public static func code(secret: String, at date: Date = Date()) -> String {
        String(format: "%06d", TOTP(secret: secret).compute(date: date))
    }

    /// The `otpauth://` URL an authenticator app takes (as a QR code or typed).
    public static func authenticatorURL(secret: String, user: String, issuer: String) -> String {
        TOTP(secret: secret).createAuthenticatorURL(label: user, issuer: issuer)
    }
}

/// The audit log's chain: each entry's hash is SHA-256 over the previous entry's hash and the entry's fields, so a
/// deleted, altered or inserted entry breaks every hash after it (`lotse audit verify`).
public enum AuditChain {
    public static func hash(_ e: AuditEntry) -> String {
        // fields joined with a separator that cannot occur in them unescaped (\u{1F}, the unit separator, is removed)
        let fields = [e.previousHash, String(e.id), String(e.at), e.user, e.client, e.action, e.target, e.detail]
            .map { $0.replacingOccurrences(of: "\u{1F}", with: "") }
            .joined(separator: "\u{1F}")
        return SHA256.hash(data: Data(fields.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Records an action of `user` (from `client`) on `target` in the audit log.
    @discardableResult
    public static func record(
        _ store: Store,
        user: String,
        client: String,
        action: String,
        target: String = "",
        detail: String = "",
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) async throws -> AuditEntry {
        try await store.appendAudit(at: now, user: user, client: client, action: action, target: target, detail: detail, hash: hash)
    }

    /// The synchronous form, for the CLI (`client` is "cli").
    @discardableResult
    public static func recordNow(
        _ store: Store,
        user: String,
        action: String,
        target: String = "",
        detail: String = "",
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) throws -> AuditEntry {
        try store.appendAuditNow(at: now, user: user, client: "cli", action: action, target: target, detail: detail, hash: hash)
    }

    public struct Break: Sendable, Equatable, CustomStringConvertible {
        public var entry: Int64
        public var problem: String
        public var description: String { "audit log entry \(entry): \(problem)" }
    }

    /// Walks the whole chain: the first entry whose number, link or hash is wrong (nil: intact) and how many were read.
    public static func verify(_ store: Store) throws -> (checked: Int, firstBreak: Break?) {
        var previous = ""
        var expectedID: Int64 = 1
        var checked = 0
        var found: Break?
        try store.eachAuditEntry { e in
            guard found == nil else { return }
            checked += 1
            if e.id != expectedID {
                found = Break(entry: e.id, problem: "entry \(expectedID) is missing (deleted)")
            } else if e.previousHash != previous {
                found = Break(entry: e.id, problem: "does not follow the entry before it")
            } else if hash(e) != e.hash {
                found = Break(entry: e.id, problem: "was altered (its hash does not match its contents)")
            }
            previous = e.hash
            expectedID = e.id + 1
        }
        if found == nil, let head = try store.auditHead(), head.id != expectedID - 1 || head.hash != previous {
            found = Break(entry: head.id, problem: "the newest entry is missing (deleted) or was replaced")
        }
        return (checked, found)
    }
}
