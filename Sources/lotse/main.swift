import ArgumentParser
import Foundation
import LotseCore
import LotseWeb

/// Exit status per the spec: 0 success, 1 the work could not be done, 2 usage error.
/// Errors are one line on stderr.
func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data(("lotse: " + message + "\n").utf8))
    exit(code)
}

// Everything Lotse creates (database, WAL, keys, rejects, reminders, uploads, QR codes and manifests) is
// its owner's only: plates, payer names, IBANs and capability tokens. Files 0600, directories 0700.
umask(0o077)

// Configuration is read and validated once, before any command: a setting that does not parse is a usage error.
if case .failure(let error) = startupConfiguration { fail(error.description, code: 2) }

// `serve`: request handlers run on the event loops (see runTasksOnEventLoops).
if CommandLine.arguments.dropFirst().first == "serve" { _ = runTasksOnEventLoops() }

do {
    var command = try Lotse.parseAsRoot()
    if let asyncCommand = command as? any AsyncParsableCommand {
        try await runAsync(asyncCommand)
    } else {
        try command.run()
    }
    exit(0)
} catch let e as LotseError {
    switch e {
    case .usage(let m): fail(m, code: 2)
    case .input(let m), .io(let m): fail(m, code: 1)
    }
} catch let e as ConfigError {
    fail(e.description, code: 2)
} catch let e as ExitCode {
    exit(e.rawValue)
} catch {
    let code = Lotse.exitCode(for: error)
    if code == .success {
        print(Lotse.fullMessage(for: error))
        exit(0)
    }
    // ArgumentParser reports usage errors as 64 (EX_USAGE); the spec's usage status is 2.
    FileHandle.standardError.write(Data((Lotse.fullMessage(for: error) + "\n").utf8))
    exit(code == .validationFailure ? 2 : code.rawValue)
}

/// Calls the async `run()` (an existential would pick the synchronous requirement).
func runAsync<C: AsyncParsableCommand>(_ command: C) async throws {
    var c = command
    try await c.run()
}
