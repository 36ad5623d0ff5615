import Foundation
import LotseCore
import LotseHTTP
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Testing

/// Issue 18: `LOTSE_LOG_FORMAT=json` writes one JSON object per line, and no line of a whole journey (start page,
/// lookup by plate, case page, PayPal, receipt, a forged webhook, metrics) holds a token, a plate, a client address
/// or a name. `/metrics` carries what operators alert on.
@Suite(.serialized) struct OperationsLogTests {
    @Test func aJourneyLeavesJSONLinesWithoutPersonalDataAndTheMetricsOperatorsNeed() async throws {
        let client = "203.0.113.77"
        let h = try PayPalHarness(cases: 3, env: ["LOTSE_LOG_FORMAT": "json", "LOTSE_TRUSTED_PROXIES": "127.0.0.1/32"])
        defer { h.stop() }
        let b = Browser(h.http)
        func send(_ method: String, _ url: String, form: [String: String]? = nil) async throws -> OutboundReply {
            // every request as from a client behind the city's proxy
            var headers: [(String, String)] = [("X-Forwarded-For", client)]
            if !b.cookies.isEmpty { headers.append(("Cookie", b.cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; "))) }
            var body: [UInt8]?
            if let form {
                headers.append(("Content-Type", "application/x-www-form-urlencoded"))
                body = Array(
                    form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&").utf8
                )
            }
            let r = try await h.http.send(OutboundRequest(method: method, url: url, headers: headers, body: body))
            for line in (r.headers["set-cookie"] ?? "").split(separator: "\n") {
                let kv = line.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
                if kv.count == 2 { b.cookies[String(kv[0]).trimmingCharacters(in: .whitespaces)] = String(kv[1]) }
            }
            return r
        }
        let token = try #require(h.tokens["KL-2026-0000002"])
        #expect(try await send("GET", h.base + "/").status == 200)
        let csrf = try #require(b.cookies["lotse_csrf"])
        let found = try await send("POST", h.base + "/lookup", form: ["csrf": csrf, "case_number": "KL-2026-0000002", "plate": "KL-PP 2"])
        #expect(found.status == 303)
        #expect(try await send("GET", h.base + "/T/\(token)?lang=en").status == 200)
        let pay = try await send("POST", h.base + "/T/\(token)/pay", form: ["csrf": csrf, "lang": "en"])
        let approve = try #require(pay.headers["location"])
        let back = try await h.http.send(OutboundRequest(url: approve + "&sim_action=approve"))
        let done = try await send("GET", try #require(back.headers["location"]))
        #expect(try await send("GET", h.base + (done.headers["location"] ?? "/")).status == 200)
        #expect(try await send("POST", h.base + "/webhooks/paypal", form: ["forged": "yes"]).status == 400)
        #expect(try await send("GET", h.base + "/no/such/page").status == 404)
        let metrics = try await h.http.send(OutboundRequest(url: h.base + "/metrics")).text
        for name in [
            "lotse_last_run_timestamp_seconds{task=\"import\"}", "lotse_unmatched_payments 0", "lotse_refunds_due 0",
            "lotse_oldest_open_order_age_seconds 0", "lotse_imported_tickets_total 3", "lotse_import_rejected_rows_total 0",
            "lotse_database_size_bytes ", "lotse_provider_outcomes_total", "lotse_webhook_rejected_total",
        ] {
            #expect(metrics.contains(name), "\(name)")
        }
        try await Task.sleep(nanoseconds: 1_200_000_000)

        let log = try String(contentsOfFile: h.dir + "/serve.log", encoding: .utf8)
        let lines = log.split(separator: "\n").map(String.init)
        var requests = 0
        for line in lines {
            let object = try #require(try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "not one JSON object: \(line)")
            #expect(object["time"] != nil && object["level"] != nil && object["message"] != nil, "\(line)")
            if object["message"] == "request" {
                requests += 1
                #expect(object["request_id"] != nil && object["route"] != nil && object["status"] != nil && object["duration_ms"] != nil, "\(line)")
            }
        }
        #expect(requests >= 8)
        #expect(lines.contains { $0.contains("\"route\":\"/T/{token}/pay\"") && $0.contains("\"status\":\"303\"") })
        let payer = try h.store().read { try Ledger.payments($0, caseID: 2).first?.payer } ?? ""
        var secrets = [token, token.lowercased(), client, "KL-PP 2", "KLPP2", "KL-PP%202", csrf]
        if !payer.isEmpty { secrets.append(payer) }
        for secret in secrets {
            #expect(!log.contains(secret), "the log holds \(secret)")
        }
    }
}
