import ArgumentParser
import LotseTokens

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage the token signing keys.",
        subcommands: [Rotate.self, List.self]
    )

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a new signing key; older keys keep verifying printed tickets.")
        @OptionGroup var common: CommonOptions
        func run() throws {
            let ring = try KeyRing.rotate(dataDir: common.config().dataDir)
            print("signing key is now \(ring.current.id); \(ring.keys.count) key\(ring.keys.count == 1 ? "" : "s") verify")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List key ids (never the secrets).")
        @OptionGroup var common: CommonOptions
        func run() throws {
            let ring = try KeyRing.loadOrCreate(dataDir: common.config().dataDir)
            for k in ring.keys { print("key \(k.id) created \(k.created)\(k.id == ring.current.id ? " (signing)" : "")") }
        }
    }
}
