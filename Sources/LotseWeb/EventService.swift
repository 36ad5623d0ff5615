import Logging
import LotseStorage
import NIOPosix
import ServiceLifecycle

/// Runs `work` every `interval` until graceful shutdown (SIGTERM, SIGINT) or cancellation: the
/// loop of the server's background services.
func repeatUntilShutdown(every interval: Duration, _ work: @escaping @Sendable () async -> Void) async {
    try? await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            await work()
        }
    }
}

/// Runs the event recorder alongside the server; on graceful shutdown it stops and flushes.
struct EventRecorderService: Service {
    let recorder: EventRecorder

    func run() async throws {
        await repeatUntilShutdown(every: recorder.interval) { await recorder.flushOffLoop() }
        await recorder.flushOffLoop()
    }
}

/// Reads the case-change log for the case cache (changes other processes made) every `interval`,
/// on NIO's blocking thread pool.
struct CaseCacheService: Service {
    let cache: CaseCache
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await repeatUntilShutdown(every: interval) { [cache, logger] in
            do {
                _ = try await NIOThreadPool.singleton.runIfActive { try cache.pollChanges() }
            } catch {
                // a read failed: forget everything rather than risk showing an old state
                cache.evict([0])
                logger.error("case cache: could not read the change log: \(error)")
            }
        }
    }
}
