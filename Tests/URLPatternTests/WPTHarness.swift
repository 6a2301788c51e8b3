import Foundation
import Testing
import URLPattern

/// Cases derived from web-platform-tests' `urlpattern/resources/urlpatterntestdata.json`
/// (rewritten in a compact form; only what `test`/`exec` can check). One case per line:
/// `p` pattern (constructor string, or components with an optional `baseURL`), `pb` the pattern's
/// base URL, `i` the input (URL string or components with optional `baseURL`), `ib` the input's
/// base URL, `m` the expected match: null, "error" (the pattern is refused), "throws" (the input
/// is refused), or per component `[input, {group: value or null}]`. `skip` marks a case out of
/// scope, with the reason.
struct WPTCase: CustomStringConvertible {
    let line: Int
    let text: String
    let json: [String: Any]

    var description: String { "line \(line): \(text)" }

    static func load(_ table: String) -> [WPTCase] {
        table.split(separator: "\n").enumerated().compactMap { index, line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("{") else { return nil }
            let object = try! JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as! [String: Any]
            return WPTCase(line: index + 1, text: trimmed, json: object)
        }
    }

    var skipReason: String? { json["skip"] as? String }

    private static func components(_ object: [String: Any]) -> ([URLPattern.Component: String], String?) {
        var result: [URLPattern.Component: String] = [:]
        for component in URLPattern.Component.allCases {
            if let value = object[component.rawValue] as? String { result[component] = value }
        }
        return (result, object["baseURL"] as? String)
    }

    /// nil when the case passes, else what went wrong.
    func run() -> String? {
        let expected = json["m"]
        let pattern: URLPattern
        do {
            if let text = json["p"] as? String {
                pattern = try URLPattern(text, baseURL: json["pb"] as? String)
            } else {
                let (components, base) = Self.components(json["p"] as! [String: Any])
                pattern = try URLPattern(components: components, baseURL: base)
            }
        } catch {
            return (expected as? String) == "error" ? nil : "pattern refused: \(error)"
        }
        if (expected as? String) == "error" { return "pattern accepted" }
        let result: URLPatternResult?
        if let text = json["i"] as? String {
            result = pattern.exec(text, baseURL: json["ib"] as? String)
        } else {
            let (components, base) = Self.components(json["i"] as! [String: Any])
            if (expected as? String) == "throws" {
                // The standard throws for components plus a separate base URL; we take no such call.
                return nil
            }
            result = pattern.exec(components: components, baseURL: base)
        }
        guard let expectedMatch = expected as? [String: Any] else {
            return result == nil ? nil : "matched, expected no match"
        }
        guard let result else { return "no match" }
        for (name, value) in expectedMatch {
            let component = URLPattern.Component(rawValue: name)!
            let pair = value as! [Any]
            let input = pair[0] as! String
            let groups = pair[1] as! [String: Any]
            let actual = result[component]
            if actual.input != input { return "\(name) input \(actual.input), expected \(input)" }
            if actual.groups.count != groups.count {
                return "\(name) groups \(actual.groups), expected \(groups)"
            }
            for (group, value) in groups {
                let want = value as? String
                guard let found = actual.groups.first(where: { $0.name == group }) else {
                    return "\(name) group \(group) missing"
                }
                if found.value != want { return "\(name) group \(group) = \(found.value ?? "nil"), expected \(want ?? "nil")" }
            }
        }
        return nil
    }
}

@Suite struct WPTURLPatternTests {
    @Test func webPlatformTestsCases() {
        let cases = WPTCase.load(wptCases)
        var passed = 0
        var skipped = 0
        var failures: [String] = []
        for testCase in cases {
            if testCase.skipReason != nil {
                skipped += 1
                continue
            }
            if let failure = testCase.run() {
                failures.append("\(testCase) -> \(failure)")
            } else {
                passed += 1
            }
        }
        print("WPT URL Pattern cases: \(cases.count) in table, \(passed) pass, \(skipped) out of scope, \(failures.count) fail")
        for failure in failures { print("  FAIL \(failure)") }
        #expect(failures.isEmpty)
        #expect(passed > 0)
    }
}
