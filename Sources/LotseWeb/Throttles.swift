import Foundation
import Synchronization

/// Token buckets by key (a client, a case number), with a bound on the keys held. Eviction never hands a key a
/// fresh budget early: only keys whose bucket is full again are dropped (looked for at most once every 10 seconds
/// while the map is full), and when none can be dropped a new key is refused, as if its bucket were empty, until
/// one can. A flood of new keys then costs the flooders (and new keys for a while), never the budget of a key
/// already held.
final class Budget: Sendable {
    let capacity: Double
    let interval: Double
    let maxKeys: Int
    private struct State {
        var buckets: [String: (tokens: Double, at: Double)] = [:]
        var prunedAt = -Double.infinity
    }
    private let state = Mutex(State())

    init(capacity: Int, per interval: Double, maxKeys: Int = 100_000) {
        self.capacity = Double(capacity)
        self.interval = interval
        self.maxKeys = maxKeys
    }

    /// Takes one token; false when none is left.
    func take(_ key: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        update(key, now: now, take: true)
    }

    /// Whether a token is left, without taking it.
    func hasToken(_ key: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        update(key, now: now, take: false)
    }

    /// The number of keys held (for tests).
    var count: Int { state.withLock { $0.buckets.count } }

    private func update(_ key: String, now: Double, take: Bool) -> Bool {
        state.withLock { s in
            if s.buckets[key] == nil && s.buckets.count >= maxKeys {
                if now - s.prunedAt >= 10 { prune(&s, now: now) }
                // Nothing could go without handing someone a fresh budget: the new key waits.
                if s.buckets.count >= maxKeys { return false }
            }
            var entry = s.buckets[key] ?? (capacity, now)
            entry.tokens = refilled(entry, now: now)
            entry.at = now
            guard entry.tokens >= 1 else {
                s.buckets[key] = entry
                return false
            }
            if take {
                entry.tokens -= 1
                s.buckets[key] = entry
            }
            return true
        }
    }

    private func refilled(_ entry: (tokens: Double, at: Double), now: Double) -> Double {
        min(capacity, entry.tokens + max(0, now - entry.at) * capacity / interval)
    }

    /// Drops the keys whose bucket is full again: forgetting them gives them nothing they would not have.
    private func prune(_ s: inout State, now: Double) {
        s.prunedAt = now
        s.buckets = s.buckets.filter { refilled($0.value, now: now) < capacity }
    }
}

/// Failed sign-ins and bearer tokens per client: after `free` failures each further one doubles the
/// wait before the next attempt is even looked at (1 s, 2 s, 4 s … at most `maxDelay`); a success
/// forgets the client's failures, and so does an hour without one.
final class FailureThrottle: Sendable {
    let free: Int
    let maxDelay: Double
    private struct Entry {
        var failures: Int
        var blockedUntil: Double
        var last: Double
    }
    private let entries = Mutex([String: Entry]())

    init(free: Int = 5, maxDelay: Double = 300) {
        self.free = free
        self.maxDelay = maxDelay
    }

    /// Seconds the client has to wait before it may try again; nil when it may try now.
    func retryAfter(_ client: String, now: Double = Date().timeIntervalSince1970) -> Double? {
        entries.withLock { map in
            guard let e = map[client], e.blockedUntil > now else { return nil }
            return e.blockedUntil - now
        }
    }

    func failed(_ client: String, now: Double = Date().timeIntervalSince1970) {
        entries.withLock { map in
            if map.count > 100_000 { map = map.filter { now - $0.value.last < 3600 } }
            var e = map[client].flatMap { now - $0.last < 3600 ? $0 : nil } ?? Entry(failures: 0, blockedUntil: 0, last: now)
            e.failures += 1
            e.last = now
            if e.failures >= free {
                e.blockedUntil = now + min(maxDelay, pow(2, Double(e.failures - free)))
            }
            map[client] = e
        }
    }

    func succeeded(_ client: String) {
        _ = entries.withLock { $0.removeValue(forKey: client) }
    }
}
