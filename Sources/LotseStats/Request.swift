import Foundation
import LotseCore
import LotseStorage

/// A period as the CLI and the web receive it, with the defaults: from the first case to today.
public struct StatsRequest: Sendable {
    public var from: String?
    public var to: String?

    public init(from: String?, to: String?) {
        self.from = from
        self.to = to
    }

    /// The period and the settings of one request, checked.
    struct Plan {
        var from: CivilDate?
        var to: CivilDate
        var matureBefore: CivilDate
        var baseline: [String: Group]
    }

    func plan(config: LotseConfig, now: Int64) throws -> Plan {
        func parse(_ s: String?, _ name: String) throws -> CivilDate? {
            guard let s, !s.isEmpty else { return nil }
            guard let d = CivilDate(iso: s), d.isValid else { throw LotseError.usage("--\(name) '\(s)' is not a date yyyy-mm-dd") }
            return d
        }
        let today = BerlinTime.local(now).date
        let baselinePath = (config.cataloguePath as NSString).deletingLastPathComponent + "/baseline-reminders.csv"
        let baseline = try Baseline.load(baselinePath)
        let from = try parse(from, "from")
        let to = try parse(to, "to") ?? today
        if let from, from > to { throw LotseError.usage("--from \(from) is after --to \(to)") }
        return Plan(from: from, to: to, matureBefore: today.adding(days: -config.graceDays), baseline: baseline)
    }

    static func finish(_ reading: StatisticsReading, _ plan: Plan) throws -> PilotStats {
        guard reading.from <= reading.to else { throw LotseError.usage("--from \(reading.from) is after --to \(reading.to)") }
        return StatsQuery.run(reading, baseline: plan.baseline)
    }

    /// For the CLI: new cases are folded into the cells first (a short write); the figures come from the cells.
    public func run(store: Store, config: LotseConfig, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> PilotStats {
        let plan = try plan(config: config, now: now)
        let reading = try store.statistics(from: plan.from, to: plan.to, matureBefore: plan.matureBefore)
        return try Self.finish(reading, plan)
    }

    /// For the server: the same, with SQLite on the database's own threads (never on an event loop).
    public func run(store: Store, config: LotseConfig, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> PilotStats {
        let plan = try plan(config: config, now: now)
        let reading = try await store.statistics(from: plan.from, to: plan.to, matureBefore: plan.matureBefore)
        return try Self.finish(reading, plan)
    }
}
