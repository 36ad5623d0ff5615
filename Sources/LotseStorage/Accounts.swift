import Foundation
import GRDB
import LotseCore

/// What a user of the console may do.
public enum Role: String, Sendable, Codable, CaseIterable {
    /// The traffic office: cases, imports, bank, dunning, QR codes.
    case office
    /// The evaluators: the statistics.
    case evaluator
    /// Users and everything the office does.
    case admin
}

/// A user of the console, as stored (the password only as its bcrypt hash).
public struct UserRecord: Sendable, Equatable, Codable {
    public var name: String
    public var role: Role
    public var passwordHash: String
    /// Base32 TOTP secret; nil: no second factor.
    public var totpSecret: String?
    public var disabled: Bool
    /// Sessions begun before this time (Unix milliseconds) are over (the password changed, the user was disabled).
    public var sessionsValidAfter: Int64
    public var failedSignIns: Int
    public var lockedUntil: Int64
    public var createdAt: Int64

    init(row: Row) throws {
        name = row["name"]
        role = try Vocabulary.decode(row["role"] as String, column: "users.role")
        passwordHash = row["password_hash"]
        totpSecret = row["totp_secret"]
        disabled = row["disabled"]
        sessionsValidAfter = row["sessions_valid_after"]
        failedSignIns = row["failed_sign_ins"]
        lockedUntil = row["locked_until"]
        createdAt = row["created_at"]
    }
}

/// One line of the audit log: who did what to which case or file, from which client, chained to the line before.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var id: Int64
    public var at: Int64
    public var user: String
    public var client: String
    public var action: String
    /// The case number or file the action was on ("" when none).
    public var target: String
    /// What changed (old and new values, the reason).
    public var detail: String
    public var previousHash: String
    public var hash: String

    public init(
        id: Int64,
        at: Int64,
        user: String,
        client: String,
        action: String,
        target: String,
        detail: String,
        previousHash: String,
        hash: String
    ) {
        self.id = id
        self.at = at
        self.user = user
        self.client = client
        self.action = action
        self.target = target
        self.detail = detail
        self.previousHash = previousHash
        self.hash = hash
    }

    init(row: Row) {
        id = row["id"]
        at = row["at"]
        user = row["user"]
        client = row["client"]
        action = row["action"]
        target = row["target"]
        detail = row["detail"]
        previousHash = row["prev_hash"]
        hash = row["hash"]
    }
}

