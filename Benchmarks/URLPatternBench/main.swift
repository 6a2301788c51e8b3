// Worst-case URL Pattern matching time per topic (scripts/urlpattern-bench.sh builds this with
// the URLPattern sources, optimized, outside SwiftPM: the module has no dependencies).
// Each line: the pattern, its automaton states, and the time of one `test` against a 2 KiB topic
// it does not match (the matcher runs to the end), best of 5 runs of 200 matches, in whole microseconds.

let topic = "https://e.com/" + String(repeating: "a", count: 2034)
let patterns = [
    "https://example.com/books/:id",
    "https://e.com/*",
    "https://e.com/:a/:b/:c",
    "https://e.com/(a+)+b",
    "https://e.com/((?:a*)*)*b",
    "https://e.com/((?:a|a)+)+b",
    "https://e.com/((?:a|aa)*)*b",
    "https://e.com/(.*a.*a.*a.*a.*a.*a.*a.*)b",
    "https://e.com/:x(a*)*:y(a*)*:z(a*)b",
    "https://e.com/((?:[a-z]|\\w|\\d|.){1,20}b)",
    "https://e.com/((?:a?){30}a{30})",
    "http{s}?://{*.}?e.com/{:p(a*)}*/*",
]

func seconds(_ body: () -> Void) -> Double {
    let start = ContinuousClock.now
    body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

// A typical topic first: the everyday cost of one selector.
let typical = "https://example.com/books/42"
if let everyday = try? URLPattern("https://example.com/books/:id") {
    let best = (0..<5).map { _ in seconds { for _ in 0..<10_000 { _ = everyday.test(typical) } } }.min()!
    print("typical: https://example.com/books/:id against \(typical)\t\(Int(best / 10_000 * 1e9)) ns/match")
}

print("topic: \(topic.utf8.count) bytes")
for text in patterns {
    do {
        let pattern = try URLPattern(text)
        var matched = false
        let best = (0..<5).map { _ in seconds { for _ in 0..<200 { matched = pattern.test(topic) || matched } } }.min()!
        let perMatch = best / 200 * 1e6
        print("\(text)\tstates \(pattern.matchingStates)\t\(matched ? "match" : "no match")\t\(Int(perMatch)) µs/match")
    } catch {
        print("\(text)\trefused: \(error.reason)")
    }
}
