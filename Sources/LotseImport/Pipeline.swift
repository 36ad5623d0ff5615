import Foundation
import LotseCore

/// A bounded queue between a producer thread and a consumer: parsing and validation of a CSV
/// export run on one core while the inserts run on the other.
final class BoundedQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private let capacity: Int
    private var closed = false

    init(capacity: Int) { self.capacity = capacity }

    func put(_ e: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !closed { condition.wait() }
        if closed { return false }
        items.append(e)
        condition.broadcast()
        return true
    }

    /// nil when the producer has finished and everything was taken.
    func take() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        if items.isEmpty { return nil }
        let e = items.removeFirst()
        condition.broadcast()
        return e
    }

    /// Ends the stream (producer done) or abandons it (consumer failed).
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// What the parsing thread hands to the writer.
enum ParsedRow: @unchecked Sendable {
    case valid(Ticket)
    case rejected(line: Int, reason: String, raw: String)
    case failed(Error)
}

enum CSVPipeline {
    /// Parses and validates `path` on a background thread; `consume` runs on the calling thread
    /// with batches in file order.
    static func run(path: String, name: String, validator: TicketValidator,
                    consume: ([ParsedRow]) throws -> Void) throws {
        let queue = BoundedQueue<[ParsedRow]>(capacity: 8)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { queue.close(); done.signal() }
            var batch: [ParsedRow] = []
            batch.reserveCapacity(2048)
            do {
                let reader = try ByteReader(path: path)
                var header: CSVFormat.Header?
                try reader.forEachRecord { bytes, line in
                    if bytes.allSatisfy({ $0 == 32 || $0 == 9 }) { return } // blank line
                    let fields = CSVFormat.fields(bytes)
                    guard let h = header else {
                        header = try CSVFormat.header(fields, path: name)
                        return
                    }
                    switch validator.validate(CSVFormat.raw(fields, h)) {
                    case .valid(let t): batch.append(.valid(t))
                    case .rejected(let reason): batch.append(.rejected(line: line, reason: reason, raw: TextDecoding.decode(bytes)))
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
        defer { queue.close(); done.wait() }
        while let batch = queue.take() {
            try consume(batch)
        }
    }
}
