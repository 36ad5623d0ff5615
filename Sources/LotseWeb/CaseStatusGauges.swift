import LotseCore
import LotseStorage
import Synchronization

/// The `lotse_cases` gauges of `/metrics` (cases by status). The storage keeps the counts (`stats_status`, a
/// handful of rows plus the cases not folded yet), so every scrape reads them, on the database's threads, never
/// on an event loop; when the database cannot be read, the last text is given again.
final class CaseStatusGauges: Sendable {
    let store: Store
    private let last = Mutex<String?>(nil)

    init(store: Store) {
        self.store = store
    }

    /// The gauges in Prometheus' text format; empty if the database could not be read and nothing was counted yet.
    func text() async -> String {
        guard let counts = try? await store.caseCountsByStatus() else { return last.withLock { $0 } ?? "" }
        var text = "# HELP lotse_cases Cases by status.\n"
        text += "# TYPE lotse_cases gauge\n"
        for status in CaseStatus.allCases.sorted(by: { $0.rawValue < $1.rawValue }) {
            text += "lotse_cases{status=\"\(status.rawValue)\"} \(counts[status] ?? 0)\n"
        }
        last.withLock { $0 = text }
        return text
    }
}
