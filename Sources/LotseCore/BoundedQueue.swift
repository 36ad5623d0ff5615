import Foundation

/// A bounded queue between a producer thread and a consumer: parsing runs on one core while the
/// database work runs on the other (handheld CSV import, bank statements).
/// `@unchecked Sendable`: every read and write of `items` and `closed` happens between `condition.lock()` and
/// `unlock()`; the elements cross threads only through it (the producer hands them over, it keeps none).
public final class BoundedQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private let capacity: Int
    private var closed = false

    public init(capacity: Int) { self.capacity = capacity }

    public func put(_ e: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !closed { condition.wait() }
        if closed { return false }
        items.append(e)
        condition.broadcast()
        return true
    }

    /// nil when the producer has finished and everything was taken.
    public func take() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        if items.isEmpty { return nil }
        let e = items.removeFirst()
        condition.broadcast()
        return e
    }

    /// Ends the stream (producer done) or abandons it (consumer failed).
    public func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
