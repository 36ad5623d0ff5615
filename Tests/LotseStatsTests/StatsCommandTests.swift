import Foundation
import LotseHTTP
import LotseTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `lotse stats` and the server's statistics through the real binary: rebuilding the cells, periods of any
/// length, and the `/metrics` gauges.
@Suite(.serialized) struct StatsCommandTests {
    /// A data directory with the sample pilot: every sample export, the sample bank statement (matched and
    /// unmatched transfers) and a dunning run.
    static func samplePilot() throws -> String {
        let dir = TestSupport.tempDir("lotse-stats-cli")
        let samples = TestSupport.pilotData + "/samples/"
        let imported = try TestSupport.lotse(
            [
                "import", samples + "handheld-HH-07-2026-03-14.csv", samples + "winowig-mde-2026-03-15.xml",
                samples + "xowi-2026-03-16.xml",
            ],
            dataDir: dir
        )
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try TestSupport.lotse(["reconcile", samples + "camt054-2026-03-20.xml"], dataDir: dir).status == 0)
        #expect(try TestSupport.lotse(["dunning", "--as-of", "2026-04-01"], dataDir: dir).status == 0)
        return dir
    }

    static func outputs(_ dir: String) throws -> [String] {
        try ["text", "json", "csv"].map { format in
            let out = try TestSupport.lotse(["stats", "--from", "2026-01-01", "--to", "2026-06-30", "--format", format], dataDir: dir)
            #expect(out.status == 0, "\(out.stderr)")
            return out.stdout
        }
    }

    static func sqlite(_ dir: String, _ sql: String) throws {
        let out = try TestSupport.run("/usr/bin/env", ["sqlite3", dir + "/lotse.sqlite", sql])
        #expect(out.status == 0, "\(out.stderr)")
    }

    @Test func rebuildKeepsTheFiguresAndRepairsACorruptedCell() throws {
        let dir = try Self.samplePilot()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let before = try Self.outputs(dir)
        #expect(before[2].contains("2026-03;"))
        let rebuilt = try TestSupport.lotse(["stats", "--rebuild"], dataDir: dir)
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(rebuilt.stdout.hasPrefix("statistics rebuilt from "))
        #expect(rebuilt.stdout.contains("; none was wrong"), "\(rebuilt.stdout)")
        #expect(try Self.outputs(dir) == before)

        // A cell changed behind Lotse's back: the figures are wrong until the rebuild repairs them.
        try Self.sqlite(dir, "UPDATE stats_cells SET issued = issued + 7, paid = paid + 1 WHERE day = (SELECT min(day) FROM stats_cells)")
        try Self.sqlite(dir, "UPDATE stats_langs SET n = n + 3")
        let corrupted = try Self.outputs(dir)
        #expect(corrupted[2] != before[2])
        let repair = try TestSupport.lotse(["stats", "--rebuild"], dataDir: dir)
        #expect(repair.status == 0, "\(repair.stderr)")
        #expect(repair.stdout.hasSuffix("were wrong and are repaired\n"), "\(repair.stdout)")
        #expect(try Self.outputs(dir) == before)
    }

    /// A period of 1970–9999 answers with the months that have data only (not 96,000 months).
    @Test func anEnormousPeriodListsOnlyTheMonthsWithData() throws {
        let dir = try Self.samplePilot()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try TestSupport.lotse(["stats", "--from", "1970-01-01", "--to", "9999-12-31", "--format", "json"], dataDir: dir)
        #expect(out.status == 0, "\(out.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as! [String: Any]
        let months = (json["months"] as! [[String: Any]]).map { $0["month"] as! String }
        #expect(months == ["2026-03"])
        #expect(json["period"] as? [String: String] == ["from": "1970-01-01", "to": "9999-12-31"])
        let totals = json["totals"] as! [String: Int]
        #expect(totals["issued"]! > 0 && totals["unmatched_bank_payments"]! > 0)
        let csv = try TestSupport.lotse(["stats", "--from", "1970-01-01", "--to", "9999-12-31", "--format", "csv"], dataDir: dir)
        #expect(csv.stdout.split(separator: "\n").count == 3)
        // a period before any data has no months and zero totals
        let empty = try TestSupport.lotse(["stats", "--from", "1970-01-01", "--to", "1999-12-31", "--format", "csv"], dataDir: dir)
        #expect(
            empty.status == 0
                && empty.stdout.split(separator: "\n").map(String.init) == [
                    "month;issued;scanned;handoff_started;paid;paid_online;paid_bank_transfer;paid_other;paid_on_time;reminded;unmatched_bank_payments;"
                        + "reminder_rate;baseline_reminder_rate;difference_to_baseline_pp;baseline_ci95_low_pp;baseline_ci95_high_pp;"
                        + "baseline_significant;control_reminder_rate;difference_to_control_pp;fines_eur;collected_eur;collected_online_eur;"
                        + "collected_bank_transfer_eur;collected_cash_eur;part_payments_eur;outstanding_eur;handed_over_eur",
                    "total;0;0;0;0;0;0;0;0;0;0;;;;;;;;;0.00;0.00;0.00;0.00;0.00;0.00;0.00;0.00",
                ]
        )
    }

    /// The server: `/api/v1/stats` for 1970–9999 answers with the months that have data, and `/healthz` keeps
    /// answering; `/metrics` counts cases by status at most every 30 s instead of scanning every case per scrape.
    @Test func theServerAnswersEnormousPeriodsAndCountsCasesWithoutAScan() throws {
        let dir = try Self.samplePilot()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = TestSupport.freePort()
        let base = "http://127.0.0.1:\(port)"
        let env = [
            "LOTSE_DATA_DIR": dir, "LOTSE_PILOT_DATA": TestSupport.pilotData, "LOTSE_PUBLIC_BASE_URL": base,
            "LOTSE_EVALUATOR_TOKEN": "evaluator-token-13",
        ]
        let log = dir + "/serve.log"
        let server = try TestSupport.startServer(TestSupport.lotse, ["serve", "--port", String(port)], env: env, log: log)
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let http = CurlClient(connectTimeout: 2, timeout: 20)
        func get(_ path: String, _ headers: [(String, String)] = []) throws -> OutboundReply {
            try http.sendBlocking(OutboundRequest(url: base + path, headers: headers))
        }
        let up = TestSupport.waitUntilServing(base)
        #expect(up, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")

        let auth = [("Authorization", "Bearer evaluator-token-13")]
        let api = try get("/api/v1/stats?from=1970-01-01&to=9999-12-31", auth)
        #expect(api.status == 200)
        let json = try JSONSerialization.jsonObject(with: Data(api.body)) as! [String: Any]
        #expect((json["months"] as! [[String: Any]]).map { $0["month"] as! String } == ["2026-03"])
        let csv = try get("/api/v1/stats.csv?from=1970-01-01&to=9999-12-31", auth)
        #expect(csv.status == 200 && csv.text.split(separator: "\n").count == 3)
        let dashboard = try get("/stats?from=1970-01-01&to=9999-12-31", auth)
        #expect(dashboard.status == 200)
        #expect(try get("/healthz").status == 200)

        /// All cases, summed over the statuses of the gauges (nil: no gauge).
        func allCases(_ metrics: String) -> Int? {
            let values = metrics.split(separator: "\n").filter { $0.hasPrefix("lotse_cases{status=") }
                .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }
            return values.isEmpty ? nil : values.reduce(0, +)
        }
        let first = try get("/metrics")
        #expect(first.status == 200)
        let all = allCases(first.text)
        #expect(all != nil, "\(first.text)")
        // Another process adds a case: the gauges count it at once (the stored counts plus the cases not folded yet,
        // no scan of every case) ...
        TestSupport.write(
            dir + "/late.csv",
            "ticket_no;device_id;issued_at;plate;tbnr;street;city\n77;HH-M;2026-03-20T09:00;KL-MM 77;141312;Markt;Kaiserslautern\n"
        )
        #expect(try TestSupport.lotse(["import", dir + "/late.csv"], dataDir: dir).stdout.contains("imported 1"))
        let second = try get("/metrics")
        #expect(allCases(second.text) == all.map { $0 + 1 })
        // ... and so do the statistics, which read the cells.
        let after =
            try JSONSerialization.jsonObject(with: Data(try get("/api/v1/stats?from=2026-03-01&to=2026-03-31", auth).body))
            as! [String: Any]
        let issuedBefore = (json["totals"] as! [String: Any])["issued"] as? Int
        #expect((after["totals"] as! [String: Any])["issued"] as? Int == issuedBefore.map { $0 + 1 })
    }

    /// While another process holds the write lock and new cases wait to be folded, `/api/v1/stats` waits for the
    /// lock off the event loop: `/healthz` on new connections keeps answering at once, and the statistics answer
    /// with the new cases when the lock is released.
    @Test func statisticsWaitingForTheWriteLockDoNotHoldUpTheServer() async throws {
        let dir = try Self.samplePilot()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = TestSupport.freePort()
        let base = "http://127.0.0.1:\(port)"
        let env = [
            "LOTSE_DATA_DIR": dir, "LOTSE_PILOT_DATA": TestSupport.pilotData, "LOTSE_PUBLIC_BASE_URL": base,
            "LOTSE_EVALUATOR_TOKEN": "evaluator-token-13",
        ]
        let server = try TestSupport.startServer(TestSupport.lotse, ["serve", "--port", String(port)], env: env, log: dir + "/serve.log")
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let up = TestSupport.waitUntilServing(base)
        #expect(up)
        // cases the statistics have not folded yet
        TestSupport.write(
            dir + "/late.csv",
            "ticket_no;device_id;issued_at;plate;tbnr;street;city\n78;HH-M;2026-03-21T09:00;KL-MM 78;141312;Markt;Kaiserslautern\n"
        )
        #expect(try TestSupport.lotse(["import", dir + "/late.csv"], dataDir: dir).stdout.contains("imported 1"))
        // another process takes the write lock for 4 s
        let holder = try TestSupport.start(
            "/bin/sh",
            ["-c", "(echo 'BEGIN IMMEDIATE;'; echo 'UPDATE stats_state SET id = id;'; sleep 4; echo 'COMMIT;') | sqlite3 '\(dir)/lotse.sqlite'"]
        )
        usleep(700_000)
        let started = Date()
        async let stats = CurlClient(connectTimeout: 2, timeout: 30).send(
            OutboundRequest(
                url: base + "/api/v1/stats?from=2026-03-01&to=2026-03-31",
                headers: [("Authorization", "Bearer evaluator-token-13")]
            )
        )
        usleep(300_000)
        for _ in 0..<6 {
            let reply = try? await CurlClient(connectTimeout: 1, timeout: 1.5).send(OutboundRequest(url: base + "/healthz"))
            #expect(reply?.status == 200)
        }
        #expect(Date().timeIntervalSince(started) < 3.5, "the health checks answered while the lock was held")
        let reply = try await stats
        #expect(reply.status == 200)
        #expect(Date().timeIntervalSince(started) > 2, "the statistics waited for the lock")
        holder.process.waitUntilExit()
        let json = try JSONSerialization.jsonObject(with: Data(reply.body)) as! [String: Any]
        let totals = json["totals"] as! [String: Any]
        let counted = try TestSupport.run(
            "/usr/bin/env",
            ["sqlite3", dir + "/lotse.sqlite", "SELECT count(*) FROM cases WHERE status != 'cancelled'"]
        )
        #expect(totals["issued"] as? Int == Int(counted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
