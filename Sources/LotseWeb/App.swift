import Foundation
import Hummingbird
import Logging
import LotseCore
import LotseHTTP
import LotsePayments
import LotseStorage
import LotseTokens
import Metrics
import Mustache
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

/// Everything a request handler needs, built once at start-up.
public struct WebEnvironment: Sendable {
    public let config: LotseConfig
    public let store: Store
    public let tokens: CaseTokens
    public let templates: MustacheLibrary
    public let translations: Translations
    public let recorder: EventRecorder
    /// Case rows for the case page and GiroCode (see `CaseCache`).
    public let caseCache: CaseCache
    public let payee: Payee?
    /// The offence catalogue: what a ticket token's TBNR means before its export is imported (nil: not readable).
    public let catalogue: Catalogue?
    /// The offence texts for readers: cleaned German, and translations beside the catalogue (`offences.LANG.csv`).
    public let offenceTexts: OffenceTexts
    public let publicDir: String
    /// The online payment providers, each a button on the page: PayPal (with its credentials), the city's e-payment
    /// platform (with `LOTSE_XBD_*`); none: online payment is not offered.
    public let providers: [any PaymentProvider]
    /// PayPal, when configured.
    public var paypal: (any PaymentProvider)? { provider("paypal") }
    /// The city's e-payment platform, when configured.
    public var epayment: XBezahldiensteProvider? { provider("xbd") as? XBezahldiensteProvider }
    /// Whether any online payment is offered.
    public var paysOnline: Bool { !providers.isEmpty }
    public let logger: Logger
    /// Whose `X-Forwarded-For` is believed (`LOTSE_TRUSTED_PROXIES`).
    let proxies: TrustedProxies
    /// Failed sign-ins and bearer tokens per client (evaluator, office, metrics).
    let authFailures = FailureThrottle()

    /// Loads templates, translations and keys from `config.resourceRoot` (which holds `templates/` and `public/`).
    /// The executable builds the payment `providers` (none: no online payment) and the `logger` and hands them in.
    public init(config: LotseConfig, store: Store, providers: [any PaymentProvider], logger: Logger = Logger(label: "lotse")) async throws {
        let root = config.resourceRoot
        self.config = config
        self.store = store
        self.providers = providers
        self.logger = logger
        tokens = try CaseTokens(dataDir: config.dataDir)
        do {
            proxies = try TrustedProxies(config.trustedProxies)
        } catch let e as TrustedProxies.InvalidCIDR {
            throw LotseError.usage("LOTSE_TRUSTED_PROXIES: '\(e.text)' is not an address or CIDR")
        }
        do {
            templates = try await MustacheLibrary(directory: root + "/templates")
        } catch {
            throw LotseError.input("\(root)/templates: \(error)")
        }
        translations = try Translations(directory: root + "/templates/i18n")
        recorder = EventRecorder(
            store: store,
            interval: .milliseconds(Int64(config.viewFlushSeconds * 1000)),
            onFailure: { [logger] in logger.error("\($0)") }
        )
        caseCache = try CaseCache(store: store)
        catalogue = try? Catalogue(contentsOf: config.cataloguePath)
        offenceTexts = try OffenceTexts(folder: (config.cataloguePath as NSString).deletingLastPathComponent)
            .cleaning(catalogue?.offences.values.map(\.textDE) ?? [])
        publicDir = root + "/public"
        if let name = config.payeeName, let iban = config.payeeIBAN {
            guard IBAN.isValid(iban) else { throw LotseError.usage("LOTSE_PAYEE_IBAN '\(iban)' is not a valid IBAN") }
            payee = Payee(name: name, iban: iban, bic: config.payeeBIC ?? "")
        } else if config.demo {
            payee = .demo
        } else {
            payee = nil
        }
    }

    /// The provider with `id` (`paypal`, `xbd`), if configured.
    public func provider(_ id: String) -> (any PaymentProvider)? {
        providers.first { $0.id == id }
    }
}

/// Prometheus registry behind swift-metrics, bootstrapped once per process.
public enum LotseMetrics {
    public static let registry: PrometheusCollectorRegistry = {
        let r = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: r))
        return r
    }()
}

