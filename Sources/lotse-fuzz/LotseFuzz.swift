import Foundation
import LotseCore
import LotseFuzzTargets

// Built twice:
// - by `make fuzz` with `--sanitize=fuzzer -Xswiftc -DLOTSE_LIBFUZZER`: libFuzzer's `main` drives
//   `LLVMFuzzerTestOneInput`, the target named by `LOTSE_FUZZ_TARGET`;
// - in the normal build as `lotse-fuzz TARGET FILE...`: runs saved inputs once (a crash to replay).

nonisolated(unsafe) var fuzzContext: FuzzContext?
nonisolated(unsafe) var fuzzTarget: FuzzTarget = .csv

func prepareFuzzing(target name: String) {
    guard let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(
            Data("lotse-fuzz: unknown target \(name) (\(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))\n".utf8)
        )
        exit(2)
    }
    fuzzTarget = target
    do {
        fuzzContext = try FuzzContext(catalogue: LotseConfig.findPilotData("tbnr-parking.csv", environment: ProcessInfo.processInfo.environment))
    } catch {
        FileHandle.standardError.write(Data("lotse-fuzz: \(error)\n".utf8))
        exit(1)
    }
}

func runOne(_ bytes: [UInt8]) {
    do {
        try fuzzContext!.run(fuzzTarget, bytes)
    } catch {
        FileHandle.standardError.write(Data("lotse-fuzz: finding: \(error)\n".utf8))
        abort()
    }
}

#if LOTSE_LIBFUZZER
@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    prepareFuzzing(target: ProcessInfo.processInfo.environment["LOTSE_FUZZ_TARGET"] ?? "csv")
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runOne(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
@main
struct LotseFuzz {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, arguments.count >= 2 else {
            FileHandle.standardError.write(Data("usage: lotse-fuzz TARGET FILE...\n".utf8))
            exit(2)
        }
        prepareFuzzing(target: name)
        for file in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("lotse-fuzz: \(file): cannot read\n".utf8))
                exit(1)
            }
            runOne([UInt8](data))
            print("\(file): ok")
        }
    }
}
#endif
