import Foundation
import LotseHTTP
import LotseTestSupport
import Testing

/// Issue 13: the server never waits on the database. While another process holds the write lock, `/healthz` and
/// case pages (cache misses, read off the event loop) all answer before the lock is released.
@Suite struct StallTests {
    @Test func healthAndCasePagesAnswerWhileAnotherProcessHoldsTheWriteLock() async throws {
        let dir = TestSupport.tempDir("lotse-stall")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = TestSupport.freePort()
        let base = "http://127.0.0.1:\(port)"
        let env = ["LOTSE_DATA_DIR": dir, "LOTSE_PILOT_DATA": TestSupport.pilotData, "LOTSE_PUBLIC_BASE_URL": base]
        let samples = TestSupport.pilotData + "/samples/"
        let imported = try TestSupport.lotse(
            [
                "import", samples + "handheld-HH-07-2026-03-14.csv", samples + "winowig-mde-2026-03-15.xml",
                samples + "xowi-2026-03-16.xml",
            ],
            dataDir: dir,
            env: env
        )
        #expect(imported.status == 0, "\(imported.stderr)")
        let qr = try TestSupport.lotse(["qr", "--new", "--out", dir + "/qr"], dataDir: dir, env: env)
        #expect(qr.status == 0, "\(qr.stderr)")
        let manifest = try String(contentsOfFile: dir + "/qr/manifest.csv", encoding: .utf8)
        let urls = manifest.split(separator: "\n").dropFirst().compactMap { line -> String? in
            let fields = line.split(separator: ";", omittingEmptySubsequences: false)
            return fields.count > 2 ? String(fields[2]) : nil
        }
        #expect(urls.count >= 4)
        let server = try TestSupport.startServer(TestSupport.lotse, ["serve", "--port", String(port)], env: env, log: dir + "/serve.log")
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let up = TestSupport.waitUntilServing(base)
        #expect(up)
        // another process holds the write lock, with a write, for 3 s; just before it commits it writes the time
        let released = dir + "/released"
        let holder = try TestSupport.start(
            "/bin/sh",
            [
                "-c",
                """
                (echo '.timeout 5000'; echo 'BEGIN EXCLUSIVE;'; echo 'UPDATE stats_state SET id = id;'; \
                sleep 3; date +%s.%N > '\(released)'; echo 'COMMIT;') | sqlite3 '\(dir)/lotse.sqlite'
                """,
            ]
        )
        // until a second writer is refused: the lock is held
        var locked = false
        for _ in 0..<100 where !locked {
            let probe = try TestSupport.run("/usr/bin/env", ["sqlite3", dir + "/lotse.sqlite", "BEGIN IMMEDIATE; ROLLBACK;"])
            locked = probe.status != 0
            if !locked { usleep(20_000) }
        }
        #expect(locked, "the other process took the write lock")
        // many concurrent requests: every case page is a cache miss (the server has shown none yet)
        let answers = await withTaskGroup(of: (String, Int?, TimeInterval).self) { group in
            for round in 0..<3 {
                for url in urls.prefix(8) {
                    group.addTask {
                        let r = try? await CurlClient(connectTimeout: 1, timeout: 2.5).send(OutboundRequest(url: url + (round > 0 ? "?lang=en" : "")))
                        return (url, r?.status, Date().timeIntervalSince1970)
                    }
                }
                for _ in 0..<8 {
                    group.addTask {
                        let r = try? await CurlClient(connectTimeout: 1, timeout: 2.5).send(OutboundRequest(url: base + "/healthz"))
                        return ("/healthz", r?.status, Date().timeIntervalSince1970)
                    }
                }
            }
            var all: [(String, Int?, TimeInterval)] = []
            for await a in group { all.append(a) }
            return all
        }
        holder.process.waitUntilExit()
        let releasedAt = try #require(
            Double(
                try String(contentsOfFile: released, encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            )
        )
        #expect(answers.count == 3 * (min(8, urls.count) + 8))
        for (what, status, at) in answers {
            #expect(status == 200, "\(what) answered \(status.map(String.init) ?? "nothing") while the lock was held")
            // answered before the other process let go of the lock: nothing waited for it
            #expect(at < releasedAt, "\(what) waited for the lock (\(at - releasedAt) s after it was released)")
        }
        // the pages were read (and are now in the cache): a second round answers as well
        let again = try await CurlClient(connectTimeout: 1, timeout: 2).send(OutboundRequest(url: urls[0]))
        #expect(again.status == 200)
    }
}
