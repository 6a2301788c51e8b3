import ArgumentParser
import HeraldHub
import URLPattern

/// `herald match`: tries a topic selector against a topic, as the hub would match it.
///
/// Prints `match` and the groups (`pathname.id = 1` for a URL pattern, components left as `*`
/// not listed; `id = 1` for a template)
/// or `no match`. Exit code 0: match, 1: no match, 2: the pattern is refused (the reason on
/// stderr, as the hub would answer it with 400).
struct Match: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Match a topic against a Mercure 1.0 URL pattern or a 0.x URI template selector.",
        discussion: """
            herald match --urlpattern 'https://example.com/books/:id' https://example.com/books/1
            herald match --template 'https://example.com/books/{id}' https://example.com/books/1
            Exit status: 0 match, 1 no match, 2 invalid or too complex pattern.
            """
    )

    @Option(name: .customLong("urlpattern"), help: "A WHATWG URL Pattern (Mercure 1.0 match_urlpattern=).")
    var urlPattern: String?
    @Option(help: "An RFC 6570 URI template selector (Mercure 0.x topic=).")
    var template: String?
    @Option(name: .customLong("base-url"), help: "Base URL for a relative URL pattern (the hub's public URL).")
    var baseURL: String?
    @Argument(help: "The topic to match.")
    var topic: String

    func validate() throws {
        guard (urlPattern == nil) != (template == nil) else {
            throw ValidationError("give exactly one of --urlpattern and --template")
        }
        if baseURL != nil, urlPattern == nil { throw ValidationError("--base-url only applies to --urlpattern") }
    }

    func run() throws {
        let selector: TopicSelector
        do {
            if let urlPattern {
                selector = try TopicSelector(urlPattern: urlPattern, baseURL: baseURL)
            } else {
                selector = try TopicSelector(template!)
            }
        } catch {
            printError("herald: \(error.reason)")
            throw ExitCode(2)
        }
        guard selector.matches(topic) else {
            print("no match")
            throw ExitCode(1)
        }
        print("match")
        for line in Self.groupLines(selector, topic) { print(line) }
    }

    /// `name = value` lines for the groups of a match (`component.name` for URL patterns).
    static func groupLines(_ selector: TopicSelector, _ topic: String) -> [String] {
        if let pattern = selector.urlPattern, let result = pattern.exec(topic) {
            // Components the pattern leaves as "*" (any) are not worth listing.
            return URLPattern.Component.allCases.filter { pattern.pattern(of: $0) != "*" }.flatMap { component in
                (result.components[component]?.groups ?? []).map { group in
                    "\(component.rawValue).\(group.name) = " + (group.value ?? "(unmatched)")
                }
            }
        }
        if let template = selector.template, let variables = template.match(topic) {
            return variables.keys.sorted().map { "\($0) = \(variables[$0]!)" }
        }
        return []
    }
}
