import ArgumentParser
import Foundation
import LotseCore
import LotseStats
import LotseStorage

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Pilot statistics: per month of issue and in total, with the reminder comparison."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, csv }

    @OptionGroup var common: CommonOptions
    @Option(help: "First day of issue, yyyy-mm-dd (default: the first case).") var from: String?
    @Option(help: "Last day of issue, yyyy-mm-dd (default: today).") var to: String?
    @Option(help: "text, json or csv.") var format: Format = .text
    @Flag(help: "Recompute every statistics cell from the cases (one write transaction), say what was done, then exit.")
    var rebuild = false

    func run() throws {
        let config = try common.config()
        let store = try common.store(config)
        if rebuild {
            let done = try store.rebuildStatistics()
            let repaired =
                switch done.repaired {
                case 0: "none was wrong"
                case 1: "1 was wrong and is repaired"
                default: "\(done.repaired) were wrong and are repaired"
                }
            print(
                "statistics rebuilt from \(done.cases) cases: \(done.cells) cells, \(done.payTimeBuckets) payment-time buckets, "
                    + "\(done.languageCounts) language counts; \(repaired)"
            )
            return
        }
        let stats = try StatsRequest(from: from, to: to).run(store: store, config: config)
        switch format {
        case .text: print(stats.text(), terminator: "")
        case .json: print(try stats.json())
        case .csv: print(stats.csv(), terminator: "")
        }
    }
}
