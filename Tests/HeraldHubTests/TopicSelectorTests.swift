import Testing

@testable import HeraldHub

@Suite struct TopicSelectorTests {
    /// Every idle stream holds an array of its selectors: a compiled template or URL pattern
    /// inline made each element 152 bytes (a one-selector array took a 184-byte heap block, 0.1
    /// KiB of each stream's ~4 KiB); boxed, an element is its text, kind and one reference.
    @Test func aSelectorIsSmallInlineWhateverItsKind() throws {
        #expect(MemoryLayout<TopicSelector>.stride <= 32)
        let pattern = try TopicSelector(urlPattern: "https://example.com/books/:id")
        #expect(pattern.urlPattern != nil && pattern.template == nil)
        #expect(pattern.matches("https://example.com/books/1"))
        let template = try TopicSelector("https://example.com/books/{id}")
        #expect(template.template != nil && template.urlPattern == nil)
        #expect(template.matchingStates > 0)
        #expect(try TopicSelector(exact: "a{b}").template == nil)
    }

    @Test(arguments: ["", "anything", "https://example.com/books/1", "*", "urn:x:{y}", "caf\u{E9}"])
    func wildcardMatchesEverything(_ topic: String) throws {
        let selector = try TopicSelector("*")
        #expect(selector.isWildcard)
        #expect(!selector.isTemplate)
        #expect(selector.matches(topic))
        #expect(TopicSelector.wildcard.matches(topic))
    }

    @Test func wildcardConstantEqualsParsedStar() throws {
        #expect(try TopicSelector("*") == TopicSelector.wildcard)
        #expect(TopicSelector.wildcard.rawValue == "*")
    }

    @Test func exactTopic() throws {
        let selector = try TopicSelector("https://example.com/books/1")
        #expect(!selector.isWildcard)
        #expect(!selector.isTemplate)
        #expect(selector.template == nil)
        #expect(selector.matches("https://example.com/books/1"))
        #expect(!selector.matches("https://example.com/books/2"))
        #expect(!selector.matches("https://example.com/books/1/"))
        #expect(!selector.matches("https://example.com/books/"))
        #expect(!selector.matches("HTTPS://EXAMPLE.COM/books/1"))
        #expect(!selector.matches(""))
    }

    @Test func plainStringTopics() throws {
        let selector = try TopicSelector("my-topic")
        #expect(selector.matches("my-topic"))
        #expect(!selector.matches("my-topic-2"))
        // Not an IRI, but Mercure accepts any string as a topic; no braces means no template.
        let spaced = try TopicSelector("my topic")
        #expect(spaced.matches("my topic"))
    }

    @Test func starInsideSelectorIsLiteral() throws {
        let selector = try TopicSelector("https://example.com/*")
        #expect(!selector.isWildcard)
        #expect(!selector.isTemplate)
        #expect(selector.matches("https://example.com/*"))
        #expect(!selector.matches("https://example.com/books"))
    }

    @Test func mercureTemplateSelector() throws {
        let selector = try TopicSelector("https://example.com/books/{id}")
        #expect(selector.isTemplate)
        #expect(!selector.isWildcard)
        #expect(selector.template?.variableNames == ["id"])
        #expect(selector.matches("https://example.com/books/1"))
        #expect(selector.matches("https://example.com/books/the-hobbit"))
        #expect(!selector.matches("https://example.com/books/1/reviews"))
        #expect(!selector.matches("https://example.com/authors/1"))
        #expect(!selector.matches("https://example.com/books"))
    }

    @Test func templateLookingTopicMatchesExactly() throws {
        let selector = try TopicSelector("https://example.com/books/{id}")
        // "{" and "}" are never value characters, so only the exact-equality rule can match this.
        #expect(selector.template?.matches("https://example.com/books/{id}") == false)
        #expect(selector.matches("https://example.com/books/{id}"))
        #expect(!selector.matches("https://example.com/books/{other}"))
    }

    @Test func templateWithOptionalParts() throws {
        let selector = try TopicSelector("https://example.com/books{/id}{?lang}")
        #expect(selector.matches("https://example.com/books"))
        #expect(selector.matches("https://example.com/books/1"))
        #expect(selector.matches("https://example.com/books/1?lang=fr"))
        #expect(selector.matches("https://example.com/books?lang=fr"))
        #expect(!selector.matches("https://example.com/books/1/2"))
        #expect(!selector.matches("https://example.com/books?author=x"))
    }

    @Test func reservedExpansionSelector() throws {
        let selector = try TopicSelector("https://example.com/{+path}")
        #expect(selector.matches("https://example.com/books/1/reviews?page=2"))
        #expect(!selector.matches("https://other.example.com/books/1"))
    }

    @Test func pctEncodedTopics() throws {
        let selector = try TopicSelector("https://example.com/users/{name}")
        #expect(selector.matches("https://example.com/users/J%C3%BCrgen"))
        #expect(!selector.matches("https://example.com/users/J%C3%BCrgen%"))
        #expect(!selector.matches("https://example.com/users/J\u{FC}rgen"))
    }

    @Test func comparisonIsBytewise() throws {
        let precomposed = "https://example.com/caf\u{E9}"
        let decomposed = "https://example.com/cafe\u{301}"
        let selector = try TopicSelector(precomposed)
        #expect(selector.matches(precomposed))
        #expect(!selector.matches(decomposed))
        #expect(selector != (try TopicSelector(decomposed)))
    }

