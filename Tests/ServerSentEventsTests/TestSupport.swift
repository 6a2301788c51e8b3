import NIOCore
import ServerSentEvents
import Testing

/// Everything a parser reports for a stream: elements plus the state it ends in.
struct ParseOutcome: Hashable, CustomStringConvertible {
    var elements: [ServerSentEventParser.Element] = []
    var lastEventID = ""
    var reconnectionTime: Int?

    var description: String {
        "elements: \(elements), lastEventID: \(String(reflecting: lastEventID)), reconnectionTime: \(String(describing: reconnectionTime))"
    }
}

/// Feeds `chunks` in order, then finishes the stream.
func parse(
    chunks: some Sequence<[UInt8]>,
    maxBufferedBytes: Int = 16 * 1024 * 1024
) throws(ServerSentEventParser.Error) -> ParseOutcome {
    var parser = ServerSentEventParser(maxBufferedBytes: maxBufferedBytes)
    var outcome = ParseOutcome()
    for chunk in chunks {
        outcome.elements += try parser.feed(chunk)
    }
    outcome.elements += parser.finish()
    outcome.lastEventID = parser.lastEventID
    outcome.reconnectionTime = parser.reconnectionTime
    return outcome
}

/// Feeds `bytes` in one piece, then finishes the stream.
func parse(_ bytes: [UInt8]) throws(ServerSentEventParser.Error) -> ParseOutcome {
    try parse(chunks: [bytes])
}

/// Feeds the UTF-8 of `text` in one piece, then finishes the stream.
func parse(_ text: String) throws(ServerSentEventParser.Error) -> ParseOutcome {
    try parse(Array(text.utf8))
}

/// The event the parser should report for `data` etc. (retry never appears inside events).
func parsedEvent(_ data: String, event: String? = nil, id: String? = nil) -> ServerSentEventParser.Element {
    .event(ServerSentEvent(data: data, event: event, id: id))
}

extension ServerSentEvent {
    /// The wire form as a String, for readable expectations.
    func encodedString() throws(ServerSentEventEncodingError) -> String {
        String(buffer: try encoded())
    }
}

/// A small deterministic generator (SplitMix64) so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Replaces CRLF and lone CR with LF: what the wire format does to line breaks in data.
func normalizingLineBreaks(_ text: String) -> String {
    var scalars = String.UnicodeScalarView()
    var previousWasCR = false
    for scalar in text.unicodeScalars {
        if scalar == "\r" {
            scalars.append("\n")
            previousWasCR = true
            continue
        }
        if scalar == "\n", previousWasCR {
            previousWasCR = false
            continue
        }
        previousWasCR = false
        scalars.append(scalar)
    }
    return String(scalars)
}

/// A text and its expected wire form, named by the escaped text in test output.
struct WireCase: Sendable, CustomTestStringConvertible {
    var text: String
    var wire: String

    init(_ text: String, _ wire: String = "") {
        self.text = text
        self.wire = wire
    }

    var testDescription: String { String(reflecting: text) }
}
