import Foundation
import GRDB
import LotseCore
import LotseStorage

/// A period as the CLI and the web receive it, with the defaults: from the first case to today.
public struct StatsRequest: Sendable {
    public var from: String?
    public var to: String?

    public init(from: String?, to: String?) { self.from = from; self.to = to }

    public func run(store: Store, config: LotseConfig, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> PilotStats {
        func parse(_ s: String?, _ name: String) throws -> CivilDate? {
            guard let s, !s.isEmpty else { return nil }
            guard let d = CivilDate(iso: s), d.isValid else { throw LotseError.usage("--\(name) '\(s)' is not a date yyyy-mm-dd") }
            return d
        }
        let today = BerlinTime.local(now).date
        let baselinePath = (config.cataloguePath as NSString).deletingLastPathComponent + "/baseline-reminders.csv"
        let baseline = try Baseline.load(baselinePath)
        let f = try parse(from, "from")
        let t = try parse(to, "to") ?? today
        // New cases are folded into the cells first (a short write); the figures come from the cells.
        try store.write { try StatsQuery.fold($0) }
        return try store.read { db in
            let first = try Int64.fetchOne(db, sql: "SELECT min(issued_at) FROM cases")
            let start = f ?? first.map { BerlinTime.local($0).date } ?? today
            guard start <= t else { throw LotseError.usage("--from \(start) is after --to \(t)") }
            return try StatsQuery.run(db, from: start, to: t, asOf: today, graceDays: config.graceDays, baseline: baseline)
        }
    }
}
