import ArgumentParser
import Foundation
import LotseCore
import LotseHTTP
import LotsePayments
import LotseStats
import LotseStorage
import LotseTokens

/// One thing `lotse check` found wrong: an error stops `lotse serve` from starting; a warning does not.
struct Finding: Sendable, Equatable, CustomStringConvertible {
    enum Level: String, Sendable { case error, warning }
    var level: Level
    var message: String
    var description: String { "\(level.rawValue): \(message)" }
}

/// The configuration and the data directory, checked before anything is served: keys readable and private,
/// catalogue and baseline parse, payee account valid, a public base URL that a phone can trust, the payment
/// provider reachable with its credentials (`probe`, for `lotse check` only: the server does not wait on the
/// network at start), file modes.
enum SetupCheck {
    static func run(config: LotseConfig, probe: Bool) async -> [Finding] {
        var found: [Finding] = []
        func fault(_ m: String) { found.append(Finding(level: .error, message: m)) }
        func warning(_ m: String) { found.append(Finding(level: .warning, message: m)) }
        let fm = FileManager.default

        // the data directory: there, a directory, writable, private
        var isDirectory: ObjCBool = false
        if !fm.fileExists(atPath: config.dataDir, isDirectory: &isDirectory) {
            warning("\(config.dataDir): the data directory does not exist yet (it is created on first use)")
        } else if !isDirectory.boolValue {
            fault("\(config.dataDir): LOTSE_DATA_DIR is not a directory")
        } else {
            if !fm.isWritableFile(atPath: config.dataDir) { fault("\(config.dataDir): the data directory is not writable") }
            // through a symbolic link (systemd's DynamicUser= makes /var/lib/lotse one) to the directory itself
            if let mode = permissions((config.dataDir as NSString).resolvingSymlinksInPath), mode & 0o077 != 0 {
                warning("\(config.dataDir): the data directory is mode \(octal(mode)); it holds plates and payers: 0700")
            }
            for name in ["lotse.sqlite", "lotse.sqlite-wal"] {
                let path = config.dataDir + "/" + name
                if let mode = permissions(path), mode & 0o077 != 0 { fault("\(path): mode \(octal(mode)); personal data: 0600") }
            }
            let ring = KeyRing.path(dataDir: config.dataDir)
            if fm.fileExists(atPath: ring) {
                do {
                    _ = try KeyRing.load(dataDir: config.dataDir)
                } catch let problem {
                    fault("\(ring): the key ring cannot be read: \(problem)")
                }
                if let mode = permissions(ring), mode & 0o077 != 0 {
                    fault("\(ring): mode \(octal(mode)); whoever reads the key ring can forge codes: 0600")
                }
            } else {
                warning("\(ring): no key ring yet (the first key is made on first use; back it up then)")
            }
        }

        // the database, read only
        for problem in Store.inspect(path: config.databasePath) ?? [] { fault(problem) }

        // the catalogue and the baseline of the statistics
        do {
            let catalogue = try Catalogue(contentsOf: config.cataloguePath)
            if catalogue.offences.isEmpty { fault("\(config.cataloguePath): the offence catalogue is empty") }
        } catch let problem {
            fault("\(config.cataloguePath): the offence catalogue does not parse: \(problem)")
        }
        let baseline = (config.cataloguePath as NSString).deletingLastPathComponent + "/baseline-reminders.csv"
        if !fm.fileExists(atPath: baseline) {
            warning("\(baseline): no baseline; the statistics compare reminders with the control group only")
        } else {
            do {
                if try Baseline.load(baseline).isEmpty { warning("\(baseline): the baseline holds no month") }
            } catch let problem {
                fault("\(baseline): the baseline does not parse: \(problem)")
            }
        }

        // the account on the GiroCode and the transfer details
        switch (config.payeeName, config.payeeIBAN) {
        case (nil, nil):
            if !config.demo { warning("LOTSE_PAYEE_NAME and LOTSE_PAYEE_IBAN are not set: the pages offer no bank transfer") }
        case (.some, .some(let iban)):
            if !IBAN.isValid(IBAN.normalise(iban)) { fault("LOTSE_PAYEE_IBAN is not a valid IBAN (its check digits do not match)") }
        default:
            fault("LOTSE_PAYEE_NAME and LOTSE_PAYEE_IBAN go together: one of them is missing")
        }

        // the base URL printed in every code
        let base = config.publicBaseURL
        if let url = URL(string: base), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() {
            let loopback = host == "localhost" || host == "127.0.0.1" || host == "::1" || host == "[::1]"
            if scheme != "https" && !(scheme == "http" && (loopback || config.demo)) {
                fault("LOTSE_PUBLIC_BASE_URL \(base) must be https in production (phones open it from the street)")
            }
        } else {
            fault("LOTSE_PUBLIC_BASE_URL '\(base)' is not a URL")
        }

        // the payment provider
        if (config.paypalClientID == nil) != (config.paypalClientSecret == nil) {
            fault("LOTSE_PAYPAL_CLIENT_ID and LOTSE_PAYPAL_CLIENT_SECRET go together: one of them is missing")
        } else if config.paypalConfigured {
            if config.paypalWebhookID == nil {
                warning("LOTSE_PAYPAL_WEBHOOK_ID is not set: webhooks are refused; payments are found by the return and the sweep")
            }
            if probe, Store.inspect(path: config.databasePath)?.isEmpty ?? true, let store = try? Store(config: config) {
                do {
                    if let provider = try PayPalProvider.configured(by: config, store: store) {
                        switch await provider.probe() {
                        case .ok: break
                        case .refused(let why): fault("PayPal at \(config.paypalAPIBase) refused the credentials: \(why)")
                        case .unreachable(let why): fault("PayPal at \(config.paypalAPIBase) cannot be reached: \(why)")
                        }
                    }
                } catch let problem {
                    fault("\(problem)")
                }
            }
        } else if config.xbd == nil {
            warning("neither PayPal nor an e-payment platform (LOTSE_XBD_*) is configured: the pages offer no online payment")
        }
        // the city's e-payment platform: does it know this originator and endpoint?
        if let xbd = config.xbd, probe, Store.inspect(path: config.databasePath)?.isEmpty ?? true, let store = try? Store(config: config) {
            do {
                if let provider = try XBezahldiensteProvider.configured(by: config, store: store) {
                    switch await provider.probe() {
                    case .ok: break
                    case .refused(let why): fault("the e-payment platform at \(xbd.baseURL) refused: \(why)")
                    case .unreachable(let why): fault("the e-payment platform at \(xbd.baseURL) cannot be reached: \(why)")
                    }
                }
            } catch let problem {
                fault("\(problem)")
            }
        }
        return found
    }

    static func permissions(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int
    }

    static func octal(_ mode: Int) -> String { "0" + String(mode & 0o777, radix: 8) }
}

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the configuration and the data directory (what is wrong, one line each; exit 1 on an error)."
    )

    @OptionGroup var common: CommonOptions
    @Flag(help: "Do not ask the payment provider (no network).") var offline = false

    func run() async throws {
        let config = try common.config()
        let found = await SetupCheck.run(config: config, probe: !offline)
        for f in found { print(f) }
        let errors = found.filter { $0.level == .error }.count
        print(errors == 0 ? "check: ok (\(found.count) warning\(found.count == 1 ? "" : "s"))" : "check: \(errors) error\(errors == 1 ? "" : "s")")
        if errors > 0 { throw ExitCode(1) }
    }
}
