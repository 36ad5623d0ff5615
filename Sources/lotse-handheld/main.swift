// lotse-handheld: the reference handheld for vendors and for the demo (formats §2b). It holds a device key file,
// issues a ticket offline with its version 2 token, prints the ticket as a 58 mm thermal-printer PNG, appends it
// to the shift's CSV export (formats §1a) and can push it online to `POST /api/v1/tickets`.
import ArgumentParser
import Foundation
import LotseCore

/// Exit status as in `lotse`: 0 success, 1 the work could not be done (or the server refused), 2 usage error.
func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data(("lotse-handheld: " + message + "\n").utf8))
    exit(code)
}

// The key file signs tickets and the export holds plates: what this program creates is its owner's only.
umask(0o077)

do {
    var command = try Handheld.parseAsRoot()
    try command.run()
    exit(0)
} catch let error as LotseError {
    switch error {
    case .usage(let message): fail(message, code: 2)
    case .input(let message), .io(let message): fail(message, code: 1)
    }
} catch let error as ExitCode {
    exit(error.rawValue)
} catch {
    let code = Handheld.exitCode(for: error)
    if code == .success {
        print(Handheld.fullMessage(for: error))
        exit(0)
    }
    // ArgumentParser reports usage errors as 64 (EX_USAGE); the usage status is 2.
    FileHandle.standardError.write(Data((Handheld.fullMessage(for: error) + "\n").utf8))
    exit(code == .validationFailure ? 2 : code.rawValue)
}
