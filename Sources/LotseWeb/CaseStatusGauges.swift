import LotseStorage
import Synchronization

/// The `lotse_cases` gauges of `/metrics` (cases by status). Counting them is a scan of every case, so they are
/// counted at most once per `maxAge` (30 s: a Prometheus scrape interval) and never on an event loop: the count
/// runs on the database's threads, and scrapes in between get the last text.
final class CaseStatusGauges: Sendable {
    struct Counted {
        let text: String
        let at: ContinuousClock.Instant
    }

    let store: Store
    let maxAge: Duration
    private let last = Mutex<Counted?>(nil)

    init(store: Store, maxAge: Duration = .seconds(30)) {
        self.store = store
        self.maxAge = maxAge
    }

    /// The gauges in Prometheus' text format; empty if the database could not be read and nothing was counted yet.
    func text() async -> String {
        let now = ContinuousClock.now
        if let counted = last.withLock({ $0 }), counted.at.duration(to: now) < maxAge { return counted.text }
        guard let counts = try? await store.caseCountsByStatus() else { return last.withLock { $0?.text } ?? "" }
        var text = "# HELP lotse_cases Cases by status (counted at most every \(maxAge.components.seconds) s).\n"
        text += "# TYPE lotse_cases gauge\n"
        for (status, count) in counts.sorted(by: { $0.key < $1.key }) {
            text += "lotse_cases{status=\"\(status)\"} \(count)\n"
        }
        last.withLock { $0 = Counted(text: text, at: now) }
        return text
    }
}