/// Users, the console's sessions (a key-value store with expiry, for hummingbird-auth's session middleware), and the
/// audit log.
enum Accounts {
    /// Migration v17 (frozen SQL).
    static func migrateV17(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE users (
                    name TEXT PRIMARY KEY,
                    role TEXT NOT NULL CHECK (role = 'office' OR role = 'evaluator' OR role = 'admin'),
                    password_hash TEXT NOT NULL,
                    totp_secret TEXT,
                    disabled INTEGER NOT NULL DEFAULT 0,
                    sessions_valid_after INTEGER NOT NULL DEFAULT 0,
                    failed_sign_ins INTEGER NOT NULL DEFAULT 0,
                    locked_until INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE kv_store (
                    key TEXT PRIMARY KEY,
                    value BLOB NOT NULL,
                    expires_at REAL
                ) WITHOUT ROWID;
                CREATE TABLE audit_log (
                    id INTEGER PRIMARY KEY,
                    at INTEGER NOT NULL,
                    user TEXT NOT NULL,
                    client TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                );
                CREATE INDEX audit_log_target ON audit_log (target);
                -- the newest entry, kept beside the log: the last entry deleted is found too
                CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), last_id INTEGER NOT NULL, last_hash TEXT NOT NULL);
                -- append-only: an entry is never changed or removed through Lotse (a change outside is found by the chain)
                -- per-user API tokens for scripts: only their SHA-256 is kept
                CREATE TABLE api_tokens (
                    hash TEXT PRIMARY KEY,
                    user TEXT NOT NULL REFERENCES users(name),
                    created_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """
        )
    }

    static func user(_ db: Database, name: String) throws -> UserRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM users WHERE name = ?", arguments: [name]).map(UserRecord.init(row:))
    }
}

extension Store {
    // MARK: users

    /// Adds a user; false when the name is taken.
    public func addUser(name: String, role: Role, passwordHash: String, totpSecret: String?, now: Int64) throws -> Bool {
        try pool.write { db in
            guard try Accounts.user(db, name: name) == nil else { return false }
            try db.execute(
                sql: "INSERT INTO users (name, role, password_hash, totp_secret, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [name, role.rawValue, passwordHash, totpSecret, now]
            )
            return true
        }
    }

    public func user(name: String) throws -> UserRecord? {
        try pool.read { try Accounts.user($0, name: name) }
    }

    public func user(name: String) async throws -> UserRecord? {
        try await pool.read { try Accounts.user($0, name: name) }
    }

    public func users() throws -> [UserRecord] {
        try pool.read { try Row.fetchAll($0, sql: "SELECT * FROM users ORDER BY name").map(UserRecord.init(row:)) }
    }

    /// A new password: every session of the user ends (`nowMillis`: Unix milliseconds). False: no such user.
    public func setPassword(name: String, passwordHash: String, nowMillis now: Int64) throws -> Bool {
        try pool.write { db in
            try db.execute(
                sql: """
                    UPDATE users SET password_hash = ?, sessions_valid_after = ?, failed_sign_ins = 0, locked_until = 0 WHERE name = ?
                    """,
                arguments: [passwordHash, now, name]
            )
            return db.changesCount == 1
        }
    }

    /// A new second factor (a TOTP secret; nil: none): every session of the user ends, and so does a lock after wrong
    /// guesses (`nowMillis`: Unix milliseconds). False: no such user.
    public func setSecondFactor(name: String, totpSecret: String?, nowMillis now: Int64) throws -> Bool {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE users SET totp_secret = ?, sessions_valid_after = ?, failed_sign_ins = 0, locked_until = 0 WHERE name = ?",
                arguments: [totpSecret, now, name]
            )
            return db.changesCount == 1
        }
    }

    /// Disables (or enables) a user; disabling ends every session of the user (`nowMillis`: Unix milliseconds). False:
    /// no such user.
    public func setDisabled(name: String, _ disabled: Bool, nowMillis now: Int64) throws -> Bool {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE users SET disabled = ?, sessions_valid_after = CASE WHEN ? THEN ? ELSE sessions_valid_after END WHERE name = ?",
                arguments: [disabled, disabled, now, name]
            )
            return db.changesCount == 1
        }
    }

    /// A failed sign-in of `name`: after `threshold` in a row the user is locked for `lockSeconds`, doubled with each
    /// further failure (at most a day). Returns the time the lock ends (0: not locked).
    public func noteFailedSignIn(name: String, threshold: Int, lockSeconds: Int64, now: Int64) async throws -> Int64 {
        try await pool.write { db in
            guard let u = try Accounts.user(db, name: name) else { return 0 }
            let failures = u.failedSignIns + 1
            var until: Int64 = 0
            if failures >= threshold {
                let doublings = min(failures - threshold, 10)
                until = now + min(lockSeconds << Int64(doublings), 86_400)
            }
            try db.execute(
                sql: "UPDATE users SET failed_sign_ins = ?, locked_until = ? WHERE name = ?",
                arguments: [failures, until, name]
            )
            return until
        }
    }

    public func clearFailedSignIns(name: String) async throws {
        try await pool.write { try $0.execute(sql: "UPDATE users SET failed_sign_ins = 0, locked_until = 0 WHERE name = ?", arguments: [name]) }
    }

    // MARK: API tokens

    /// Stores the hash of a new API token of `user`; false: no such user.
    public func addAPIToken(user: String, hash: String, now: Int64) throws -> Bool {
        try pool.write { db in
            guard try Accounts.user(db, name: user) != nil else { return false }
            try db.execute(sql: "INSERT INTO api_tokens (hash, user, created_at) VALUES (?, ?, ?)", arguments: [hash, user, now])
            return true
        }
    }

    /// Removes every API token of `user`; how many there were.
    public func revokeAPITokens(user: String) throws -> Int {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM api_tokens WHERE user = ?", arguments: [user])
            return db.changesCount
        }
    }

    /// The user an API token (by its hash) belongs to, if the user is enabled.
    public func userOfAPIToken(hash: String) async throws -> UserRecord? {
        try await pool.read { db in
            guard let name = try String.fetchOne(db, sql: "SELECT user FROM api_tokens WHERE hash = ?", arguments: [hash]),
                let user = try Accounts.user(db, name: name), !user.disabled
            else { return nil }
            return user
        }
    }

    // MARK: the sessions' key-value store

    /// Stores `value` under `key` until `expiresAt` (nil: no expiry); `create` fails when the key exists.
    public func keyValueSet(key: String, value: Data, expiresAt: Double?, create: Bool) async throws -> Bool {
        try await pool.write { db in
            if create {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO kv_store (key, value, expires_at) VALUES (?, ?, ?)",
                    arguments: [key, value, expiresAt]
                )
                return db.changesCount == 1
            }
            try db.execute(
                sql: """
                    INSERT INTO kv_store (key, value, expires_at) VALUES (?, ?, ?)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
                    """,
                arguments: [key, value, expiresAt]
            )
            return true
        }
    }

    /// The value under `key` and when it expires; nil when missing or expired at `now`.
    public func keyValueGet(key: String, now: Double) async throws -> (value: Data, expiresAt: Double?)? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT value, expires_at FROM kv_store WHERE key = ?", arguments: [key]) else { return nil }
            let expires: Double? = row["expires_at"]
            if let expires, expires <= now { return nil }
            return (row["value"], expires)
        }
    }

    public func keyValueRemove(key: String) async throws {
        try await pool.write { try $0.execute(sql: "DELETE FROM kv_store WHERE key = ?", arguments: [key]) }
    }

    /// Removes what expired before `now`.
    public func keyValuePurge(now: Double) async throws {
        try await pool.write { try $0.execute(sql: "DELETE FROM kv_store WHERE expires_at IS NOT NULL AND expires_at <= ?", arguments: [now]) }
    }

    // MARK: the audit log

    /// Appends an entry; `hash` computes its hash from the previous entry's hash and the entry (the chain), inside the
    /// write transaction, so two entries written at once still chain.
    @discardableResult
    public func appendAudit(
        at: Int64,
        user: String,
        client: String,
        action: String,
        target: String,
        detail: String,
        hash: @escaping @Sendable (AuditEntry) -> String
    ) async throws -> AuditEntry {
        try await pool.write { db in
            try Self.appendAudit(db, at: at, user: user, client: client, action: action, target: target, detail: detail, hash: hash)
        }
    }

    /// The synchronous form, for the CLI.
    @discardableResult
    public func appendAuditNow(
        at: Int64,
        user: String,
        client: String,
        action: String,
        target: String,
        detail: String,
        hash: @escaping @Sendable (AuditEntry) -> String
    ) throws -> AuditEntry {
        try pool.write { db in
            try Self.appendAudit(db, at: at, user: user, client: client, action: action, target: target, detail: detail, hash: hash)
        }
    }

    static func appendAudit(
        _ db: Database,
        at: Int64,
        user: String,
        client: String,
        action: String,
        target: String,
        detail: String,
        hash: (AuditEntry) -> String
    ) throws -> AuditEntry {
        let last = try Row.fetchOne(db, sql: "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
        let id = (last?["id"] as Int64? ?? 0) + 1
        var entry = AuditEntry(
            id: id,
            at: at,
            user: user,
            client: client,
            action: action,
            target: target,
            detail: detail,
            previousHash: last?["hash"] ?? "",
            hash: ""
        )
        entry.hash = hash(entry)
        try db.execute(
            sql: "INSERT INTO audit_log (id, at, user, client, action, target, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [entry.id, entry.at, entry.user, entry.client, entry.action, entry.target, entry.detail, entry.previousHash, entry.hash]
        )
        try db.execute(
            sql: """
                INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, ?, ?)
                ON CONFLICT (id) DO UPDATE SET last_id = excluded.last_id, last_hash = excluded.last_hash
                """,
            arguments: [entry.id, entry.hash]
        )
        return entry
    }

    /// Audit entries, newest first, filtered by user, action and target (empty: any), at most `limit`.
    public func auditEntries(user: String = "", action: String = "", target: String = "", limit: Int = 500) async throws -> [AuditEntry] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM audit_log WHERE (? = '' OR user = ?) AND (? = '' OR action = ?) AND (? = '' OR target = ?)
                    ORDER BY id DESC LIMIT ?
                    """,
                arguments: [user, user, action, action, target, target, limit]
            ).map(AuditEntry.init(row:))
        }
    }

    /// The newest entry as noted beside the log (nil: no entry was ever written).
    public func auditHead() throws -> (id: Int64, hash: String)? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT last_id, last_hash FROM audit_head WHERE id = 1").map { ($0[0], $0[1]) }
        }
    }

    /// Every audit entry in order, one at a time (for `lotse audit verify`).
    public func eachAuditEntry(_ body: (AuditEntry) throws -> Void) throws {
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT * FROM audit_log ORDER BY id")
            while let row = try rows.next() { try body(AuditEntry(row: row)) }
        }
    }
}
