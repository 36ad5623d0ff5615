import ArgumentParser
import Foundation
import Hummingbird
import LotseCore
import LotseWeb

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the web server (case pages, lookup, GiroCode, health, metrics).")

    @OptionGroup var common: CommonOptions
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Port to listen on.") var port: Int = 8080

    func run() async throws {
        let config = try common.config()
        let env = try await WebEnvironment(config: config, store: try common.store(config))
        DataDirectory.prepareForServing(dataDir: config.dataDir)
        let app = buildApplication(environment: env, host: host, port: port)
        try await app.runService()
    }
}
