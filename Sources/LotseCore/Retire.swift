import Dispatch

/// Lets go of a large value on a background thread: a cache that starts over drops tens of thousands of records at
/// once, and freeing them took milliseconds off an event loop (the p99 of issue 13's benchmark of a million cases).
public func releaseInBackground<T: Sendable>(_ value: T) {
    DispatchQueue.global(qos: .utility).async { withExtendedLifetime(value) {} }
}
