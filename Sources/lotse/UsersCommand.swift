import ArgumentParser
import Foundation
import LotseCore
import LotseOffice
import LotseStorage

/// The audit log's name for the command line: `cli:` and the system user running it.
func cliUser() -> String { "cli:" + ProcessInfo.processInfo.userName }

/// Reads the password from standard input (one line; the terminal does not show it when piped).
func passwordFromStdin() throws -> String {
    guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw LotseError.usage("no password on standard input") }
    return line
}

struct UsersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Accounts of the office console and the statistics: add, list, disable, enable, reset, totp.",
        subcommands: [Add.self, List.self, Disable.self, Enable.self, Reset.self, SecondFactor.self, Token.self]
    )

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an API token for a user's scripts (shown once, kept only as its hash), or revoke them all."
        )
        @OptionGroup var common: CommonOptions
        @Argument var name: String
        @Flag(help: "Revoke every API token of the user instead.") var revoke = false

        func run() throws {
            let store = try common.store(common.config())
            if revoke {
                let n = try store.revokeAPITokens(user: name)
                try AuditChain.recordNow(store, user: cliUser(), action: "api_tokens_revoked", target: name, detail: "\(n)")
                print("\(n) API token\(n == 1 ? "" : "s") of \(name) revoked")
                return
            }
            let (token, hash) = AccountRules.newAPIToken()
            guard try store.addAPIToken(user: name, hash: hash, now: Int64(Date().timeIntervalSince1970)) else {
                throw LotseError.input("no user \(name)")
            }
            try AuditChain.recordNow(store, user: cliUser(), action: "api_token_made", target: name)
            print(token)
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user; the password comes on standard input (--password-stdin).")
        @OptionGroup var common: CommonOptions
        @Argument(help: "User name (2 to 40 letters, digits, '.', '_', '-').") var name: String
        @Option(help: "office, evaluator or admin.") var role: String
        @Flag(help: "Read the password from standard input.") var passwordStdin = false
        @Flag(help: "Give the user a second factor (TOTP); admins always get one.") var totp = false

        func run() throws {
            guard let role = Role(rawValue: role) else { throw LotseError.usage("--role must be office, evaluator or admin") }
            guard AccountRules.isValidName(name) else { throw LotseError.usage("user name '\(name)': 2 to 40 letters, digits, '.', '_', '-'") }
            guard passwordStdin else { throw LotseError.usage("give the password on standard input with --password-stdin") }
            let config = try common.config()
            let password = try passwordFromStdin()
            if let problem = AccountRules(config: config).problem(password: password, user: name) { throw LotseError.usage(problem) }
            let store = try common.store(config)
            let secret = totp || role == .admin ? AccountRules.newSecret() : nil
            let now = Int64(Date().timeIntervalSince1970)
            guard try store.addUser(name: name, role: role, passwordHash: AccountRules.hash(password), totpSecret: secret, now: now) else {
                throw LotseError.input("user \(name) exists already")
            }
            try AuditChain.recordNow(store, user: cliUser(), action: "user_added", target: name, detail: "role \(role.rawValue)")
            print("user \(name) added (\(role.rawValue))")
            if let secret { showSecondFactor(secret, user: name, config: config) }
        }
    }

    struct SecondFactor: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "totp",
            abstract:
                "Give a user a new second factor (TOTP), shown once: to a user without one, or in place of a lost phone's; every session of the user ends."
        )
        @OptionGroup var common: CommonOptions
        @Argument var name: String
        @Flag(help: "Take the second factor away instead (not from an admin).") var remove = false

        func run() throws {
            let config = try common.config()
            let store = try common.store(config)
            guard let user = try store.user(name: name) else { throw LotseError.input("no user \(name)") }
            guard !(remove && user.role == .admin) else { throw LotseError.usage("an admin always has a second factor: give a new one instead") }
            let secret = remove ? nil : AccountRules.newSecret()
            guard try store.setSecondFactor(name: name, totpSecret: secret, nowMillis: Int64(Date().timeIntervalSince1970 * 1000)) else {
                throw LotseError.input("no user \(name)")
            }
            try AuditChain.recordNow(store, user: cliUser(), action: remove ? "second_factor_removed" : "second_factor_set", target: name)
            if let secret {
                print("new second factor of \(name); their sessions have ended")
                showSecondFactor(secret, user: name, config: config)
            } else {
                print("second factor of \(name) removed; their sessions have ended")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users.")
        @OptionGroup var common: CommonOptions

        func run() throws {
            let users = try common.store(common.config()).users()
            if users.isEmpty {
                print("no users")
                return
            }
            for u in users {
                let state = u.disabled ? "disabled" : (u.lockedUntil > Int64(Date().timeIntervalSince1970) ? "locked" : "active")
                print("\(u.name)\t\(u.role.rawValue)\t\(state)\t\(u.totpSecret == nil ? "password" : "password+totp")")
            }
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a user: every session of the user ends.")
        @OptionGroup var common: CommonOptions
        @Argument var name: String

        func run() throws {
            let store = try common.store(common.config())
            guard try store.setDisabled(name: name, true, nowMillis: Int64(Date().timeIntervalSince1970 * 1000)) else {
                throw LotseError.input("no user \(name)")
            }
            try AuditChain.recordNow(store, user: cliUser(), action: "user_disabled", target: name)
            print("user \(name) disabled; their sessions have ended")
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled user again.")
        @OptionGroup var common: CommonOptions
        @Argument var name: String

        func run() throws {
            let store = try common.store(common.config())
            guard try store.setDisabled(name: name, false, nowMillis: Int64(Date().timeIntervalSince1970 * 1000)) else {
                throw LotseError.input("no user \(name)")
            }
            try AuditChain.recordNow(store, user: cliUser(), action: "user_enabled", target: name)
            print("user \(name) enabled")
        }
    }

    struct Reset: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a new password (standard input): every session of the user ends.")
        @OptionGroup var common: CommonOptions
        @Argument var name: String
        @Flag(help: "Read the password from standard input.") var passwordStdin = false

        func run() throws {
            guard passwordStdin else { throw LotseError.usage("give the password on standard input with --password-stdin") }
            let config = try common.config()
            let password = try passwordFromStdin()
            if let problem = AccountRules(config: config).problem(password: password, user: name) { throw LotseError.usage(problem) }
            let store = try common.store(config)
            guard try store.setPassword(name: name, passwordHash: AccountRules.hash(password), nowMillis: Int64(Date().timeIntervalSince1970 * 1000))
            else {
                throw LotseError.input("no user \(name)")
            }
            try AuditChain.recordNow(store, user: cliUser(), action: "password_reset", target: name)
            print("password of \(name) set; their sessions have ended")
        }
    }
}

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The audit log of the console: verify its hash chain.",
        subcommands: [Verify.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check that no entry was deleted, altered or inserted (exit 1 if one was).")
        @OptionGroup var common: CommonOptions

        func run() throws {
            let store = try common.store(common.config())
            let (checked, problem) = try AuditChain.verify(store)
            if let problem { throw LotseError.input(problem.description + " (\(checked) entries read)") }
            print("audit log intact: \(checked) entries")
        }
    }
}

/// Shown once: the authenticator app takes the secret as this URL (or as a QR code of it).
private func showSecondFactor(_ secret: String, user: String, config: LotseConfig) {
    print("second factor: add this to an authenticator app now, it is not shown again:")
    print(AccountRules.authenticatorURL(secret: secret, user: user, issuer: "Lotse " + config.cityName))
}
