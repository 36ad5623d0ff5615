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
        LotseLogging.bootstrap(config.logFormat)
        let logger = Logger(label: "lotse")
        let store = try common.store(config)
        DataDirectory.prepareForServing(dataDir: config.dataDir)
        // the checks of `lotse check` (without asking the payment provider: the start never waits on the network)
        let found = await SetupCheck.run(config: config, probe: false)
        for f in found where f.level == .warning { logger.warning("\(f.message)") }
        let errors = found.filter { $0.level == .error }
        if !errors.isEmpty {
            for f in errors { logger.error("\(f.message)") }
            throw LotseError.input(
                "not started: \(errors.count) error\(errors.count == 1 ? "" : "s") in the configuration or the data directory (see lotse check)"
            )
        }
        var providers: [any PaymentProvider] = []
        if let paypal = try PayPalProvider.configured(by: config, store: store) { providers.append(paypal) }
        if let epayment = try XBezahldiensteProvider.configured(by: config, store: store) { providers.append(epayment) }
        let env = try await WebEnvironment(config: config, store: store, providers: providers, logger: logger)
        let app = buildApplication(environment: env, host: host, port: port) { _ in
            // once the socket listens (`make demo` shows it last)
            // a plain line for a person at a terminal; JSON logs stay JSON only
            if config.logFormat == .text {
                FileHandle.standardOutput.write(Data("Serving on http://\(host):\(port)/ (Ctrl-C stops).\n".utf8))
            }
        }
        try await app.runService()
    }
}
