import Foundation
import LotseCore

#if canImport(Glibc)
import Glibc
#endif

/// The shift's CSV export (formats §1a): one row appended per ticket, the header written once when the file is new.
/// The file is locked while a row is appended, so two processes issuing at once do not interleave.
enum ExportFile {
    static func append(_ ticket: Ticket, to path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LotseError.io("\(path): cannot open the export") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw LotseError.io("\(path): cannot lock the export") }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LotseError.io("\(path): cannot read the export") }
        var text = ""
        if info.st_size == 0 {
            text = Ticket.csvHeader
        } else {
            let header = Array(Ticket.csvHeader.utf8)
            var first = [UInt8](repeating: 0, count: header.count)
            let read = pread(fd, &first, first.count, 0)
            guard read == first.count, first == header else {
                throw LotseError.input("\(path): not this handheld's export (its header differs from formats §1a as written here)")
            }
            var last: UInt8 = 0
            guard pread(fd, &last, 1, off_t(info.st_size - 1)) == 1 else { throw LotseError.io("\(path): cannot read the export") }
            if last != UInt8(ascii: "\n") { text = "\n" }
        }
        text += ticket.csvRow
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else { throw LotseError.io("\(path): cannot write the export") }
    }
}
