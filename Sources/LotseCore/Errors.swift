/// Errors that end a command: one line for the user, with file and line where there is one.
public enum LotseError: Error, CustomStringConvertible, Sendable {
    /// Unreadable input, unknown format, malformed file: exit 1.
    case input(String)
    /// I/O or database problem: exit 1.
    case io(String)
    /// Wrong use of a command: exit 2.
    case usage(String)

    public var description: String {
        switch self {
        case .input(let m), .io(let m), .usage(let m): return m
        }
    }
}
