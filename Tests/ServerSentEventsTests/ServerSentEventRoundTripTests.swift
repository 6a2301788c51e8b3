import NIOCore
import ServerSentEvents
import Testing

/// Events survive encode → parse, with line breaks in data normalized to LF.
@Suite("Round trip")
struct ServerSentEventRoundTripTests {
    /// Pieces that stress the format: line breaks of every kind, colons, spaces, NUL, BOM, non-ASCII.
    static let fragments = [
        "a", "Z", "0", " ", ":", "é", "e\u{301}", "😀", "世", "\t", "\u{0}", "\u{FEFF}",
        "data: ", "id: ", "\n", "\r", "\r\n", "\n\n", "\r\r",
    ]

    static func randomString(
        using generator: inout SeededGenerator,
        from fragments: [String] = fragments
    ) -> String {
        let count = Int.random(in: 0...8, using: &generator)
        return (0..<count).map { _ in fragments.randomElement(using: &generator)! }.joined()
    }

    static func randomEvent(using generator: inout SeededGenerator) -> ServerSentEvent {
        let singleLine = fragments.filter { !$0.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) }
        let idSafe = singleLine.filter { !$0.unicodeScalars.contains("\u{0}") }
        var event = ServerSentEvent(data: randomString(using: &generator))
        if Bool.random(using: &generator) {
            event.event = randomString(using: &generator, from: singleLine)
        }
        if Bool.random(using: &generator) {
            event.id = randomString(using: &generator, from: idSafe)
        }
        switch Int.random(in: 0..<10, using: &generator) {
        case 0: event.retry = Int.random(in: 0...100_000, using: &generator)
        case 1: event.retry = Int.max
        default: break
        }
        return event
    }

    /// What the parser should report for `events`, sent in order on one stream.
    static func expectedElements(for events: [ServerSentEvent]) -> [ServerSentEventParser.Element] {
        var lastEventID = ""
        var elements: [ServerSentEventParser.Element] = []
        for event in events {
            if let retry = event.retry { elements.append(.retry(retry)) }
            if let id = event.id { lastEventID = id }
            let parsed = ServerSentEvent(
                data: normalizingLineBreaks(event.data),
                event: event.event?.isEmpty == false ? event.event : nil,
                id: lastEventID.isEmpty ? nil : lastEventID
            )
            elements.append(.event(parsed))
        }
        return elements
    }

    /// `==` on String ignores Unicode normalization; the round trip must be byte-exact.
    static func utf8(of elements: [ServerSentEventParser.Element]) -> [[UInt8]] {
        elements.map { element in
            switch element {
            case .event(let event): Array(event.data.utf8) + [0xFF] + Array((event.event ?? "").utf8) + [0xFF] + Array((event.id ?? "").utf8)
            case .comment(let text): Array(text.utf8)
            case .retry(let retry): Array(String(retry).utf8)
            }
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func manyEventsOnOneStream(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let events = (0..<300).map { _ in Self.randomEvent(using: &generator) }
        var stream = ByteBuffer()
        for event in events {
            try event.encode(into: &stream)
            if Int.random(in: 0..<4, using: &generator) == 0 {
                ServerSentEventComment.encode(Self.randomString(using: &generator), into: &stream)
            }
        }
        let expected = Self.expectedElements(for: events)

        var parser = ServerSentEventParser()
        let whole = try parser.feed(stream).filter { if case .comment = $0 { false } else { true } }
        #expect(whole == expected)
        #expect(Self.utf8(of: whole) == Self.utf8(of: expected))

        // The same stream in random chunks.
        let bytes = Array(stream.readableBytesView)
        var chunks: [[UInt8]] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + Int.random(in: 0...40, using: &generator))
            chunks.append(Array(bytes[start..<end]))
            start = end
        }
        let chunked = try parse(chunks: chunks).elements.filter { if case .comment = $0 { false } else { true } }
        #expect(chunked == expected)
    }

    @Test func eachEventAloneRoundTrips() throws {
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<1_000 {
            let event = Self.randomEvent(using: &generator)
            let parsed = try parse(Array(try event.encoded().readableBytesView)).elements
            let expected = Self.expectedElements(for: [event])
            #expect(parsed == expected, "event \(event)")
            #expect(Self.utf8(of: parsed) == Self.utf8(of: expected))
        }
    }

    @Test func dataWithOnlyLFRoundTripsExactly() throws {
        for data in ["", "\n", "a\n", "\na", "a\n\nb", "\n\n\n", " x \n y "] {
            let parsed = try parse(Array(try ServerSentEvent(data: data).encoded().readableBytesView)).elements
            #expect(parsed == [parsedEvent(data)])
        }
    }
}
