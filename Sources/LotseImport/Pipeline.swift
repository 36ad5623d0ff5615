import Foundation
import LotseCore

/// What the parsing thread hands to the writer.
/// `@unchecked` only for `Error`, which is not `Sendable`: a row (and the error in it) is made on the parsing thread,
/// handed over once through the `BoundedQueue` and never touched by the parsing thread again.
enum ParsedRow: @unchecked Sendable {
    case valid(Ticket, line: Int)
    case rejected(line: Int, reason: String, raw: String)
    case failed(Error)
}

enum CSVPipeline {
    /// Parses and validates `path` on a background thread; `consume` runs on the calling thread
    /// with batches in file order.
    static func run(
        path: String,
        name: String,
        validator: RecordValidator,
        consume: ([ParsedRow]) throws -> Void
    ) throws {
        let queue = BoundedQueue<[ParsedRow]>(capacity: 8)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer {
                queue.close()
                done.signal()
            }
            var batch: [ParsedRow] = []
            batch.reserveCapacity(2048)
            do {
                let reader = try ByteReader(path: path)
                var header: CSVFormat.Header?
                try reader.forEachRecord { record in
                    let bytes = record.bytes
                    let line = record.line
                    if record.problem == nil && bytes.allSatisfy({ $0 == 32 || $0 == 9 }) { return }  // blank line
                    let row = CSVFormat.fields(bytes)
                    guard let h = header else {
                        if let problem = record.problem.map(CSVFormat.describe) ?? row.problem {
                            throw LotseError.input("\(name):\(line): the header cannot be read: \(problem)")
                        }
                        header = try CSVFormat.header(row.fields, path: name)
                        return
                    }
                    if let problem = record.problem.map(CSVFormat.describe) ?? row.problem {
                        batch.append(.rejected(line: line, reason: problem, raw: CSVFormat.rawText(record)))
                    } else {
                        switch validator.validate(CSVFormat.raw(row.fields, h)) {
                        case .valid(let t): batch.append(.valid(t, line: line))
                        case .rejected(let reason): batch.append(.rejected(line: line, reason: reason, raw: CSVFormat.rawText(record)))
                        }
                    }
                    if batch.count >= 2048 {
                        if !queue.put(batch) { throw CancellationError() }
                        batch.removeAll(keepingCapacity: true)
                    }
                }
                if header == nil { throw LotseError.input("\(name): the file is empty") }
            } catch is CancellationError {
                return
            } catch {
                batch.append(.failed(error))
            }
            if !batch.isEmpty { _ = queue.put(batch) }
        }
        thread.stackSize = 1 << 22
        thread.start()
        defer {
            queue.close()
            done.wait()
        }
        while let batch = queue.take() {
            try consume(batch)
        }
    }
}
