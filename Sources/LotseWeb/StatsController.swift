import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LotseCore
import LotseOffice
import LotseStats
import NIOCore
import Synchronization

/// The evaluators' dashboard and data: `GET /stats`, `GET /api/v1/stats`, `GET /api/v1/stats.csv`. People sign in with
/// their accounts (the console's session, role evaluator or admin); machine clients send `LOTSE_EVALUATOR_TOKEN` or a
/// user's API token as a bearer token. Counts only; no personal data.
struct StatsController: Sendable {
    let env: WebEnvironment
    let motorist: MotoristController
    /// Prints the dashboard as a PDF (nil without headless Chromium: the page offers the browser's print instead).
    let printer: ReportPrinter?

    func register(on router: Router<LotseContext>) {
        // the console's sessions: an evaluator (or admin) signed in with an account reads the statistics
        let signedIn = router.group().add(middleware: ConsoleController.sessions(env))
        signedIn.get("/stats") { req, ctx in try await dashboard(req, ctx) }
        signedIn.post("/stats/logout") { req, ctx in try await logout(req, ctx) }
        signedIn.get("/stats/report.pdf") { req, ctx in try await report(req, ctx) }
        signedIn.get("/api/v1/stats") { req, ctx -> Response in
            if let denied = try await deny(req, ctx) { return denied }
            let s = try await stats(req)
            let data = try JSONSerialization.data(withJSONObject: Self.suppressingSmallCounts(s.jsonObject), options: [.sortedKeys])
            return Response(
                status: .ok,
                headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: data))
            )
        }
        signedIn.get("/api/v1/stats.csv") { req, ctx -> Response in
            if let denied = try await deny(req, ctx) { return denied }
            let s = try await stats(req)
            // German column names when the dashboard that links it is German (`lang=de`); English otherwise
            let lang = req.uri.queryParameters.get("lang").flatMap { env.translations.supports($0) ? $0 : nil } ?? "en"
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/csv; charset=utf-8", .cacheControl: "no-store",
                    .contentDisposition: "attachment; filename=\"lotse-stats-\(s.from)-\(s.to).csv\"",
                ],
                body: .init(byteBuffer: ByteBuffer(string: s.csv(header: csvHeader(lang))))
            )
        }
    }

    /// The CSV's column names in `lang` (`stats_csv_<column>`; the English name where a text is missing).
    func csvHeader(_ lang: String) -> [String] {
        (["month"] + Counters.names + PilotStats.csvRateColumns + PilotStats.csvMoneyColumns).map { column in
            let key = "stats_csv_" + column
            // the language's own name only (German's names are no fallback for another language)
            guard env.translations.ownKeys[lang]?.contains(key) == true else { return column }
            let text = env.translations.text(key, lang)
            return text.isEmpty ? column : text
        }
    }

    /// `2025-11` as `Nov 2025` (`Nov. 2025` in German): the month's name from the translations, cut to three letters.
    func monthLabel(_ key: String, _ lang: String) -> String {
        guard key.count == 7, let year = Int(key.prefix(4)), let month = Int(key.suffix(2)), (1...12).contains(month) else { return key }
        let name = env.translations.text("month_\(month)", lang)
        // German keeps Juni and Juli whole (as German abbreviations do); other languages cut every name to three letters
        let short = lang == "de" ? (name.count > 4 ? String(name.prefix(3)) + "." : name) : String(name.prefix(3))
        return short + " \(year)"
    }

    /// nil when the request may read the statistics (the evaluator's bearer token or a session); else 401, or
    /// 429 while the client is throttled for wrong tokens.
    func deny(_ req: Request, _ context: LotseContext) async throws -> Response? {
        if req.headers[.authorization] == nil, let user = try await ConsoleAccess.liveUser(env, context),
            user.role == .evaluator || user.role == .admin
        {
            return nil
        }
        guard let token = env.config.evaluatorToken, !token.isEmpty else {
            return try await BearerCheck(env: env, realm: "lotse-evaluator").deny(req, context, token: nil, roles: [.evaluator, .admin])
        }
        return try await BearerCheck(env: env, realm: "lotse-evaluator").deny(req, context, token: token, roles: [.evaluator, .admin])
    }

    /// The JSON of `/api/v1/stats` with the rule of the dashboard and the CSV: a count of 1 to 4 is not
    /// given. Such a count is `null`, and the object that holds it lists its key in `"suppressed"`
    /// (counters per month and in total, page languages, payments per channel, group sizes of the comparisons).
    static func suppressingSmallCounts(_ json: [String: Any]) -> [String: Any] {
        func suppress(_ object: [String: Any], keys: Set<String>? = nil) -> [String: Any] {
            var out = object
            var hidden: [String] = []
            for (k, v) in object where keys?.contains(k) ?? true {
                if let n = v as? Int, n > 0, n < 5 {
                    out[k] = NSNull()
                    hidden.append(k)
                }
            }
            if !hidden.isEmpty { out["suppressed"] = hidden.sorted() }
            return out
        }
        var out = json
        if let totals = json["totals"] as? [String: Any] { out["totals"] = suppress(totals) }
        if let months = json["months"] as? [[String: Any]] { out["months"] = months.map { suppress($0) } }
        if let languages = json["languages"] as? [String: Any] { out["languages"] = suppress(languages) }
        if let times = json["time_to_payment"] as? [String: Any] {
            out["time_to_payment"] = times.mapValues { value -> Any in
                guard let t = value as? [String: Any] else { return value }
                var hidden = suppress(t, keys: ["count"])
                // a median or p90 of fewer than 5 payments tells of single payments
                if hidden["suppressed"] != nil {
                    hidden["median_days"] = NSNull()
                    hidden["p90_days"] = NSNull()
                }
                return hidden
            }
        }
        if var comparison = json["comparison"] as? [String: Any] {
            let groupKeys: Set<String> = ["pilot_cases", "reference_cases"]
            if let control = comparison["control_group"] as? [String: Any] {
                comparison["control_group"] = suppress(control, keys: groupKeys)
            }
            out["comparison"] = suppress(comparison, keys: groupKeys)
        }
        return out
    }

    /// The statistics of the request's period, computed off the event loop (GRDB's threads run the SQL).
    func stats(_ req: Request) async throws -> PilotStats {
        do {
            return try await StatsRequest(from: req.uri.queryParameters.get("from"), to: req.uri.queryParameters.get("to"))
                .run(store: env.store, config: env.config)
        } catch let e as LotseError {
            throw HTTPError(.badRequest, message: e.description.replacingOccurrences(of: "--", with: ""))
        }
    }

    func loginPage(_ req: Request, message: String?, status: HTTPResponse.Status) throws -> HTML {
        let (lang, remember) = motorist.language(req, for: .dashboard)
        let csrf = CSRF.token(req)
        var ctx = motorist.base(lang, path: "/stats", part: .dashboard)
        ctx["csrf"] = csrf.value
        if let m = message { ctx["message"] = env.translations.text(m, lang) }
        ctx["title"] = env.translations.text("stats_login_title", lang)
        return try motorist.render("login", ctx, lang: lang, remember: remember, status: status, csrf: csrf, noStore: true)
    }

    var secure: Bool { env.config.publicBaseURL.lowercased().hasPrefix("https://") }

    /// Ends the session (a form with the CSRF value): the cookie is removed, and the session refused from now on
    /// even if a copy of the cookie is sent again.
    func logout(_ req: Request, _ context: LotseContext) async throws -> HTML {
        let form = Form.decode(String(buffer: try await req.body.collect(upTo: 8 * 1024)))
        guard CSRF.verify(req, formValue: form["csrf"]) else { return try loginPage(req, message: "error_form_expired", status: .forbidden) }
        // the account's session (signed in at /office/login) ends
        if let s = context.sessions.session {
            try await AuditChain.record(env.store, user: s.user, client: env.proxies.client(req, context), action: "signed_out")
            context.sessions.clearSession()
        }
        return HTML(body: "", status: .seeOther, headers: [.location: "/stats", .cacheControl: "no-store"])
    }

    /// The dashboard of the same period and language as an A4 PDF (the report for the council). Without a session or
    /// with an invalid period, the page that says so instead.
    func report(_ req: Request, _ context: LotseContext) async throws -> Response {
        let page = try await dashboard(req, context)
        guard page.status == .ok else { return try page.response(from: req, context: context) }
        let (lang, _) = motorist.language(req, for: .dashboard)
        // no Chromium, or it failed: the page says to print from the browser (the same A4 layout)
        func unavailable() throws -> Response {
            try motorist.render(
                "stats",
                messageContext(lang, env.translations.text("stats_pdf_missing", lang)),
                lang: lang,
                remember: false,
                status: .serviceUnavailable,
                noStore: true
            ).response(from: req, context: context)
        }
        guard let printer else { return try unavailable() }
        do {
            let pdf = try await printer.pdf(of: String(buffer: page.body))
            let (from, to) = (req.uri.queryParameters.get("from") ?? "", req.uri.queryParameters.get("to") ?? "")
            let name = "lotse-report" + (from.isEmpty ? "" : "-" + from) + (to.isEmpty ? "" : "-" + to) + ".pdf"
            return Response(
                status: .ok,
                headers: [
                    .contentType: "application/pdf", .cacheControl: "no-store",
                    .contentDisposition: "attachment; filename=\"\(name.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." })\"",
                ],
                body: .init(byteBuffer: ByteBuffer(data: pdf))
            )
        } catch ReportPrinter.Failure.busy {
            return Response(
                status: .serviceUnavailable,
                headers: [.retryAfter: "10", .contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "Reports are being printed; please try again in a few seconds.\n"))
            )
        } catch {
            env.logger.error("the PDF report failed: \(error)")
            return try unavailable()
        }
    }

    /// The dashboard's frame with only a message (no figures).
    func messageContext(_ lang: String, _ message: String) -> [String: Any] {
        var ctx = motorist.base(lang, path: "/stats", part: .dashboard)
        ctx["title"] = env.translations.text("stats_title", lang)
        ctx["wide"] = true
        ctx["periodError"] = message
        return ctx
    }

    func dashboard(_ req: Request, _ context: LotseContext) async throws -> HTML {
        guard try await deny(req, context) == nil else {
            return try loginPage(req, message: nil, status: .unauthorized)
        }
        let (lang, remember) = motorist.language(req, for: .dashboard)
        let t = env.translations
        func tx(_ k: String) -> String { t.text(k, lang) }
        let s: PilotStats
        do {
            s = try await stats(req)
        } catch let error as HTTPError where error.status == .badRequest {
            // an inverted or invalid period: said on the page, in words, with the form to correct it
            var ctx = motorist.base(lang, path: "/stats", part: .dashboard)
            let csrf = CSRF.token(req)
            ctx["csrf"] = csrf.value
            ctx["title"] = tx("stats_title")
            ctx["wide"] = true
            ctx["from"] = req.uri.queryParameters.get("from") ?? ""
            ctx["to"] = req.uri.queryParameters.get("to") ?? ""
            ctx["periodError"] = tx("stats_period_invalid")
            return try motorist.render("stats", ctx, lang: lang, remember: remember, status: .badRequest, csrf: csrf, noStore: true)
        }
        var ctx = motorist.base(lang, path: "/stats", part: .dashboard)
        // the language switch keeps the period
        ctx["otherLanguages"] = t.languages(for: .dashboard).filter { $0 != lang }.map {
            ["code": $0, "name": t.text("language_name", $0), "href": "/stats?from=\(s.from)&to=\(s.to)&lang=\($0)"] as [String: Any]
        }
        let csrf = CSRF.token(req)
        ctx["csrf"] = csrf.value
        ctx["title"] = tx("stats_title")
        ctx["wide"] = true
        ctx["from"] = s.from.description
        ctx["to"] = s.to.description
        // the printed report says when it was made
        ctx["printed"] = t.date(BerlinTime.local(Int64(Date().timeIntervalSince1970)).date, lang)
        ctx["csvURL"] = "/api/v1/stats.csv?from=\(s.from)&to=\(s.to)&lang=\(lang)"
        if printer != nil { ctx["pdfURL"] = "/stats/report.pdf?from=\(s.from)&to=\(s.to)&lang=\(lang)" }
        let words = SentenceWords(
            notEnough: tx("stats_sentence_not_enough"),
            rates: tx("stats_sentence_rates"),
            cannotJudge: tx("stats_sentence_cannot_judge"),
            difference: tx("stats_sentence_difference"),
            significant: tx("stats_sentence_significant"),
            notSignificant: tx("stats_sentence_not_significant"),
            decimalSeparator: tx("decimal_separator")
        )
        ctx["sentence"] = s.sentence(s.baseline, against: tx("stats_against_baseline"), words: words)
        ctx["control"] = s.sentence(s.controlGroup, against: tx("stats_against_control"), words: words)
        ctx["chartIssued"] = Charts.issuedAndPaid(
            s,
            labels: (tx("stats_issued"), tx("stats_online"), tx("stats_transfer"), tx("stats_other")),
            month: { monthLabel($0, lang) }
        )
        ctx["chartFunnel"] = Charts.funnel(s, labels: [tx("stats_issued"), tx("stats_scanned"), tx("stats_handoff"), tx("stats_online")])
        ctx["chartReminders"] = Charts.reminders(
            s,
            labels: (tx("stats_pilot"), tx("stats_baseline"), tx("stats_band"), tx("stats_control")),
            month: { monthLabel($0, lang) }
        )
        func pct(_ x: Double?) -> String { words.percent(x) }
        ctx["rates"] = [
            ["name": tx("stats_scanned"), "value": pct(s.rates.scanRate)],
            ["name": tx("stats_online") + " / " + tx("stats_paid"), "value": pct(s.rates.onlineShareOfPaid)],
            ["name": tx("stats_online") + " / " + tx("stats_issued"), "value": pct(s.rates.onlineShareOfIssued)],
            ["name": tx("stats_on_time"), "value": pct(s.rates.onTimeRate)],
            ["name": tx("stats_reminder_rate"), "value": pct(s.rates.reminderRate), "note": tx("stats_reminder_rate_definition")],
            [
                "name": tx("stats_reminder_rate_all"), "value": pct(s.rates.reminderRateAllTickets),
                "note": tx("stats_reminder_rate_all_definition"),
            ],
        ]
        // time to payment by channel, and the languages the pages were read in (both in the API too)
        ctx["times"] = ["paypal", "epayment", "bank_transfer", "cash"].compactMap { channel -> [String: Any]? in
            guard let time = s.timeToPayment[channel], time.count >= 5 else { return nil }
            return [
                "channel": tx("channel_" + channel), "median": words.number("%.1f", time.medianDays ?? 0),
                "p90": words.number("%.1f", time.p90Days ?? 0), "count": String(time.count),
            ]
        }
        ctx["hasTimes"] = !((ctx["times"] as? [[String: Any]]) ?? []).isEmpty
        ctx["hasLanguages"] = !s.languages.isEmpty
        let read = s.languages.values.reduce(0, +)
        ctx["languageShares"] = s.languages.sorted { $0.value > $1.value }.map { code, n -> [String: Any] in
            let name = t.languages.contains(code) ? t.text("language_name", code) : code
            return ["name": name, "share": n < 5 ? "< 5" : pct(Double(n) / Double(read))]
        }
        ctx["head"] = [
            tx("stats_month"), tx("stats_issued"), tx("stats_scanned"), tx("stats_handoff"), tx("stats_paid"), tx("stats_online"),
            tx("stats_transfer"), tx("stats_other"), tx("stats_on_time"), tx("stats_reminded"), tx("stats_unmatched"),
        ]
        ctx["rows"] = (s.months.map { (monthLabel($0.month, lang), $0.counters) } + [(tx("stats_total"), s.totals)]).map { m, c in
            ["cells": [m] + c.values.map(PilotStats.suppressed)]
        }
        // money in euros: what the fines came to, what was collected (by way of payment), what is still owed
        func euros(_ cents: Int) -> String { Money.display(cents, language: lang) }
        let money = s.moneyTotals
        ctx["moneyHeadline"] = [("{collected}", money.collected), ("{fines}", money.fines), ("{outstanding}", money.outstanding)]
            .reduce(tx("stats_money_headline")) { $0.replacingOccurrences(of: $1.0, with: euros($1.1)) }
        ctx["moneyHead"] = [
            tx("stats_month"), tx("stats_fines"), tx("stats_collected"), tx("stats_online"), tx("stats_transfer"), tx("stats_cash"),
            tx("stats_parts"), tx("stats_outstanding"), tx("stats_handed_over"),
        ]
        ctx["moneyRows"] = (s.money.map { (monthLabel($0.month, lang), $0.money) } + [(tx("stats_total"), money)]).map { m, sums in
            ["cells": [m] + PilotStats.moneyValues(sums).map(euros)]
        }
        return try motorist.render("stats", ctx, lang: lang, remember: remember, csrf: csrf, noStore: true)
    }
}
