import ArgumentParser
import Foundation
import LotseCore
import LotseStorage
import LotseTokens

/// `lotse devices add|list|revoke`: enrols the wardens' handhelds and writes their key files (formats §2b).
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "Enrol handhelds, list them, revoke a lost one.",
        subcommands: [Add.self, List.self, Revoke.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enrol a handheld and write its key file (mode 0600); enrolling a revoked one again gives the next generation."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "The id the handheld writes into its exports (device_id), 1 to 8 letters and digits with separators.")
        var deviceID: String
        @Option(help: "Where to write the key file (default: DATA_DIR/devices/DEVICE_ID-gGENERATION.json).")
        var out: String?

        func run() throws {
            let config = try common.config()
            let compact = CaseNumber.compact(deviceID)
            guard (1...8).contains(compact.count), deviceID.count <= 32, deviceID.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw LotseError.usage("device id '\(deviceID.prefix(40))' must have 1 to 8 letters and digits (separators allowed)")
            }
            let tokens = try common.tokens(config)
            let store = try common.store(config)
            let keyID = Int(tokens.ring.current.id)
            let device = try store.enrollDevice(id: deviceID, keyID: keyID, now: Int64(Date().timeIntervalSince1970))
            guard let derived = tokens.deviceKey(number: UInt16(device.number), generation: UInt8(device.generation), keyID: UInt8(keyID)) else {
                throw LotseError.io("signing key \(keyID) is missing from the key ring")
            }
            let file = DeviceKeyFile(
                deviceID: deviceID,
                number: UInt16(device.number),
                generation: UInt8(device.generation),
                keyID: derived.keyID,
                key: derived.key,
                baseURL: config.publicBaseURL
            )
            let path = out ?? config.dataDir + "/devices/\(compact)-g\(device.generation).json"
            if out == nil {
                try FileManager.default.createDirectory(
                    atPath: config.dataDir + "/devices",
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700]
                )
            }
            try file.write(to: path)
            print("enrolled \(deviceID) as device \(device.number), generation \(device.generation); key file \(path) (keep it secret)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List enrolled handhelds (never their keys).")
        @OptionGroup var common: CommonOptions

        func run() throws {
            let config = try common.config()
            let devices = try common.store(config).devices()
            if devices.isEmpty { print("no devices enrolled") }
            for device in devices {
                let enrolled = BerlinTime.isoUTC(device.enrolledAt)
                let revoked = device.revokedAt.map { ", revoked " + BerlinTime.isoUTC($0) } ?? ""
                print(
                    "\(device.deviceID): device \(device.number), generation \(device.generation), key \(device.keyID), enrolled \(enrolled)\(revoked)"
                )
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a handheld's key: its tickets with a later time are refused; those it printed before stay valid."
        )
        @OptionGroup var common: CommonOptions
        @Argument(help: "The device id as enrolled.")
        var deviceID: String

        func run() throws {
            let config = try common.config()
            let device = try common.store(config).revokeDevice(id: deviceID, now: Int64(Date().timeIntervalSince1970))
            print("revoked \(deviceID) generation \(device.generation); `lotse devices add \(deviceID)` gives it a new key")
        }
    }
}
