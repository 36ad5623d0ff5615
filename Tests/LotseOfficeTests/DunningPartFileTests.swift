import Foundation
import LotseCore
import LotseImport
import LotseOffice
import LotseStorage
import LotseTestSupport
import Testing

/// A dunning run killed before its commit (`kill -9`) leaves its `.part` list behind; the next run removes it.
@Suite struct DunningPartFileTests {
    /// The id of a process that has ended.
    func deadPID() throws -> Int32 {
        let p = try TestSupport.start("/bin/sh", ["-c", "exit 0"])
        p.process.waitUntilExit()
        return p.process.processIdentifier
    }

    @Test func theNextRunRemovesThePartFilesOfKilledRuns() throws {
        let dir = TestSupport.tempDir("lotse-dunning-part")
        var config = try LotseConfig(environment: [:])
        config.dataDir = dir
        let store = try Store(path: dir + "/lotse.sqlite")
        _ = try Importer(store: store, config: config, catalogue: try Catalogue(contentsOf: TestSupport.cataloguePath))
            .importFile(TestSupport.pilotData + "/samples/handheld-HH-07-2026-03-14.csv")
        let reminders = dir + "/reminders"
        try FileManager.default.createDirectory(atPath: reminders, withIntermediateDirectories: true)
        let dead = try deadPID()
        let live = try TestSupport.start("/bin/sleep", ["30"])
        defer {
            kill(live.process.processIdentifier, SIGKILL)
            live.process.waitUntilExit()
        }
        let orphan = reminders + "/reminders-2026-03-27.csv.\(dead).part"
        let running = reminders + "/reminders-2026-03-27.csv.\(live.process.processIdentifier).part"
        let someoneElses = reminders + "/notes.csv.\(dead).part"
        for path in [orphan, running, someoneElses] { TestSupport.write(path, Dunning.header + "\nKL-2026-0000001;half a line") }

        let day = CivilDate(iso: "2026-03-28")!
        let out = Dunning.defaultOut(dataDir: dir, asOf: day)
        let s = try Dunning.run(store: store, asOf: day, graceDays: 5, at: BerlinTime.utc(date: day, hour: 6, minute: 0), out: out)
        #expect(s.reminded > 0)
        #expect(!FileManager.default.fileExists(atPath: orphan), "the killed run's part file is gone")
        #expect(FileManager.default.fileExists(atPath: running), "a running process's part file stays")
        #expect(FileManager.default.fileExists(atPath: someoneElses), "files that are not reminder lists stay")
        let left = try FileManager.default.contentsOfDirectory(atPath: reminders).sorted()
        #expect(left == ["notes.csv.\(dead).part", "reminders-2026-03-27.csv.\(live.process.processIdentifier).part", "reminders-2026-03-28.csv"])
    }

    @Test func aPartFileOfAGivenOutputIsRemovedToo() throws {
        let dir = TestSupport.tempDir("lotse-dunning-part")
        let store = try Store(path: dir + "/lotse.sqlite")
        let out = dir + "/list.csv"
        let orphan = out + ".\(try deadPID()).part"
        TestSupport.write(orphan, Dunning.header + "\n")
        let day = CivilDate(iso: "2026-03-28")!
        _ = try Dunning.run(store: store, asOf: day, graceDays: 5, at: BerlinTime.utc(date: day, hour: 6, minute: 0), out: out)
        #expect(!FileManager.default.fileExists(atPath: orphan))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".part") }.isEmpty)
    }
}
