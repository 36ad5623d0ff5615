/// A dictionary of at most `capacity` entries that, when full, lets go of the entry inserted longest ago for each new
/// one (first in, first out). The memos of the case page (`CaseCache`, the page values) use it.
///
/// Why not start over when full: on a million cold cases (issue 13's benchmark) a memo of 50,000 filled every two
/// seconds, and dropping it at once freed about two million strings in one go; on the event loop that took the p99
/// to 54–69 ms, and even freed on a background thread it fought the loops for the allocator (p99 25–45 ms). Here each
/// insert frees at most one entry, on the inserting thread, so the cost is the same for every request.
public struct FIFOMap<Key: Hashable, Value> {
    public let capacity: Int
    private var entries: [Key: Value] = [:]
    /// Keys in the order they were inserted, a ring of `capacity` slots; `next` is the oldest once the ring is full.
    /// A key removed by `removeValue` keeps its slot until the ring comes round to it (removing it then does nothing,
    /// or drops the same key inserted again since: an early eviction, never a wrong value).
    private var order: [Key?]
    private var next = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "a FIFOMap holds at least one entry")
        self.capacity = capacity
        entries.reserveCapacity(capacity)
        order = Array(repeating: nil, count: capacity)
    }

    public var count: Int { entries.count }

    public subscript(key: Key) -> Value? { entries[key] }

    /// Inserts or replaces; a new key takes the oldest key's slot (and its entry) when the ring is full.
    public mutating func insert(_ value: Value, for key: Key) {
        if entries.updateValue(value, forKey: key) != nil { return }
        if let oldest = order[next], oldest != key { entries.removeValue(forKey: oldest) }
        order[next] = key
        next = next + 1 == capacity ? 0 : next + 1
    }

    public mutating func removeValue(for key: Key) {
        entries.removeValue(forKey: key)
    }

    public mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        order = Array(repeating: nil, count: capacity)
        next = 0
    }
}

extension FIFOMap: Sendable where Key: Sendable, Value: Sendable {}
