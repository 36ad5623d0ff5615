import ArgumentParser
import Foundation
import Hummingbird
import Logging
import LotseCore
import LotsePayments
import LotseWeb

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the web server (case pages, lookup, GiroCode, health, metrics)."
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Port to listen on.") var port: Int = 8080

    /// The composition root of the server: configuration, store, logger and payment provider are built here and
    /// handed to the web.
    func run() async throws {
        let config = try common.config()
        let store = try common.store(config)
        var logger = Logger(label: "lotse")
        logger.logLevel = .info
        let provider = try PayPalProvider.configured(by: config, store: store)
        let env = try await WebEnvironment(config: config, store: store, provider: provider, logger: logger)
        DataDirectory.prepareForServing(dataDir: config.dataDir)
        let app = buildApplication(environment: env, host: host, port: port)
        try await app.runService()
    }
}
