import Dispatch
import HTTPTypes
import Hummingbird
import Metrics
import Synchronization

/// Requests and their latency per route, method and status, through swift-metrics (Prometheus on
/// `/metrics`), with the names Hummingbird's `MetricsMiddleware` uses (`hb_requests`,
/// `http_server_request_duration`, `hb_request_errors`).
///
/// Hummingbird's middleware records after the body is written, through a post-write closure; that
/// closure makes the server write head and body in two system calls, and the case page then costs
/// a third more. Here the time is taken when the handler returns its response (the body is already
/// complete for every page Lotse serves), so the response goes out in one write.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: RequestMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let response = try await next(request, context)
            metrics.record(context.endpointPath ?? "Unknown", request.method, response.status.code, start, error: false)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.record(context.endpointPath ?? "NotFound", request.method, status, start, error: true)
            throw error
        }
    }
}

/// The instruments per route, method, status and error flag, created once each. One instance is
/// shared by the middleware and the case page's channel handler (`CasePageChannelHandler`).
final class RequestMetrics: Sendable {
    struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
        /// A thrown error (counted in `hb_request_errors` too) or a response.
        let error: Bool
    }

    struct Instruments: Sendable {
        let requests: Counter
        let duration: Timer
        let errors: Counter?
    }

    private let instruments = Mutex([Key: Instruments]())

    func get(_ key: Key) -> Instruments {
        instruments.withLock { map in
            if let i = map[key] { return i }
            let labels = [
                ("http.route", key.route), ("http.request.method", key.method.rawValue),
                ("http.response.status_code", String(key.status)),
            ]
            let i = Instruments(
                requests: Counter(label: "hb.requests", dimensions: labels),
                duration: Timer(label: "http.server.request.duration", dimensions: labels, preferredDisplayUnit: .seconds),
                errors: key.error
                    ? Counter(
                        label: "hb.request.errors",
                        dimensions: [
                            ("http.route", key.route), ("http.request.method", key.method.rawValue), ("error.type", String(key.status)),
                        ]
                    ) : nil
            )
            map[key] = i
            return i
        }
    }

    /// Methods counted by name; any other (a client may send any token) is `_OTHER`, so that made-up methods
    /// cannot grow the metrics without bound.
    static let known: Set<HTTPRequest.Method> = [.get, .head, .post, .put, .delete, .options, .patch, .connect, .trace]
    static let other = HTTPRequest.Method("_OTHER")!

    /// Counts one request and its time since `start` (`DispatchTime` nanoseconds).
    func record(_ route: String, _ method: HTTPRequest.Method, _ status: Int, _ start: UInt64, error: Bool) {
        let i = get(Key(route: route, method: Self.known.contains(method) ? method : Self.other, status: status, error: error))
        i.requests.increment()
        i.duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
        i.errors?.increment()
    }
}
