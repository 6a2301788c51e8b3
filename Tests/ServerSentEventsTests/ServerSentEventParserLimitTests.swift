import ServerSentEvents
import Testing

@Suite("Parser memory bound")
struct ServerSentEventParserLimitTests {
    @Test func defaultLimitIsSixteenMebibytes() {
        #expect(ServerSentEventParser().maxBufferedBytes == 16 * 1024 * 1024)
    }

    @Test func pendingLineUpToTheLimitIsAccepted() throws {
        var parser = ServerSentEventParser(maxBufferedBytes: 16)
        #expect(try parser.feed("data: 0123456789".utf8) == [])  // 16 bytes, no line end yet
        #expect(try parser.feed("\n\n".utf8) == [parsedEvent("0123456789")])
    }

    @Test func pendingLineBeyondTheLimitThrows() throws {
        var parser = ServerSentEventParser(maxBufferedBytes: 16)
        _ = try parser.feed("data: 01234".utf8)
        #expect(throws: ServerSentEventParser.Error.lineTooLong(limit: 16)) {
            try parser.feed("567890".utf8)
        }
    }

    @Test func completeLineBeyondTheLimitThrows() {
        var parser = ServerSentEventParser(maxBufferedBytes: 16)
        #expect(throws: ServerSentEventParser.Error.lineTooLong(limit: 16)) {
            try parser.feed(": 0123456789abcde\n".utf8)
        }
    }

    @Test func longLineThrowsHoweverItIsSplit() {
        let input = Array("data: ok\n\n: this comment is far too long\n\n".utf8)
        for cut in 0...input.count {
            var parser = ServerSentEventParser(maxBufferedBytes: 20)
            #expect(throws: ServerSentEventParser.Error.lineTooLong(limit: 20), "split at \(cut)") {
                _ = try parser.feed(input[..<cut])
                _ = try parser.feed(input[cut...])
            }
        }
    }

    @Test func eventDataBeyondTheLimitThrows() throws {
        var parser = ServerSentEventParser(maxBufferedBytes: 16)
        #expect(try parser.feed("data: 0123456\ndata: 0123456\n".utf8) == [])  // 16 bytes of data buffer
        #expect(throws: ServerSentEventParser.Error.eventTooLarge(limit: 16)) {
            try parser.feed("data:\n".utf8)
        }
    }

    @Test func dataBufferIsResetByEachEvent() throws {
        var parser = ServerSentEventParser(maxBufferedBytes: 16)
        var count = 0
        for _ in 0..<100 {
            count += try parser.feed("data: 0123456\n\n".utf8).count
        }
        #expect(count == 100)
    }

    @Test func failedParserKeepsFailingUntilFinished() throws {
        var parser = ServerSentEventParser(maxBufferedBytes: 8)
        #expect(throws: ServerSentEventParser.Error.lineTooLong(limit: 8)) {
            try parser.feed("data: 0123456789".utf8)
        }
        #expect(throws: ServerSentEventParser.Error.lineTooLong(limit: 8)) {
            try parser.feed("\n\n".utf8)
        }
        #expect(parser.finish() == [])
        #expect(try parser.feed("data: ok\n\n".utf8) == [parsedEvent("ok")])
    }
}
