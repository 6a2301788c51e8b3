import Testing
import URLPattern

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Hostile patterns: matching stays linear in the topic's length whatever the pattern, and
/// patterns a linear-time matcher cannot run, or too big ones, are refused with a reason.
@Suite struct URLPatternHostileTests {
    /// Shapes that take exponential time in a backtracking engine.
    static let catastrophic = [
        "https://e.com/(a+)+b",
        "https://e.com/((?:a*)*)*b",
        "https://e.com/((?:a|a)+)+b",
        "https://e.com/((?:a|aa)*)*b",
        "https://e.com/(.*a.*a.*a.*a.*a.*a.*a.*)b",
        "https://e.com/:x(a*)*:y(a*)*:z(a*)b",
    ]

    static func topic(_ length: Int) -> String {
        "https://e.com/" + String(repeating: "a", count: length)
    }

    static func seconds(_ body: () -> Void) -> Double {
        let start = ContinuousClock.now
        body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    @Test(arguments: catastrophic)
    func catastrophicShapesStayLinear(_ text: String) throws {
        let pattern = try URLPattern(text)
        #expect(!pattern.test(Self.topic(2034)))
        #expect(pattern.test(Self.topic(20) + "b"))
        // Growth, not absolute time: 16× the input costs about 16× the time; quadratic would be
        // 256×, exponential would not finish. Best of 5 interleaved runs against the shared
        // machine's noise; the bound (64×) separates linear from quadratic with room to spare.
        let short = Self.topic(128)
        let long = Self.topic(2048)
        var shortTime = Double.infinity
        var longTime = Double.infinity
        for _ in 0..<5 {
            shortTime = min(shortTime, Self.seconds { for _ in 0..<32 { _ = pattern.test(short) } })
            longTime = min(longTime, Self.seconds { for _ in 0..<32 { _ = pattern.test(long) } })
        }
        #expect(longTime / shortTime < 64, "16× longer topic took \(longTime / shortTime)× the time")
    }

    @Test func capturesOfCatastrophicShapesAreLinearToo() throws {
        let pattern = try URLPattern("https://e.com/(a+)+b")
        #expect(pattern.exec(Self.topic(2034)) == nil)
        #expect(pattern.exec(Self.topic(2033) + "b")?[.pathname]["0"] == String(repeating: "a", count: 2033))
    }

    @Test(arguments: [
        ("https://e.com/(a|\\1)", "backreferences"),
        ("https://e.com/(a|(?=b))", "lookahead"),
        ("https://e.com/(a(?=b))", "lookahead"),
        ("https://e.com/(a(?!b))", "lookahead"),
        ("https://e.com/(a(?<=b))", "lookbehind"),
        ("https://e.com/(a(?<n>b))", "named groups"),
        ("https://e.com/(a(b))", "capturing groups"),
        ("https://e.com/(\\bx)", "word boundaries"),
        ("https://e.com/(\\p{L})", "Unicode property"),
        ("https://e.com/(a{2,1})", "out of order"),
        ("https://e.com/(a", "unbalanced"),
        ("https://e.com/(*)", "nothing to repeat"),
        ("https://e.com/:id/:id", "duplicate group name"),
        ("/relative/:id", "base URL"),
    ])
    func unsupportedOrInvalidPatternsAreRefusedWithAReason(_ text: String, _ reason: String) {
        do {
            _ = try URLPattern(text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.reason.contains(reason), "\(text): \(error.reason)")
        }
    }

    @Test func hugeOrExplodingPatternsAreBounded() throws {
        // A long literal is compared directly: accepted, and cheap.
        let literal = try URLPattern("https://e.com/" + String(repeating: "x", count: 2000))
        #expect(literal.matchingStates < 64)  // the seven "*" components; the literal is free
        #expect(literal.test("https://e.com/" + String(repeating: "x", count: 2000)))
        // Counted repetition expands; past the bound it is refused at compile time.
        #expect(throws: URLPatternError.self) { try URLPattern("https://e.com/(a{5000})") }
        #expect(throws: URLPatternError.self) { try URLPattern("https://e.com/((?:(?:a{100}){100}){100})") }
        // Many groups: each costs states; a pattern with a thousand of them is refused.
        let manyGroups = "https://e.com" + (0..<1000).map { "/:g\($0)" }.joined()
        #expect(throws: URLPatternError.self) { try URLPattern(manyGroups) }
        // Deep nesting compiles to a bounded program, or is refused; never a crash.
        let nested = "https://e.com/(" + String(repeating: "(?:", count: 500) + "a" + String(repeating: ")", count: 500) + ")"
        let deep = try URLPattern(nested)
        #expect(deep.test("https://e.com/a"))
    }

    @Test func inputsThatAreNotURLsNeverMatch() throws {
        let pattern = try URLPattern("https://e.com/*")
        for topic in ["", "chat-room-1", "urn:uuid:1", "https://", "https://e.com:99999/", "https://[::1/", "https://e%zz.com/"] {
            #expect(!pattern.test(topic), "\(topic)")
        }
        #expect(try URLPattern("urn:*").test("urn:uuid:1"))
    }
}
