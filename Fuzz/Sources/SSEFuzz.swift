#if Fuzzing
import NIOCore
import ServerSentEvents

/// The `text/event-stream` parser and encoders.
///
/// Input: a mode byte, a chunking seed, then the stream (or, in encoder mode, an event's fields).
/// Properties:
/// - the same bytes fed in any chunks (as arrays or as `ByteBuffer`s) give the same elements,
///   the same failure and the same last event ID as fed at once;
/// - every element the parser produced, encoded again (`ServerSentEvent.encode`,
///   `ServerSentEventComment.encode`), parses back to itself;
/// - any valid event encodes (the encoder's size `assert` holds) and parses back to itself, with
///   its line breaks normalised to LF.
enum SSEFuzz {
    @Sendable static func run(_ data: [UInt8]) {
        var input = FuzzInput(data)
        let mode = input.byte()
        let seed = input.byte()
        if mode & 0x80 != 0 {
            encoderRoundTrip(&input)
            return
        }
        // Small limits now and then, so the limit paths are split-checked too.
        let limit = mode & 1 == 0 ? 16 * 1024 * 1024 : Int(mode >> 1 & 0x3F) + 1
        let stream = input.rest()

        let whole = parse([stream], limit: limit)
        let split = parse(chunks(stream, sizes: chunkSizes(count: stream.count, seed: seed)), limit: limit)
        require(whole.failure == split.failure, "failure differs: \(String(describing: whole.failure)) vs \(String(describing: split.failure)); stream \(hex(stream))")
        if whole.failure == nil {
            require(whole.elements == split.elements, "elements differ by chunking: \(whole.elements) vs \(split.elements); stream \(hex(stream))")
            require(whole.lastEventID == split.lastEventID, "lastEventID differs by chunking")
            require(whole.reconnectionTime == split.reconnectionTime, "reconnectionTime differs by chunking")
        }
        if stream.count <= 64 {
            let byteByByte = parse(stream.map { [$0][...] }, limit: limit)
            require(whole.failure == byteByByte.failure, "failure differs byte by byte; stream \(hex(stream))")
            if whole.failure == nil {
                require(whole.elements == byteByByte.elements, "elements differ byte by byte; stream \(hex(stream))")
            }
        }
        for element in whole.elements { reparse(element) }
    }

    private struct Outcome {
        var elements: [ServerSentEventParser.Element] = []
        var failure: ServerSentEventParser.Error?
        var lastEventID = ""
        var reconnectionTime: Int?
    }

    /// Feeds `pieces` in turn, alternating the array and `ByteBuffer` entry points.
    private static func parse(_ pieces: [ArraySlice<UInt8>], limit: Int) -> Outcome {
        var parser = ServerSentEventParser(maxBufferedBytes: limit)
        var outcome = Outcome()
        for (index, piece) in pieces.enumerated() {
            do {
                if index % 2 == 0 {
                    outcome.elements += try parser.feed(piece)
                } else {
                    outcome.elements += try parser.feed(ByteBuffer(bytes: piece))
                }
            } catch {
                outcome.failure = error
                break
            }
        }
        outcome.lastEventID = parser.lastEventID
        outcome.reconnectionTime = parser.reconnectionTime
        return outcome
    }

    /// Encodes what the parser produced and checks a fresh parser reads back the same.
    private static func reparse(_ element: ServerSentEventParser.Element) {
        var buffer = ByteBuffer()
        let expected: [ServerSentEventParser.Element]
        switch element {
        case .event(let event):
            do {
                try event.encode(into: &buffer)
            } catch {
                require(false, "a parsed event does not encode: \(event): \(error)")
            }
            expected = [.event(event)]
        case .comment(let text):
            ServerSentEventComment.encode(text, into: &buffer)
            expected = [.comment(text)]
        case .retry(let milliseconds):
            do {
                try ServerSentEvent(retry: milliseconds).encode(into: &buffer)
            } catch {
                require(false, "a parsed retry does not encode: \(milliseconds)")
            }
            expected = [.retry(milliseconds), .event(ServerSentEvent())]
        }
        var parser = ServerSentEventParser()
        let reparsed = try? parser.feed(buffer)
        require(reparsed == expected, "\(element) encoded as \(hex(buffer.readableBytesView)) parses as \(String(describing: reparsed))")
    }

    /// Builds an event from the input, and if it is valid checks that it encodes and parses back.
    private static func encoderRoundTrip(_ input: inout FuzzInput) {
        let flags = input.byte()
        let id = flags & 1 != 0 ? String(decoding: input.field(), as: UTF8.self) : nil
        let type = flags & 2 != 0 ? String(decoding: input.field(), as: UTF8.self) : nil
        let retry = flags & 4 != 0 ? Int(input.byte()) << 8 | Int(input.byte()) : nil
        let data = String(decoding: input.rest(), as: UTF8.self)
        let event = ServerSentEvent(data: data, event: type, id: id, retry: retry)
        let buffer: ByteBuffer
        do {
            buffer = try event.encoded()
        } catch {
            // Only what cannot be written faithfully is refused.
            let faithful =
                !(id ?? "").utf8.contains { $0 == 13 || $0 == 10 || $0 == 0 }
                && !(type ?? "").utf8.contains { $0 == 13 || $0 == 10 }
            require(!faithful, "a faithful event was refused: \(event): \(error)")
            return
        }
        var parser = ServerSentEventParser()
        let parsed = try? parser.feed(buffer)
        var expectedEvent = ServerSentEvent(
            data: normalisingLineBreaks(data),
            event: type?.isEmpty == false ? type : nil,
            id: id?.isEmpty == false ? id : nil
        )
        expectedEvent.retry = nil
        let expected: [ServerSentEventParser.Element] = (retry.map { [.retry($0)] } ?? []) + [.event(expectedEvent)]
        require(parsed == expected, "\(event) encoded as \(hex(buffer.readableBytesView)) parses as \(String(describing: parsed))")
        var comment = ByteBuffer()
        ServerSentEventComment.encode(data, into: &comment)
        var commentParser = ServerSentEventParser()
        let comments = try? commentParser.feed(comment)
        let lines = normalisingLineBreaks(data).split(separator: "\n", omittingEmptySubsequences: false)
        require(comments == lines.map { .comment(String($0)) }, "comment \(data.debugDescription) parses as \(String(describing: comments))")
    }

    /// CRLF and CR become LF, as the wire format reads them.
    private static func normalisingLineBreaks(_ text: String) -> String {
        var bytes: [UInt8] = []
        var previousCR = false
        for byte in text.utf8 {
            if byte == 10, previousCR {
                previousCR = false
                continue
            }
            previousCR = byte == 13
            bytes.append(byte == 13 ? 10 : byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
#endif