    @Test func nonASCIILiteralInTemplate() throws {
        let selector = try TopicSelector("https://example.com/caf\u{E9}/{id}")
        #expect(selector.matches("https://example.com/caf\u{E9}/1"))
        #expect(!selector.matches("https://example.com/cafe/1"))
    }

    @Test func descriptionAndRawValue() throws {
        let selector = try TopicSelector("https://example.com/books/{id}")
        #expect(selector.description == "https://example.com/books/{id}")
        #expect(selector.rawValue == "https://example.com/books/{id}")
        #expect("\(selector)" == "https://example.com/books/{id}")
    }

    @Test func hashableByRawValue() throws {
        let selectors: Set<TopicSelector> = [
            try TopicSelector("https://example.com/books/{id}"),
            try TopicSelector("https://example.com/books/{id}"),
            try TopicSelector("https://example.com/books/1"),
            try TopicSelector("*"),
        ]
        #expect(selectors.count == 3)
        #expect(selectors.contains(try TopicSelector("https://example.com/books/1")))
    }

    @Test func emptySelectorThrows() {
        #expect(throws: TopicSelectorError(reason: "topic selector is empty")) { try TopicSelector("") }
    }

    @Test func lengthLimitIsInUTF8Bytes() throws {
        let longest = String(repeating: "a", count: TopicSelector.maximumLength)
        #expect(try TopicSelector(longest).matches(longest))
        let error = #expect(throws: TopicSelectorError.self) { try TopicSelector(longest + "a") }
        #expect(error?.reason == "topic selector is longer than 2048 bytes")
        // 1025 two-byte characters: fewer than 2048 characters but 2050 bytes.
        #expect(throws: TopicSelectorError.self) { try TopicSelector(String(repeating: "\u{E9}", count: 1025)) }
        let longTemplate = "{x}" + String(repeating: "a", count: TopicSelector.maximumLength - 3)
        #expect(try TopicSelector(longTemplate).isTemplate)
    }

    @Test(arguments: [
        ("https://example.com/books/{id", "unclosed '{'"),
        ("https://example.com/books/id}", "unexpected '}'"),
        ("https://example.com/books/{}", "empty expression"),
        ("https://example.com/{a{b}}", "nested '{'"),
        ("https://example.com/{a b}", "invalid variable name"),
        ("https://example.com/{id:0}", "invalid modifier"),
        ("https://example.com/{=id}", "reserved operator"),
    ])
    func malformedTemplatesThrow(_ selector: String, _ reasonContains: String) {
        let error = #expect(throws: TopicSelectorError.self) { try TopicSelector(selector) }
        #expect(error?.reason.contains(reasonContains) == true, "reason: \(error?.reason ?? "none")")
    }

    @Test func errorDescriptionIsReason() {
        let error = TopicSelectorError(reason: "unclosed '{' at offset 3")
        #expect(error.description == "unclosed '{' at offset 3")
        #expect("\(error)" == "unclosed '{' at offset 3")
    }

    @Test func hostileTemplatesAreRefusedAsTooComplex() throws {
        // Adjacent variables up to the length limit (Mercure's worst case before the bounds).
        var adjacent = ""
        for index in 0... {
            let next = "{v\(index)}"
            if adjacent.utf8.count + next.utf8.count > TopicSelector.maximumLength { break }
            adjacent += next
        }
        let tooMany = [
            adjacent,
            String(repeating: "{+a}", count: 17),
            "{+" + Array(repeating: "a", count: 33).joined(separator: ",") + "}",
            "{a}" + String(repeating: "x", count: 300) + "{b}",
        ]
        for text in tooMany {
            let error = #expect(throws: TopicSelectorError.self) { try TopicSelector(text) }
            #expect(error?.reason.hasPrefix("template too complex") == true, "\(error?.reason ?? "none")")
        }
        // The bounds' edges are accepted, and the plain template type has no bounds.
        #expect(try TopicSelector(String(repeating: "{+a}", count: 16)).isTemplate)
        #expect(try TopicSelector("{+" + Array(repeating: "a", count: 32).joined(separator: ",") + "}").isTemplate)
        #expect(try URITemplate(adjacent).expressionCount > 16)
    }

    @Test func literalEndsCostNoMatchingStates() throws {
        // A long literal before the first and after the last expression is compared directly.
        let prefix = "https://example.com/" + String(repeating: "p", count: 900) + "/"
        let suffix = "/" + String(repeating: "s", count: 900)
        let selector = try TopicSelector(prefix + "{id}" + suffix)
        #expect(try #require(selector.template).matchingStates < 10)
        #expect(selector.matches(prefix + "42" + suffix))
        #expect(!selector.matches(prefix + "4/2" + suffix))
        #expect(!selector.matches(prefix + "42"))
    }

    @Test func worstAllowedSelectorsStayBounded() throws {
        // Whatever passes the bounds has a small automaton, so a match is O(topic × 256).
        let candidates = [
            String(repeating: "{+a}", count: 16),
            String(repeating: "{+a,b}/", count: 16),
            "{?" + (0..<32).map { "v\($0)" }.joined(separator: ",") + "}",
            (0..<16).map { "{/v\($0)*}" }.joined(),
        ]
        for text in candidates {
            guard let selector = try? TopicSelector(text) else { continue }
            #expect(try #require(selector.template).matchingStates <= TopicSelector.maxMatchingStates)
            #expect(!selector.matches(String(repeating: "a", count: 2047) + " "))
        }
    }
}
