import ArgumentParser
import Foundation
import LotseCore
import LotseStorage
import LotseTokens

struct Lotse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lotse",
        abstract: "Pay parking fines by QR code: import tickets, print codes, serve the pages, reconcile, dun.",
        subcommands: [
            ServeCommand.self, ImportCommand.self, QRCommand.self, CaseCommand.self, ReconcileCommand.self, PaymentsCommand.self, StatsCommand.self,
            DunningCommand.self, KeysCommand.self, DevicesCommand.self, DemoCommand.self, RetentionCommand.self, HandoverCommand.self,
            BackupCommand.self, RestoreCommand.self, CheckCommand.self, UsersCommand.self, AuditCommand.self,
        ]
    )
}

/// The configuration, read from the process's environment once; `main.swift` reads it before any command runs and
/// ends with status 2 when a setting is not valid.
let startupConfiguration = Result { () throws(ConfigError) in try LotseConfig(environment: ProcessInfo.processInfo.environment) }

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Data directory (LOTSE_DATA_DIR, default ./lotse-data).")
    var dataDir: String?

    /// The start-up configuration with `--data-dir` applied.
    func config() throws(ConfigError) -> LotseConfig {
        var c = try startupConfiguration.get()
        if let d = dataDir { c.dataDir = d }
        return c
    }

    func store(_ c: LotseConfig) throws -> Store {
        try FileManager.default.createDirectory(atPath: c.dataDir, withIntermediateDirectories: true)
        return try Store(config: c)
    }

    func catalogue(_ c: LotseConfig) throws -> Catalogue {
        try Catalogue(contentsOf: c.cataloguePath)
    }

    func tokens(_ c: LotseConfig) throws -> CaseTokens {
        CaseTokens(ring: try KeyRing.loadOrCreate(dataDir: c.dataDir))
    }
}
