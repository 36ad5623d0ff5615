import Foundation
import Hummingbird
import Logging
import LotseCore
import LotseOffice
import LotseStorage
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The operators' gauges of `/metrics` that the database holds: the jobs' last runs, the office's work lists
/// (unmatched transfers, refunds due), the oldest provider order not finished, the imports, the database's size.
/// Read on the database's threads (indexes and small tables only); the last text is given again when the database
/// cannot be read.
final class OperationsGauges: Sendable {
    let store: Store
    private let last = Mutex<String?>(nil)

    init(store: Store) { self.store = store }

    func text(now: Int64 = Int64(Date().timeIntervalSince1970)) async -> String {
        guard let f = try? await store.operationsFigures() else { return last.withLock { $0 } ?? "" }
        var out = ""
        func gauge(_ name: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for s in samples { out += name + s.labels + " " + s.value + "\n" }
        }
        gauge(
            "lotse_last_run_timestamp_seconds",
            "Unix time of the last successful run of each job.",
            Job.allCases.compactMap { job in f.lastRuns[job].map { ("{task=\"\(job.rawValue)\"}", String($0)) } }
        )
        gauge("lotse_unmatched_payments", "Transfers the office must assign to a case.", [("", String(f.unmatchedPayments))])
        gauge("lotse_refunds_due", "Payments on the refund list.", [("", String(f.refundsDue))])
        gauge(
            "lotse_oldest_open_order_age_seconds",
            "Seconds the oldest provider order approved by the payer but not finished has waited (0: none).",
            [("", String(f.oldestOpenOrderAt.map { max(0, now - $0) } ?? 0))]
        )
        gauge("lotse_imports_total", "Handheld export files (and device API tickets) imported.", [("", String(f.imports))])
        gauge("lotse_imported_tickets_total", "Tickets imported as new cases.", [("", String(f.importedTickets))])
        gauge("lotse_import_rejected_rows_total", "Rows of handheld exports rejected.", [("", String(f.rejectedRows))])
        let size = ["", "-wal"].compactMap { suffix in
            (try? FileManager.default.attributesOfItem(atPath: store.path + suffix))?[.size] as? Int
        }.reduce(0, +)
        gauge("lotse_database_size_bytes", "The database file and its write-ahead log.", [("", String(size))])
        last.withLock { $0 = out }
        return out
    }
}

/// Runs the retention (`LOTSE_RETENTION_DAYS`) once a day inside `lotse serve`: first `initialDelay` after the start
/// (a restart loop does not run it again and again), then every `interval`. A failure is logged and tried the next day.
struct RetentionService: Service {
    let store: Store
    let config: LotseConfig
    let initialDelay: Duration
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await Task.sleep(for: initialDelay)
            while !Task.isCancelled {
                await runOnce()
                try await Task.sleep(for: interval)
            }
        }
    }

    func runOnce() async {
        let now = Int64(Date().timeIntervalSince1970)
        let (store, config) = (store, config)
        do {
            let report = try await NIOThreadPool.singleton.runIfActive {
                try Retention.run(
                    store: store,
                    dataDir: config.dataDir,
                    retentionDays: config.retentionDays,
                    asOf: BerlinTime.local(now).date,
                    now: now,
                    dryRun: false
                )
            }
            logger.info("\(report.line)")
        } catch {
            logger.error("retention failed (tried again tomorrow): \(error)")
        }
    }
}

/// One log line per request the router answers (the case pages answered in the connection's pipeline are counted
/// in the metrics and the event log instead): the request id, the route's pattern (never the path: it may carry a
/// token), the status and the duration. Never a client address, a token, a plate or a name.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(context, request, status: response.status.code, since: start)
            return response
        } catch {
            log(context, request, status: (error as? any HTTPResponseError)?.status.code ?? 500, since: start)
            throw error
        }
    }

    func log(_ context: Context, _ request: Request, status: Int, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.log(
            level: status >= 500 ? .error : .info,
            "request",
            metadata: [
                "method": .string(RequestMetrics.known.contains(request.method) ? request.method.rawValue : "_OTHER"),
                "route": .string(context.endpointPath ?? "unmatched"),
                "status": .stringConvertible(status),
                "duration_ms": .string(String(format: "%.2f", milliseconds)),
            ]
        )
    }
}

/// `LOTSE_LOG_FORMAT=json`: one JSON object per line on standard error: `time` (UTC, ISO 8601 with milliseconds),
/// `level`, `label`, `message`, `request_id` (Hummingbird's per-request id) and every other metadata value as a
/// string field.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data(line.utf8))
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("time", Self.timestamp(Date())), ("level", event.level.rawValue), ("label", label), ("message", "\(event.message)"),
        ]
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var names: Set<String> = ["time", "level", "label", "message"]
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            var name = key == "hb.request.id" ? "request_id" : key.replacingOccurrences(of: ".", with: "_")
            // metadata never overrides the line's own fields (nor another value's)
            while names.contains(name) { name = "meta_" + name }
            names.insert(name)
            fields.append((name, "\(value)"))
        }
        write("{" + fields.map { Self.quoted($0.0) + ":" + Self.quoted($0.1) }.joined(separator: ",") + "}\n")
    }

    /// A JSON string: quotes, backslashes and control characters escaped (a log line stays one line).
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// One format style for every line (a formatter made per line costs more than the line).
    static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func timestamp(_ date: Date) -> String { date.formatted(style) }
}

/// The one logging set-up of a process (`lotse serve` calls it first): text lines or JSON objects, info and above.
public enum LotseLogging {
    public static func bootstrap(_ format: LogFormat) {
        switch format {
        case .json:
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = .info
                return handler
            }
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = .info
                return handler
            }
        }
    }
}
