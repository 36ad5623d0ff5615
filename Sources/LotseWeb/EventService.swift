import ServiceLifecycle

/// Runs the event recorder alongside the server; on graceful shutdown it stops and flushes.
struct EventRecorderService: Service {
    let recorder: EventRecorder

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            await recorder.run()
        }
        await recorder.flushOffLoop()
    }
}