/// Builds the web application; shared by `lotse serve` and the tests.
///
/// `caseFastPath`: the case page is answered in the connection's pipeline (`CasePageChannelHandler`);
/// nil sends it through the router like every other page (the tests compare the two).
public func buildApplication(
    environment env: WebEnvironment,
    host: String = "127.0.0.1",
    port: Int = 8080,
    caseFastPath: CaseFastPath? = CaseFastPath(),
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    _ = LotseMetrics.registry
    let log = env.logger
    let router = Router(context: LotseContext.self)
    let security = SecurityHeadersMiddleware<LotseContext>(
        hsts: env.config.publicBaseURL.lowercased().hasPrefix("https://"),
        formTargets: (["https://www.paypal.com", "https://www.sandbox.paypal.com", env.config.paypalAPIBase] + epaymentOrigins(env.config))
            .joined(separator: " ")
    )
    let metrics = RequestMetrics()
    router.add(middleware: security)
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: RequestLogMiddleware())
    let motorist = MotoristController(env: env)
    // inside the metrics and the security headers, outside the files: a path no route and no file has
    router.add(middleware: NotFoundPageMiddleware(motorist: motorist))
    // the stylesheet and logo gzip-compressed for clients that accept it; the files as they are for the others
    router.add(middleware: CompressedAssetsMiddleware<LotseContext>(publicDir: env.publicDir))
    router.add(
        middleware: FileMiddleware(
            env.publicDir,
            // style, logo and favicon: cached a day, then checked against their ETag (which the middleware sets)
            cacheControl: .init([(MediaType(type: .any), [.public, .maxAge(86400)])]),
            searchForIndexHtml: false,
            logger: log
        )
    )
    motorist.register(on: router)
    motorist.registerPayments(on: router)
    motorist.registerStatements(on: router)
    // the legal pages, from the city's files beside the catalogue (pilot-data/pages)
    let pages = LegalPages(
        folder: (env.config.cataloguePath as NSString).deletingLastPathComponent + "/pages",
        values: [
            "city": env.config.cityName, "retention_days": String(env.config.retentionDays),
            "payment_days": String(env.config.paymentDays), "base_url": env.config.publicBaseURL,
        ],
        logger: log
    )
    motorist.registerLegalPages(on: router, pages: pages)
    let printer = env.config.chromiumPath.map { ReportPrinter(chromium: $0, publicDir: env.publicDir) }
    StatsController(env: env, motorist: motorist, printer: printer).register(on: router)
    OfficeController(env: env).register(on: router)
    ConsoleController(env: env).register(on: router)
    TicketController(env: env).register(on: router)
    OperationsController(env: env).register(on: router)
    let casePages = caseFastPath.map { CasePageResponder(motorist: motorist, securityFields: security.fields, metrics: metrics, fastPath: $0) }
    let idle = TimeAmount.nanoseconds(Int64(env.config.idleTimeout * 1e9))
    let read = TimeAmount.nanoseconds(Int64(env.config.readTimeout * 1e9))
    let fields = security.fields
    return Application(
        router: router,
        server: .http1(
            configuration: .init(
                additionalChannelHandlers: [ConnectionGuardHandler(idleTimeout: idle, readTimeout: read, securityFields: fields)]
                    + (casePages.map { [CasePageChannelHandler(responder: $0)] } ?? [])
            )
        ),
        configuration: .init(address: .hostname(host, port: port), serverName: nil),
        services: services(env, log),
        onServerRunning: onServerRunning,
        logger: log
    )
}

/// Where the e-payment platform's pay pages may be: `LOTSE_XBD_PAY_ORIGIN`, else the origin of its base URL.
func epaymentOrigins(_ config: LotseConfig) -> [String] {
    guard let xbd = config.xbd else { return [] }
    return xbd.payOrigins.isEmpty ? [origin(xbd.baseURL)] : xbd.payOrigins
}

/// `scheme://host[:port]` of `url` (a form's redirect target for the Content-Security-Policy).
func origin(_ url: String) -> String {
    guard let c = URLComponents(string: url), let scheme = c.scheme, let host = c.host else { return url }
    return scheme + "://" + host + (c.port.map { ":\($0)" } ?? "")
}

func services(_ env: WebEnvironment, _ log: Logger) -> [any Service] {
    var s: [any Service] = [
        EventRecorderService(recorder: env.recorder),
        CaseCacheService(cache: env.caseCache, interval: .milliseconds(250), logger: log),
        KeyRingService(tokens: env.tokens, interval: .seconds(1), logger: log),
    ]
    for provider in env.providers {
        s.append(PaymentSweepService(provider: provider, interval: env.config.paymentSweepSeconds, age: env.config.paymentSweepAge, logger: log))
    }
    // the console's sessions: expired ones are removed every ten minutes
    s.append(SQLitePersistDriver(store: env.store))
    s.append(RetentionService(store: env.store, config: env.config, initialDelay: .seconds(600), interval: .seconds(86400), logger: log))
    return s
}

/// `/healthz` and `/metrics`.
struct OperationsController: Sendable {
    let env: WebEnvironment

    func register(on router: Router<LotseContext>) {
        let caseGauges = CaseStatusGauges(store: env.store)
        let operationsGauges = OperationsGauges(store: env.store)
        router.get("/healthz") { _, _ -> Response in
            // on a GRDB reader thread: the event loop never waits on SQLite
            let ok = (try? await env.store.isReadable()) == true
            return Response(
                status: ok ? .ok : .serviceUnavailable,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: ok ? "ok\n" : "database unavailable\n"))
            )
        }
        router.get("/metrics") { req, ctx -> Response in
            if let denied = BearerCheck(env: env, realm: "lotse-metrics").deny(
                req,
                ctx,
                token: env.config.metricsToken,
                required: env.config.metricsToken != nil
            ) {
                return denied
            }
            var buffer = LotseMetrics.registry.emitToBuffer()
            // case counts by status: counted off the event loop, at most every 30 s
            buffer += Array(await caseGauges.text().utf8)
            buffer += Array(await operationsGauges.text().utf8)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
    }
}

/// Runs Swift concurrency's jobs on NIO's event loops, so a request handler does not hop from the
/// event-loop thread to the global pool and back (two thread switches per request on 2 cores).
/// Call once, from the main thread, before any task starts; `lotse serve` does.
public func runTasksOnEventLoops() -> Bool {
    NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}
