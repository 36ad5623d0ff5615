import LotseCore

/// Stored vocabularies (case status, payment disposition, channel, event kind, order status) are read strictly: a
/// value this version does not know is an error that names the column, never a silent default.
enum Vocabulary {
    static func decode<T: RawRepresentable>(_ raw: String, column: String) throws -> T where T.RawValue == String {
        guard let value = T(rawValue: raw) else {
            throw LotseError.io("database: unknown value '\(raw.prefix(40))' in \(column) (written by a newer Lotse?)")
        }
        return value
    }

    static func decode<T: RawRepresentable>(_ raw: String?, column: String) throws -> T? where T.RawValue == String {
        guard let raw else { return nil }
        return try decode(raw, column: column) as T
    }
}
