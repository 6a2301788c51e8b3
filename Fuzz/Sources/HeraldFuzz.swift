// The libFuzzer harness: one program, five targets, chosen by `HERALD_FUZZ_TARGET`.
//
// Built by scripts/fuzz.sh with the `Fuzzing` trait and `-sanitize=fuzzer,address`. Without the
// trait (a plain `swift build`) only the stub at the bottom is compiled.
#if Fuzzing
import HeraldFuzzDriver

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The targets by name; `HERALD_FUZZ_TARGET` picks one (read from the environment so that
/// libFuzzer's child processes, e.g. with `-fork`, run the same one).
let fuzzTargets: [String: @Sendable ([UInt8]) -> Void] = [
    "sse": SSEFuzz.run,
    "form": FormFuzz.run,
    "publish": RawPublishFuzz.run,
    "resp": RESPFuzz.run,
    "template": URITemplateFuzz.run,
]

let selectedTarget = getenv("HERALD_FUZZ_TARGET").flatMap { fuzzTargets[String(cString: $0)] }

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let target = selectedTarget else { return 0 }
    target(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// SwiftPM links an executable's `main` to `<module>_main`: this is it.
@_cdecl("HeraldFuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    guard selectedTarget != nil else {
        let names = fuzzTargets.keys.sorted().joined(separator: ", ")
        printError("set HERALD_FUZZ_TARGET to one of: \(names) (then libFuzzer's arguments follow)")
        return 2
    }
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzOneInput)
}

/// Reports a broken property and aborts, so libFuzzer saves the input as a crash.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        printError("PROPERTY FAILED: \(message())")
        abort()
    }
}
/// Writes a line to standard error (file descriptor 2, unbuffered, as libFuzzer's own output).
func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { return }
            offset += written
        }
    }
}
#else
@main enum HeraldFuzzStub {
    static func main() {
        print("HeraldFuzz was built without the Fuzzing trait: run scripts/fuzz.sh")
    }
}
#endif
