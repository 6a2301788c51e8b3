import NIOCore
import ServerSentEvents
import Testing

@Suite("Event validation")
struct ServerSentEventEncodingErrorTests {
    static let invalidEvents: [(ServerSentEvent, ServerSentEventEncodingError)] = [
        (ServerSentEvent(data: "x", id: "a\nb"), .invalidID("a\nb")),
        (ServerSentEvent(data: "x", id: "a\rb"), .invalidID("a\rb")),
        (ServerSentEvent(data: "x", id: "a\r\nb"), .invalidID("a\r\nb")),
        (ServerSentEvent(data: "x", id: "a\u{0}b"), .invalidID("a\u{0}b")),
        (ServerSentEvent(data: "x", id: "\n"), .invalidID("\n")),
        (ServerSentEvent(data: "x", event: "a\nb"), .invalidEventType("a\nb")),
        (ServerSentEvent(data: "x", event: "a\rb"), .invalidEventType("a\rb")),
        (ServerSentEvent(data: "x", event: "x\ndata: evil"), .invalidEventType("x\ndata: evil")),
        (ServerSentEvent(data: "x", retry: -1), .invalidRetry(-1)),
        (ServerSentEvent(data: "x", retry: Int.min), .invalidRetry(Int.min)),
    ]

    @Test("validate reports the problem", arguments: invalidEvents)
    func validateThrows(event: ServerSentEvent, error: ServerSentEventEncodingError) {
        #expect(throws: error) { try event.validate() }
    }

    @Test("encode throws and writes nothing", arguments: invalidEvents)
    func encodeWritesNothing(event: ServerSentEvent, error: ServerSentEventEncodingError) {
        var buffer = ByteBuffer(string: "before")
        #expect(throws: error) { try event.encode(into: &buffer) }
        #expect(buffer == ByteBuffer(string: "before"))
        #expect(throws: error) { try event.encoded() }
    }

    @Test func validEventsPass() throws {
        try ServerSentEvent().validate()
        try ServerSentEvent(data: "a\nb\r\nc\rd", event: "t\u{0}", id: "", retry: 0).validate()
        #expect(try ServerSentEvent(data: "a\nb").encoded().readableBytes > 0)
    }

    @Test func descriptionsExplainTheProblem() {
        #expect(ServerSentEventEncodingError.invalidID("a\nb").description.contains("\"a\\nb\""))
        #expect(ServerSentEventEncodingError.invalidID("x").description.contains("NUL"))
        #expect(ServerSentEventEncodingError.invalidEventType("x").description.contains("type"))
        #expect(ServerSentEventEncodingError.invalidRetry(-3).description.contains("-3"))
    }
}
