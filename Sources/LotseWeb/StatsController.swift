import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LotseCore
import LotseStats
import NIOCore

/// The evaluators' dashboard and data: `GET /stats` (with a sign-in form that sets a session cookie),
/// `GET /api/v1/stats`, `GET /api/v1/stats.csv`. Bearer `LOTSE_EVALUATOR_TOKEN` or the session cookie;
/// without a configured token every route answers 401. Counts only; no personal data.
struct StatsController: Sendable {
    let env: WebEnvironment
    let motorist: MotoristController
    static let cookie = "lotse_eval"
    static let sessionSeconds: Int64 = 8 * 3600

    func register(on router: Router<LotseContext>) {
        router.get("/stats") { req, _ in try await dashboard(req) }
        router.post("/stats/login") { req, _ in try await login(req) }
        router.get("/api/v1/stats") { req, _ -> Response in
            guard authorized(req) else { return unauthorized() }
            let s = try stats(req)
            let data = try JSONSerialization.data(withJSONObject: s.jsonObject, options: [.sortedKeys])
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/api/v1/stats.csv") { req, _ -> Response in
            guard authorized(req) else { return unauthorized() }
            let s = try stats(req)
            return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .cacheControl: "no-store",
                                                   .contentDisposition: "attachment; filename=\"lotse-stats-\(s.from)-\(s.to).csv\""],
                            body: .init(byteBuffer: ByteBuffer(string: s.csv())))
        }
    }

    func unauthorized() -> Response {
        Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"lotse-evaluator\"", .contentType: "text/plain"],
                 body: .init(byteBuffer: ByteBuffer(string: "evaluator token required\n")))
    }

    func key(_ token: String) -> SymmetricKey { SymmetricKey(data: SHA256.hash(data: Data(("lotse-evaluator-session|" + token).utf8))) }

    func sessionValue(expires: Int64, token: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(String(expires).utf8), using: key(token))
        return String(expires) + "." + Data(mac).map { String(format: "%02x", $0) }.joined()
    }

    func authorized(_ req: Request) -> Bool {
        guard let token = env.config.evaluatorToken, !token.isEmpty else { return false }
        if OfficeController.bearerMatches(req.headers[.authorization], token) { return true }
        guard let v = req.cookies[Self.cookie]?.value, let dot = v.firstIndex(of: "."), let exp = Int64(v[..<dot]),
              exp > Int64(Date().timeIntervalSince1970) else { return false }
        return ConstantTime.equal(sessionValue(expires: exp, token: token).utf8, v.utf8)
    }

    func stats(_ req: Request) throws -> PilotStats {
        do {
            return try StatsRequest(from: req.uri.queryParameters.get("from"), to: req.uri.queryParameters.get("to"))
                .run(store: env.store, config: env.config)
        } catch let e as LotseError {
            throw HTTPError(.badRequest, message: e.description.replacingOccurrences(of: "--", with: ""))
        }
    }

    func loginPage(_ req: Request, message: String?, status: HTTPResponse.Status) throws -> HTML {
        let (lang, remember) = motorist.language(req)
        let csrf = CSRF.token(req)
        var ctx = motorist.base(lang, path: "/stats")
        ctx["csrf"] = csrf.value
        if let m = message { ctx["message"] = env.translations.text(m, lang) }
        ctx["title"] = env.translations.text("stats_login_title", lang)
        return try motorist.render("login", ctx, lang: lang, remember: remember, status: status, csrf: csrf, noStore: true)
    }

    func login(_ req: Request) async throws -> HTML {
        let form = Form.decode(String(buffer: try await req.body.collect(upTo: 8 * 1024)))
        guard CSRF.verify(req, formValue: form["csrf"]) else { return try loginPage(req, message: "error_form_expired", status: .forbidden) }
        guard let token = env.config.evaluatorToken, !token.isEmpty,
              OfficeController.bearerMatches("Bearer " + (form["token"] ?? ""), token) else {
            return try loginPage(req, message: "stats_login_wrong", status: .unauthorized)
        }
        let exp = Int64(Date().timeIntervalSince1970) + Self.sessionSeconds
        let secure = env.config.publicBaseURL.lowercased().hasPrefix("https://")
        let cookie = Cookie(name: Self.cookie, value: sessionValue(expires: exp, token: token), maxAge: Int(Self.sessionSeconds),
                            path: "/", secure: secure, httpOnly: true, sameSite: .strict)
        return HTML(body: "", status: .seeOther, headers: [.location: "/stats", .setCookie: cookie.description, .cacheControl: "no-store"])
    }

    func dashboard(_ req: Request) async throws -> HTML {
        guard authorized(req) else { return try loginPage(req, message: nil, status: .unauthorized) }
        let s = try stats(req)
        let (lang, remember) = motorist.language(req)
        let t = env.translations
        func tx(_ k: String) -> String { t.text(k, lang) }
        var ctx = motorist.base(lang, path: "/stats")
        ctx["title"] = tx("stats_title")
        ctx["wide"] = true
        ctx["from"] = s.from.description
        ctx["to"] = s.to.description
        ctx["csvURL"] = "/api/v1/stats.csv?from=\(s.from)&to=\(s.to)"
        let words = SentenceWords(notEnough: tx("stats_sentence_not_enough"), rates: tx("stats_sentence_rates"),
                                  cannotJudge: tx("stats_sentence_cannot_judge"), difference: tx("stats_sentence_difference"),
                                  significant: tx("stats_sentence_significant"), notSignificant: tx("stats_sentence_not_significant"),
                                  decimalSeparator: tx("decimal_separator"))
        ctx["sentence"] = s.sentence(s.baseline, against: tx("stats_against_baseline"), words: words)
        ctx["control"] = s.sentence(s.controlGroup, against: tx("stats_against_control"), words: words)
        ctx["chartIssued"] = Charts.issuedAndPaid(s, labels: (tx("stats_issued"), tx("stats_online"), tx("stats_transfer"), tx("stats_other")))
        ctx["chartFunnel"] = Charts.funnel(s, labels: [tx("stats_issued"), tx("stats_scanned"), tx("stats_handoff"), tx("stats_online")])
        ctx["chartReminders"] = Charts.reminders(s, labels: (tx("stats_pilot"), tx("stats_baseline")))
        func pct(_ x: Double?) -> String { words.percent(x) }
        ctx["rates"] = [
            ["name": tx("stats_scanned"), "value": pct(s.rates.scanRate)],
            ["name": tx("stats_online") + " / " + tx("stats_paid"), "value": pct(s.rates.onlineShareOfPaid)],
            ["name": tx("stats_online") + " / " + tx("stats_issued"), "value": pct(s.rates.onlineShareOfIssued)],
            ["name": tx("stats_on_time"), "value": pct(s.rates.onTimeRate)],
            ["name": tx("stats_reminded"), "value": pct(s.rates.reminderRate)],
        ]
        ctx["head"] = [tx("stats_month"), tx("stats_issued"), tx("stats_scanned"), tx("stats_handoff"), tx("stats_paid"), tx("stats_online"),
                       tx("stats_transfer"), tx("stats_other"), tx("stats_on_time"), tx("stats_reminded"), tx("stats_unmatched")]
        ctx["rows"] = (s.months.map { ($0.month, $0.counters) } + [(tx("stats_total"), s.totals)]).map { m, c in
            ["cells": [m] + c.values.map(PilotStats.suppressed)]
        }
        return try motorist.render("stats", ctx, lang: lang, remember: remember, noStore: true)
    }
}
