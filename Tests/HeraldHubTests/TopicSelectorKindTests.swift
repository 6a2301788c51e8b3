import HeraldHub
import Testing

/// The selector kinds of Mercure 0.x (`topic=`) and 1.0 (`match=`, `match_urlpattern=`).
@Suite struct TopicSelectorKindTests {
    /// Mercure 1.0: a relative topic (the hub's own subscription events) is resolved against the
    /// hub's URL the pattern was compiled with; without one it matches nothing.
    @Test func aURLPatternResolvesRelativeTopicsAgainstItsBase() throws {
        let hub = "https://hub.example/.well-known/mercure"
        let events = "/.well-known/mercure/subscriptions/:match_type/:match/:subscriber"
        let relative = try TopicSelector(urlPattern: events, baseURL: hub)
        #expect(relative.matches("/.well-known/mercure/subscriptions/exact/room/urn%3Auuid%3A1"))
        #expect(relative.matches("https://hub.example/.well-known/mercure/subscriptions/exact/room/urn%3Auuid%3A1"))
        #expect(!relative.matches("/.well-known/mercure/subscriptions/exact/room"))
        #expect(!relative.matches("https://other.example/.well-known/mercure/subscriptions/exact/room/x"))
        let absolute = try TopicSelector(urlPattern: "https://hub.example" + events)
        #expect(absolute.matches("https://hub.example/.well-known/mercure/subscriptions/exact/room/x"))
        #expect(!absolute.matches("/.well-known/mercure/subscriptions/exact/room/x"))
    }

    @Test func zeroXParseKeepsItsKinds() throws {
        #expect(try TopicSelector("*").kind == .wildcard)
        #expect(try TopicSelector("news").kind == .exact)
        #expect(try TopicSelector("https://ex.com/{id}").kind == .template)
    }

    @Test func exactIsNeverATemplateNorAWildcard() throws {
        let star = try TopicSelector(exact: "*")
        #expect(star.kind == .exact)
        #expect(star.matches("*"))
        #expect(!star.matches("news"))
        let braces = try TopicSelector(exact: "a{b}")
        #expect(braces.kind == .exact)
        #expect(braces.matches("a{b}"))
        #expect(!braces.matches("ax"))
        #expect(try TopicSelector("a{b}").matches("ax"))
    }

    @Test func equalityAndHashIncludeTheKind() throws {
        let exact = try TopicSelector(exact: "a{b}")
        let template = try TopicSelector("a{b}")
        #expect(exact != template)
        #expect(Set([exact, template]).count == 2)
        #expect(try TopicSelector(exact: "news") == TopicSelector("news"))
        #expect(try TopicSelector(exact: "*") != TopicSelector.wildcard)
        #expect(try TopicSelector(urlPattern: "https://ex.com/:id") != TopicSelector(exact: "https://ex.com/:id"))
    }

    @Test func urlPatternMatchesTopicsAsURLs() throws {
        let selector = try TopicSelector(urlPattern: "https://example.com/books/:id")
        #expect(selector.kind == .urlPattern)
        #expect(selector.isPattern)
        #expect(selector.matches("https://example.com/books/1"))
        #expect(!selector.matches("https://example.com/books/1/chapters"))
        #expect(!selector.matches("https://example.com/books/:id/x"))
        #expect(!selector.matches("books/1"))
    }

    @Test func relativeURLPatternNeedsABaseURL() throws {
        #expect(throws: TopicSelectorError.self) { try TopicSelector(urlPattern: "/books/:id") }
        let selector = try TopicSelector(urlPattern: "/books/:id", baseURL: "https://hub.example/.well-known/mercure")
        #expect(selector.matches("https://hub.example/books/7"))
        #expect(!selector.matches("https://other.example/books/7"))
    }

    @Test func limitsAndErrorsAreTheSameForEveryKind() throws {
        let long = String(repeating: "a", count: 2049)
        #expect(throws: TopicSelectorError.self) { try TopicSelector(exact: long) }
        #expect(throws: TopicSelectorError.self) { try TopicSelector(urlPattern: "https://e.com/" + long) }
        #expect(throws: TopicSelectorError.self) { try TopicSelector(exact: "") }
        #expect(throws: TopicSelectorError.self) { try TopicSelector(urlPattern: "") }
        #expect(throws: TopicSelectorError.self) { try TopicSelector(exact: "abc", maxLength: 2) }
        #expect(throws: TopicSelectorError.self) { try TopicSelector(urlPattern: "https://e.com/(a|\\1)") }
    }

    @Test func hubRoutesEachKindToItsOwnSubscribers() async throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let exactBraces = try hub.selectors([(text: "a{b}", syntax: .exact)])
        let templateBraces = try hub.selectors(["a{b}"])
        let pattern = try hub.selectors([(text: "https://ex.com/books/:id", syntax: .urlPattern)])
        let star = try hub.selectors([(text: "*", syntax: .exact)])
        let (exactRecorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: exactBraces + selectors("end"))))
        let (templateRecorder, _) = record(
            try await hub.subscribe(SubscribeRequest(selectors: templateBraces + selectors("end")))
        )
        let (patternRecorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: pattern + selectors("end"))))
        let (starRecorder, _) = record(try await hub.subscribe(SubscribeRequest(selectors: star + selectors("end"))))
        try await hub.publish(Update(topics: ["ax"], data: "ax"))
        try await hub.publish(Update(topics: ["a{b}"], data: "a{b}"))
        try await hub.publish(Update(topics: ["https://ex.com/books/1"], data: "book"))
        try await hub.publish(Update(topics: ["*"], data: "star"))
        try await hub.publish(Update(topics: ["end"], data: "end"))
        for recorder in [exactRecorder, templateRecorder, patternRecorder, starRecorder] {
            await recorder.waitForEvents(1)
        }
        await exactRecorder.waitForEvents(2)
        await templateRecorder.waitForEvents(3)
        await patternRecorder.waitForEvents(2)
        await starRecorder.waitForEvents(2)
        #expect(exactRecorder.events.map(\.data) == ["a{b}", "end"])
        #expect(templateRecorder.events.map(\.data) == ["ax", "a{b}", "end"])
        #expect(patternRecorder.events.map(\.data) == ["book", "end"])
        #expect(starRecorder.events.map(\.data) == ["star", "end"])
    }

    @Test func hubSharesCompiledSelectorsPerKindOnly() throws {
        let hub = Hub()
        defer { hub.shutdown() }
        let first = try hub.selectors([(text: "https://ex.com/:id", syntax: .urlPattern)])
        let second = try hub.selectors([(text: "https://ex.com/:id", syntax: .urlPattern)])
        let exact = try hub.selectors([(text: "https://ex.com/:id", syntax: .exact)])
        #expect(first == second)
        #expect(first != exact)
        #expect(exact[0].kind == .exact)
        #expect(throws: HubError.self) { try hub.selectors([(text: "https://ex.com/((a)", syntax: .urlPattern)]) }
    }
}
