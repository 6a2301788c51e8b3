import NIOCore
import ServerSentEvents
import Testing

@Suite("Parser")
struct ServerSentEventParserTests {
    @Test("spec vectors fed whole", arguments: parserVectors)
    func vector(_ vector: ParserVector) throws {
        #expect(try parse(vector.input) == vector.expectedOutcome)
    }

    @Test("every input type gives the same result", arguments: parserVectors)
    func inputTypes(_ vector: ParserVector) throws {
        let expected = vector.expected

        var fromArray = ServerSentEventParser()
        #expect(try fromArray.feed(vector.input) + fromArray.finish() == expected)

        var fromBuffer = ServerSentEventParser()
        #expect(try fromBuffer.feed(ByteBuffer(bytes: vector.input)) + fromBuffer.finish() == expected)

        var fromRawPointer = ServerSentEventParser()
        let rawResult = try vector.input.withUnsafeBytes { bytes throws(ServerSentEventParser.Error) in
            try fromRawPointer.feed(bytes)
        }
        #expect(rawResult + fromRawPointer.finish() == expected)

        var fromUTF8View = ServerSentEventParser()
        let text = String(decoding: vector.input, as: UTF8.self)
        if Array(text.utf8) == vector.input {
            #expect(try fromUTF8View.feed(text.utf8) + fromUTF8View.finish() == expected)
        }

        var fromNonContiguous = ServerSentEventParser()
        #expect(try fromNonContiguous.feed(vector.input.lazy.map { $0 }) + fromNonContiguous.finish() == expected)
    }

    @Test func byteBufferFeedReadsOnlyReadableBytes() throws {
        var buffer = ByteBuffer(string: "data: skipped\n\ndata: read\n\n")
        buffer.moveReaderIndex(forwardBy: "data: skipped\n\n".utf8.count)
        var parser = ServerSentEventParser()
        #expect(try parser.feed(buffer) == [parsedEvent("read")])
    }

    @Test func crAtEndOfChunkAndLFAtStartOfNextIsOneLineEnd() throws {
        var parser = ServerSentEventParser()
        #expect(try parser.feed("data: a\r".utf8) == [])
        #expect(try parser.feed([UInt8]()) == [])
        #expect(try parser.feed("\ndata: b\r".utf8) == [])
        #expect(try parser.feed("\n".utf8) == [])
        #expect(try parser.feed("\r\n".utf8) == [parsedEvent("a\nb")])
    }

    @Test func stateIsExposed() throws {
        var parser = ServerSentEventParser()
        #expect(parser.lastEventID == "")
        #expect(parser.reconnectionTime == nil)
        _ = try parser.feed("retry: 250\nid: 42\n".utf8)
        #expect(parser.reconnectionTime == 250)
        #expect(parser.lastEventID == "", "the ID is committed only by a blank line")
        _ = try parser.feed("\n".utf8)
        #expect(parser.lastEventID == "42")
    }

    @Test func finishDiscardsThePendingEventAndStartsANewStream() throws {
        var parser = ServerSentEventParser()
        #expect(try parser.feed("retry: 9\nid: 1\ndata: a\n\nid: 2\nevent: t\ndata: b\n".utf8).count == 2)
        #expect(parser.finish() == [])
        #expect(parser.lastEventID == "1")
        #expect(parser.reconnectionTime == 9)

        // A new stream: its BOM is stripped, nothing of the discarded event leaks in,
        // and the committed last event ID carries over.
        #expect(try parser.feed("\u{FEFF}data: c\n\n".utf8) == [parsedEvent("c", id: "1")])
    }

    @Test func finishForgetsAPendingCR() throws {
        var parser = ServerSentEventParser()
        _ = try parser.feed("data: a\r".utf8)
        _ = parser.finish()
        #expect(try parser.feed("\ndata: b\n\n".utf8) == [parsedEvent("b")])
    }

    @Test func bomIsStrippedOnlyAtTheStartOfTheStream() throws {
        var parser = ServerSentEventParser()
        #expect(try parser.feed("data: a\n\n".utf8) == [parsedEvent("a")])
        #expect(try parser.feed("\u{FEFF}data: b\n\n".utf8) == [])
    }

    @Test func describesErrors() {
        #expect(ServerSentEventParser.Error.lineTooLong(limit: 5).description.contains("5"))
        #expect(ServerSentEventParser.Error.eventTooLarge(limit: 7).description.contains("7"))
    }
}
