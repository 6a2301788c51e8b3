import ServerSentEvents
import Testing

/// A stream and what the parser must make of it, fed whole.
struct ParserVector: Sendable, CustomTestStringConvertible {
    var name: String
    var input: [UInt8]
    var expected: [ServerSentEventParser.Element]
    var lastEventID = ""
    var reconnectionTime: Int?

    init(
        _ name: String,
        _ input: String,
        _ expected: [ServerSentEventParser.Element],
        lastEventID: String = "",
        reconnectionTime: Int? = nil
    ) {
        self.init(name, bytes: Array(input.utf8), expected, lastEventID: lastEventID, reconnectionTime: reconnectionTime)
    }

    init(
        _ name: String,
        bytes: [UInt8],
        _ expected: [ServerSentEventParser.Element],
        lastEventID: String = "",
        reconnectionTime: Int? = nil
    ) {
        self.name = name
        self.input = bytes
        self.expected = expected
        self.lastEventID = lastEventID
        self.reconnectionTime = reconnectionTime
    }

    var expectedOutcome: ParseOutcome {
        ParseOutcome(elements: expected, lastEventID: lastEventID, reconnectionTime: reconnectionTime)
    }

    var testDescription: String { name }
}

/// Vectors covering WHATWG HTML §9.2.6 "event stream interpretation".
let parserVectors: [ParserVector] = [
    // Byte order mark.
    ParserVector("BOM at stream start is stripped", "\u{FEFF}data: a\n\n", [parsedEvent("a")]),
    ParserVector("only one BOM is stripped", "\u{FEFF}\u{FEFF}data: a\n\ndata: b\n\n", [parsedEvent("b")]),
    ParserVector("BOM later in the stream is kept", "data: a\n\n\u{FEFF}data: b\n\n", [parsedEvent("a")]),
    ParserVector("BOM alone on the first line", "\u{FEFF}\r\ndata: a\n\n", [parsedEvent("a")]),

    // Line ends.
    ParserVector("LF", "data: a\ndata: b\n\n", [parsedEvent("a\nb")]),
    ParserVector("CRLF", "data: a\r\ndata: b\r\n\r\n", [parsedEvent("a\nb")]),
    ParserVector("CR", "data: a\rdata: b\r\r", [parsedEvent("a\nb")]),
    ParserVector("mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", [parsedEvent("a\nb\nc")]),
    ParserVector("CR then CRLF is two line ends", "data: a\r\r\ndata: b\n\n", [parsedEvent("a"), parsedEvent("b")]),
    ParserVector("LF CR is two line ends", "data: a\n\rdata: b\n\n", [parsedEvent("a"), parsedEvent("b")]),
    ParserVector("CRLF CRLF dispatches", "data: x\r\n\r\ndata: y\r\n\r\n", [parsedEvent("x"), parsedEvent("y")]),

    // Field name and value.
    ParserVector("no space after colon", "data:a\n\n", [parsedEvent("a")]),
    ParserVector("only one leading space is removed", "data:  a\n\n", [parsedEvent(" a")]),
    ParserVector("trailing space is kept", "data: a \n\n", [parsedEvent("a ")]),
    ParserVector("tab is not a space", "data:\ta\n\n", [parsedEvent("\ta")]),
    ParserVector("colon in value", "data: a:b\nevent:x: y\n\n", [parsedEvent("a:b", event: "x: y")]),
    ParserVector("field without colon has empty value", "data\n\n", [parsedEvent("")]),
    ParserVector("two empty data lines", "data\ndata\n\n", [parsedEvent("\n")]),
    ParserVector("empty data between lines", "data: a\ndata:\ndata: b\n\n", [parsedEvent("a\n\nb")]),
    ParserVector("event without colon sets the default type", "event\ndata: x\n\n", [parsedEvent("x")]),
    ParserVector("field names are case sensitive", "Data: x\nDATA: y\ndata: z\n\n", [parsedEvent("z")]),
    ParserVector("unknown fields are ignored", "foo: bar\nx\ndata: y\nbaz:\n\n", [parsedEvent("y")]),
    ParserVector("space before the colon belongs to the name", "data : x\ndata: y\n\n", [parsedEvent("y")]),

    // Event type.
    ParserVector("event type", "event: add\ndata: 1\n\n", [parsedEvent("1", event: "add")]),
    ParserVector("last event type wins", "event: a\nevent: b\ndata: 1\n\n", [parsedEvent("1", event: "b")]),
    ParserVector("empty event type is the default", "event:\ndata: 1\n\n", [parsedEvent("1")]),
    ParserVector("event type resets after dispatch", "event: a\ndata: 1\n\ndata: 2\n\n", [
        parsedEvent("1", event: "a"), parsedEvent("2"),
    ]),
    ParserVector("empty data is not dispatched and resets the type", "event: ping\n\ndata: x\n\n", [parsedEvent("x")]),
    ParserVector("blank lines alone do nothing", "\n\n\r\n\r", []),
    ParserVector("empty stream", "", []),

    // retry.
    ParserVector("retry", "retry: 1000\n", [.retry(1000)], reconnectionTime: 1000),
    ParserVector("retry with leading zeros", "retry:007\n", [.retry(7)], reconnectionTime: 7),
    ParserVector("retry zero", "retry: 0\n", [.retry(0)], reconnectionTime: 0),
    ParserVector("retry with letters is ignored", "retry: 1a\n", []),
    ParserVector("retry with extra space is ignored", "retry:  5\n", []),
    ParserVector("empty retry is ignored", "retry:\nretry\nretry: \n", []),
    ParserVector("negative retry is ignored", "retry: -5\n", []),
    ParserVector("retry with sign is ignored", "retry: +5\n", []),
    ParserVector("retry with trailing space is ignored", "retry: 5 \n", []),
    ParserVector("overflowing retry is ignored", "retry: 99999999999999999999999\n", []),
    ParserVector("largest retry", "retry: 9223372036854775807\n", [.retry(Int.max)], reconnectionTime: Int.max),
    ParserVector("retry with non-ASCII digits is ignored", "retry: ١٢\n", []),
    ParserVector("retry elements come in stream order", "retry: 5\ndata: x\nretry: 6\n\n", [
        .retry(5), .retry(6), parsedEvent("x"),
    ], reconnectionTime: 6),
    ParserVector("invalid retry keeps the previous time", "retry: 5\nretry: x\n", [.retry(5)], reconnectionTime: 5),

    // id.
    ParserVector("id", "id: 1\ndata: a\n\n", [parsedEvent("a", id: "1")], lastEventID: "1"),
    ParserVector("id with NUL is ignored", "id: 1\n\nid: a\u{0}b\ndata: x\n\n", [parsedEvent("x", id: "1")], lastEventID: "1"),
    ParserVector("last event ID is kept across events", "id: 1\ndata: a\n\ndata: b\n\n", [
        parsedEvent("a", id: "1"), parsedEvent("b", id: "1"),
    ], lastEventID: "1"),
    ParserVector("empty id resets the last event ID", "id: 1\ndata: a\n\nid\ndata: b\n\nid:\ndata: c\n\n", [
        parsedEvent("a", id: "1"), parsedEvent("b"), parsedEvent("c"),
    ]),
    ParserVector("id without data still sets the last event ID", "id: 7\n\ndata: x\n\n", [parsedEvent("x", id: "7")], lastEventID: "7"),
    ParserVector("id after data in the same event", "data: x\nid: 3\n\n", [parsedEvent("x", id: "3")], lastEventID: "3"),
    ParserVector("id keeps extra spaces", "id:  x \ndata\n\n", [parsedEvent("", id: " x ")], lastEventID: " x "),
    ParserVector("id of an undispatched event is not committed", "id: 1\n\nid: 2\ndata: x\n", [], lastEventID: "1"),

    // Comments.
    ParserVector("comments", ":hi\n: there\n:\n:  two\n", [
        .comment("hi"), .comment("there"), .comment(""), .comment(" two"),
    ]),
    ParserVector("comment inside an event", "data: a\n: note\ndata: b\n\n", [.comment("note"), parsedEvent("a\nb")]),
    ParserVector("comment with colons", ": data: x\n\n", [.comment("data: x")]),

    // End of stream.
    ParserVector("incomplete trailing event is discarded", "data: a\n\ndata: b\n", [parsedEvent("a")]),
    ParserVector("unterminated last line is discarded", "data: a\n\ndata: b", [parsedEvent("a")]),
    ParserVector("unterminated comment is discarded", ": hi", []),
    ParserVector("event ended by CR then end of stream is discarded", "data: a\r", []),

    // Examples from the HTML standard.
    ParserVector("spec: stock ticker", "data: YHOO\ndata: +2\ndata: 10\n\n", [parsedEvent("YHOO\n+2\n10")]),
    ParserVector(
        "spec: four blocks",
        ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
        [.comment("test stream"), parsedEvent("first event", id: "1"), parsedEvent("second event"), parsedEvent(" third event")]
    ),
    ParserVector("spec: empty data events", "data\n\ndata\ndata\n\ndata:", [parsedEvent(""), parsedEvent("\n")]),
    ParserVector("spec: space after colon", "data:test\n\ndata: test\n\n", [parsedEvent("test"), parsedEvent("test")]),

    // Encoding.
    ParserVector("unicode", "event: ünï\ndata: héllo 😀 世界\n\n", [parsedEvent("héllo 😀 世界", event: "ünï")]),
    ParserVector("NUL in data and type", "event: a\u{0}b\ndata: c\u{0}d\n\n", [parsedEvent("c\u{0}d", event: "a\u{0}b")]),
    ParserVector(
        "invalid UTF-8 becomes replacement characters",
        bytes: Array("data: ".utf8) + [0xFF, 0x61, 0xE2, 0x82] + Array("\n\n".utf8),
        [parsedEvent("\u{FFFD}a\u{FFFD}")]
    ),
    ParserVector("truncated BOM is not a BOM", bytes: [0xEF, 0xBB] + Array("\ndata: a\n\n".utf8), [parsedEvent("a")]),
]
