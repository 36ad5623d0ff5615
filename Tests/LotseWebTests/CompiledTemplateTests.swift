import Foundation
import GRDB
import LotseCore
@_spi(Testing) import LotseStorage
import NIOCore
import Testing

@testable import LotseWeb

/// The case page is rendered from a template compiled ahead of time (`CompiledTemplate`). It must give
/// exactly the bytes swift-mustache gives for the same template and values, whatever the data.
@Suite struct CompiledTemplateTests {
    @Test func compiledCasePageEqualsMustacheForEveryShapeAndHostileData() async throws {
        let csv =
            "ticket_no;device_id;issued_at;plate;plate_country;tbnr;street;place_note;city\n"
            + "666;HH-X;2026-03-14T08:00;<script>alert(1)</script>;F;141312;\"Markt\"\"><img src=x onerror=alert(2)>\";note & 'q' \u{E000}7\u{E001};Kaiserslautern\n"
        let f = try await WebFixture(extraCSV: csv)
        // one case in every state
        try f.store.write { db in
            try db.execute(sql: "UPDATE cases SET status = 'paid', paid_at = 1773500000 WHERE case_number = 'KL-2026-0000002'")
            try db.execute(sql: "UPDATE cases SET status = 'overdue' WHERE case_number = 'KL-2026-0000003'")
            try db.execute(sql: "UPDATE cases SET status = 'reminded' WHERE case_number = 'KL-2026-0000004'")
            try db.execute(sql: "UPDATE cases SET status = 'cancelled' WHERE case_number = 'KL-2026-0000005'")
        }
        let controller = MotoristController(env: f.env)
        let cases = try f.store.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM cases ORDER BY id").map { try CaseQueries.byID(db, $0)! } }
        #expect(cases.count > 20)
        #expect(cases.contains { $0.place.contains("\u{E000}7\u{E001}") })
        var compared = 0
        var shapes = Set<CasePage.Shape>()
        for c in cases {
            for lang in f.env.translations.languages {
                for notice in [nil, "payment_cancelled"] as [String?] {
                    for paypal in [false, true] {
                        var page = controller.casePageValues(
                            c,
                            lang: lang,
                            path: "/T/TOKEN\"<&>'",
                            notice: notice,
                            csrf: "0123456789abcdef0123456789abcdef",
                            token: "tok'en"
                        )
                        page.shape.paypal = paypal
                        let compiled = try CompiledTemplate(
                            library: f.env.templates,
                            template: "case",
                            context: controller.caseContext(page.shape) { CompiledTemplate.marker($0.rawValue) }
                        )
                        let fast = String(buffer: compiled.render(page.values))
                        let reference = f.env.templates.render(controller.caseContext(page.shape) { page[$0] }, withTemplate: "case")
                        #expect(fast == reference, "case \(c.caseNumber) \(page.shape)")
                        #expect(!fast.contains("<script>alert"))
                        // a marker in the data is data: it is not replaced by a slot's value
                        if c.place.contains("\u{E000}") { #expect(fast.contains("\u{E000}7\u{E001}")) }
                        compared += 1
                        shapes.insert(page.shape)
                    }
                }
            }
        }
        #expect(compared == cases.count * f.env.translations.languages.count * 4)
        // paid (receipt), payable with bank details, not payable (cancelled); with and without notice and PayPal
        #expect(shapes.count >= 16)
        #expect(shapes.contains { $0.receipt } && shapes.contains { $0.bank && $0.bic } && shapes.contains { !$0.pay })
    }

    @Test func escapingMatchesMustache() {
        for s in ["", "plain", "<>&\"'", "ä€😀<b>", "a&&b", "\u{01}\u{7F}"] {
            var buffer = ByteBuffer()
            CompiledTemplate.writeEscaped(s, to: &buffer)
            let expected = s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
                .replacingOccurrences(of: "'", with: "&#39;")
            #expect(String(buffer: buffer) == expected)
        }
    }
}
