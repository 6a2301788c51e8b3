import NIOCore
import ServerSentEvents
import Testing

@Suite("Comment encoding")
struct ServerSentEventCommentTests {
    @Test("encodes comment lines", arguments: [
        WireCase("", ":\n"),
        WireCase("hi", ": hi\n"),
        WireCase(" hi", ":  hi\n"),
        WireCase("a\nb", ": a\n: b\n"),
        WireCase("a\r\nb", ": a\n: b\n"),
        WireCase("a\rb", ": a\n: b\n"),
        WireCase("a\n", ": a\n:\n"),
        WireCase("\r\n", ":\n:\n"),
        WireCase("héllo 😀", ": héllo 😀\n"),
    ])
    func encodes(_ vector: WireCase) {
        let bytes = Array(ServerSentEventComment.encoded(vector.text).readableBytesView)
        #expect(bytes == Array(vector.wire.utf8))
    }

    @Test("line breaks can't inject fields", arguments: [
        "x\ndata: evil",
        "x\rdata: evil",
        "x\r\ndata: evil\n\n",
        "\n\ndata: evil\n\nid: 1\n\n",
        "x\nretry: 1\nevent: e\ndata: evil\r\r",
    ].map { WireCase($0) })
    func injectionStaysAComment(_ vector: WireCase) throws {
        let text = vector.text
        var buffer = ServerSentEventComment.encoded(text)
        buffer.writeString("\n")  // a blank line would dispatch anything injected
        var parser = ServerSentEventParser()
        let elements = try parser.feed(buffer)
        let commentCount = elements.count { if case .comment = $0 { true } else { false } }
        #expect(commentCount > 1)
        #expect(commentCount == elements.count, "only comments, got \(elements)")
        #expect(parser.lastEventID == "")
        #expect(parser.reconnectionTime == nil)
    }

    @Test func injectionAttemptIsEncodedAsTwoComments() {
        #expect(String(buffer: ServerSentEventComment.encoded("x\ndata: evil")) == ": x\n: data: evil\n")
    }

    @Test func commentsParseBackToTheirLines() throws {
        let elements = try parse(String(buffer: ServerSentEventComment.encoded(" a\r\nb:c\r\n"))).elements
        #expect(elements == [.comment(" a"), .comment("b:c"), .comment("")])
    }

    @Test func encodeAppendsToExistingContent() {
        var buffer = ByteBuffer(string: "data: x\n\n")
        ServerSentEventComment.encode("ping", into: &buffer)
        ServerSentEventComment.encode("", into: &buffer)
        #expect(String(buffer: buffer) == "data: x\n\n: ping\n:\n")
    }
}
