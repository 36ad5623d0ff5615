import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import LotseCore
@_spi(Testing) import LotseStorage
import LotseTestSupport
import Synchronization
import Testing

@testable import LotseWeb

/// Issue 18: a case whose data the retention erased says it is closed and shows nothing of its record; the server
/// runs the retention by itself.
@Suite struct RetentionPageTests {
    @Test func anErasedCaseSaysItIsClosedAndShowsNothing() async throws {
        let f = try await WebFixture()
        let c = try #require(try f.store.allCases().first { $0.plate == "KL-XY 45" })
        _ = try f.store.write { db in
            try Ledger.record(
                db,
                IncomingPayment(channel: .cash, amountCents: c.amountCents, paidAt: c.issuedAt + 3600, source: "test", dedupKey: "erase-me"),
                caseID: c.id
            )
        }
        let erased = try f.store.eraseClosedCases(closedBefore: c.issuedAt + 7200, now: c.issuedAt + 8000, dryRun: false)
        #expect(erased.cases == 1)
        let token = f.env.tokens.token(caseID: c.id)
        try await f.test { (client: any TestClientProtocol) async throws in
            for lang in ["de", "en"] {
                let page = try await client.execute(uri: "/T/\(token)?lang=\(lang)", method: .get)
                #expect(page.status == .ok)
                #expect(page.text.contains(c.caseNumber))
                #expect(page.text.contains(lang == "de" ? "Aufbewahrungsfrist gelöscht" : "retention period ended"))
                for shown in ["KL-XY", "Schillerplatz", c.offenceText, "IBAN", "method=\"post\""] {
                    #expect(!page.text.contains(shown), "\(lang): \(shown)")
                }
            }
        }
    }

    @Test func theServerRunsTheRetentionByItself() async throws {
        let f = try await WebFixture()
        var config = f.config
        config.retentionDays = 1
        let c = try #require(try f.store.allCases().first)
        try f.store.write { try Ledger.cancel($0, caseID: c.id, reason: "test", at: c.issuedAt) }
        let service = RetentionService(
            store: f.store,
            config: config,
            initialDelay: .milliseconds(10),
            interval: .seconds(3600),
            logger: Logger(label: "test")
        )
        let task = Task { try await service.run() }
        var erasedAt: Int64?
        for _ in 0..<100 where erasedAt == nil {
            try await Task.sleep(nanoseconds: 20_000_000)
            erasedAt = try await f.store.caseRecord(id: c.id)?.erasedAt
        }
        task.cancel()
        #expect(erasedAt != nil)
        #expect(try await f.store.operationsFigures().lastRuns[.retention] != nil)
    }
}

/// Issue 18: every line of `LOTSE_LOG_FORMAT=json` is one JSON object whose own fields metadata cannot override.
@Suite struct JSONLogTests {
    @Test func everyLineIsOneObjectAndMetadataCannotPoseAsTheLevel() throws {
        let lines = LineSink()
        var handler = JSONLogHandler(label: "lotse", write: { lines.add($0) })
        handler.logLevel = .info
        let logger = Logger(label: "lotse", factory: { _ in handler })
        logger.warning(
            "a \"quoted\" message\nover two lines \u{2028} and \u{7F}",
            metadata: ["level": "debug", "message": "forged", "hb.request.id": "abc", "route": "/T/{token}"]
        )
        let text = lines.all.joined()
        #expect(text.split(separator: "\n").count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
        #expect(object["level"] == "warning" && object["message"]?.hasPrefix("a \"quoted\" message\nover two lines") == true)
        #expect(object["meta_level"] == "debug" && object["meta_message"] == "forged")
        #expect(object["request_id"] == "abc" && object["route"] == "/T/{token}" && object["time"]?.hasSuffix("Z") == true)
    }
}

final class LineSink: Sendable {
    private let lines = Mutex([String]())
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}
