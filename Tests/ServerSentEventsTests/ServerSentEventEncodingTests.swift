import NIOCore
import ServerSentEvents
import Testing

@Suite("Event encoding")
struct ServerSentEventEncodingTests {
    @Test("encodes data-only events", arguments: [
        WireCase("hello", "data: hello\n\n"),
        WireCase("", "data: \n\n"),
        WireCase("a\nb", "data: a\ndata: b\n\n"),
        WireCase("a\r\nb", "data: a\ndata: b\n\n"),
        WireCase("a\rb", "data: a\ndata: b\n\n"),
        WireCase("a\r\nb\rc\nd", "data: a\ndata: b\ndata: c\ndata: d\n\n"),
        WireCase("a\n", "data: a\ndata: \n\n"),
        WireCase("\n", "data: \ndata: \n\n"),
        WireCase("\r\n\r\n", "data: \ndata: \ndata: \n\n"),
        WireCase("\r\r\n\n", "data: \ndata: \ndata: \ndata: \n\n"),
        WireCase("\na", "data: \ndata: a\n\n"),
        WireCase(" lead", "data:  lead\n\n"),
        WireCase("a: b", "data: a: b\n\n"),
        WireCase("id: 1", "data: id: 1\n\n"),
        WireCase("héllo 😀 世界", "data: héllo 😀 世界\n\n"),
        WireCase("e\u{301}\r\n😀", "data: e\u{301}\ndata: 😀\n\n"),
    ])
    func dataOnly(_ vector: WireCase) throws {
        let bytes = Array(try ServerSentEvent(data: vector.text).encoded().readableBytesView)
        #expect(bytes == Array(vector.wire.utf8))
    }

    @Test func writesFieldsInOrder() throws {
        let event = ServerSentEvent(data: "x", event: "add", id: "7", retry: 1000)
        #expect(try event.encodedString() == "id: 7\nevent: add\nretry: 1000\ndata: x\n\n")
    }

    @Test func writesRetry() throws {
        #expect(try ServerSentEvent(retry: 0).encodedString() == "retry: 0\ndata: \n\n")
        #expect(try ServerSentEvent(retry: Int.max).encodedString() == "retry: 9223372036854775807\ndata: \n\n")
        for retry in [1, 9, 10, 99, 100, 999, 1_000, 65_535, 123_456_789] {
            #expect(try ServerSentEvent(retry: retry).encodedString() == "retry: \(retry)\ndata: \n\n")
        }
    }

    @Test func findsLineBreaksAtEveryOffset() throws {
        for offset in 0..<24 {
            for lineBreak in ["\n", "\r", "\r\n"] {
                let before = String(repeating: "a", count: offset)
                let after = String(repeating: "b", count: 17)
                let encoded = try ServerSentEvent(data: before + lineBreak + after).encodedString()
                #expect(encoded == "data: \(before)\ndata: \(after)\n\n", "offset \(offset)")
            }
        }
    }

    @Test func emptyIDIsWrittenBecauseItResetsTheLastEventID() throws {
        #expect(try ServerSentEvent(data: "x", id: "").encodedString() == "id: \ndata: x\n\n")
    }

    @Test func emptyEventTypeIsOmitted() throws {
        #expect(try ServerSentEvent(data: "x", event: "").encodedString() == "data: x\n\n")
    }

    @Test func unicodeFieldsAreWrittenAsUTF8() throws {
        let event = ServerSentEvent(data: "ü", event: "ëvent", id: "ïd-😀")
        let bytes = Array(try event.encoded().readableBytesView)
        #expect(bytes == Array("id: ïd-😀\nevent: ëvent\ndata: ü\n\n".utf8))
    }

    @Test func allowedOddCharactersAreAccepted() throws {
        let event = ServerSentEvent(data: "\u{0}", event: "a\u{0}b", id: " spaced ")
        #expect(try event.encodedString() == "id:  spaced \nevent: a\u{0}b\ndata: \u{0}\n\n")
    }

    @Test func encodeAppendsToExistingContent() throws {
        var buffer = ByteBuffer(string: "prefix|")
        try ServerSentEvent(data: "a").encode(into: &buffer)
        try ServerSentEvent(data: "b", id: "2").encode(into: &buffer)
        #expect(String(buffer: buffer) == "prefix|data: a\n\nid: 2\ndata: b\n\n")
    }

    @Test func encodedMatchesEncodeInto() throws {
        let event = ServerSentEvent(data: "line1\r\nline2", event: "t", id: "9", retry: 5)
        var buffer = ByteBuffer()
        try event.encode(into: &buffer)
        #expect(try event.encoded(allocator: ByteBufferAllocator()) == buffer)
    }

    @Test func largeDataIsEncodedExactly() throws {
        let line = String(repeating: "x", count: 10_000)
        let data = Array(repeating: line, count: 50).joined(separator: "\r\n")
        let encoded = try ServerSentEvent(data: data).encodedString()
        let expected = Array(repeating: "data: \(line)\n", count: 50).joined() + "\n"
        #expect(encoded == expected)
    }
}
