import NIOCore

/// Incremental parser implementing the WHATWG "event stream interpretation" algorithm.
///
/// Feed it the bytes of a `text/event-stream` in chunks of any size, as they arrive; it returns
/// what each chunk completed. Memory is bounded by `maxBufferedBytes`.
public struct ServerSentEventParser: Sendable {
    /// Something the stream produced, in stream order.
    public enum Element: Sendable, Hashable {
        /// A dispatched event. Its `retry` is always `nil`: retry fields arrive as `.retry`.
        /// Its `id` is the last event ID in force (it persists across events), `nil` if empty.
        case event(ServerSentEvent)
        /// A comment line's text, after the colon and one optional space.
        case comment(String)
        /// A valid `retry` field: the new reconnection time in milliseconds.
        case retry(Int)
    }

    /// Why the parser gave up; the stream is then broken and should be closed.
    public enum Error: Swift.Error, Hashable, CustomStringConvertible {
        /// A single line grew beyond the limit.
        case lineTooLong(limit: Int)
        /// The data of one event grew beyond the limit.
        case eventTooLarge(limit: Int)

        /// A human-readable explanation, suitable for logs.
        public var description: String {
            switch self {
            case .lineTooLong(let limit):
                "server-sent event stream line longer than \(limit) bytes"
            case .eventTooLarge(let limit):
                "server-sent event data larger than \(limit) bytes"
            }
        }
    }

    /// The most bytes the parser holds for one pending line or one event's data.
    public let maxBufferedBytes: Int

    /// The ID of the last dispatched event, kept across events, per spec; what a client sends as
    /// `Last-Event-ID` when it reconnects. Empty means none.
    public internal(set) var lastEventID: String = ""

    /// The reconnection time in milliseconds from the last valid `retry` field, if any.
    public internal(set) var reconnectionTime: Int?

    // Line splitting state.
    /// Bytes of a line whose end hasn't arrived yet.
    var pendingLine: [UInt8] = []
    /// The previous chunk ended with CR, so an LF starting the next chunk belongs to that line end.
    var skipLeadingLF = false
    /// No line has been completed yet, so a leading BOM must still be stripped.
    var atStreamStart = true

    // Event buffers, as named by the spec.
    var dataBuffer: [UInt8] = []
    var eventTypeBuffer = ""
    var lastEventIDBuffer = ""

    /// Set once a limit is exceeded; every later `feed` throws it.
    var failure: Error?

    /// Creates a parser for a new stream; `maxBufferedBytes` bounds memory against a hostile or broken peer.
    ///
    /// `lastEventID` starts the stream with a last event ID already in force, as a client that
    /// resumes from an ID it was given (not one it read) does: events without an `id` field carry
    /// it until the stream sets or resets it.
    public init(maxBufferedBytes: Int = 16 * 1024 * 1024, lastEventID: String = "") {
        precondition(maxBufferedBytes > 0, "maxBufferedBytes must be positive")
        self.maxBufferedBytes = maxBufferedBytes
        self.lastEventID = lastEventID
        self.lastEventIDBuffer = lastEventID
    }

    /// Parses the next chunk of the stream and returns the elements it completed.
    ///
    /// Contiguous sequences (`[UInt8]`, `UnsafeRawBufferPointer`, `String.UTF8View`, ...) are read
    /// in place. On error, elements completed earlier in the same chunk are lost and the parser
    /// stays failed until `finish()`.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(Error) -> [Element] {
        if let failure { throw failure }
        var elements: [Element] = []
        let readInPlace: Void? = bytes.withContiguousStorageIfAvailable { chunk in
            self.consume(UnsafeRawBufferPointer(chunk), into: &elements)
        }
        if readInPlace == nil {
            Array(bytes).withUnsafeBytes { chunk in
                self.consume(chunk, into: &elements)
            }
        }
        if let failure { throw failure }
        return elements
    }

    /// Parses the readable bytes of `buffer` (without moving its reader index) and returns the elements they completed.
    public mutating func feed(_ buffer: ByteBuffer) throws(Error) -> [Element] {
        if let failure { throw failure }
        var elements: [Element] = []
        buffer.withUnsafeReadableBytes { chunk in
            self.consume(chunk, into: &elements)
        }
        if let failure { throw failure }
        return elements
    }

    /// End of stream: per spec an incomplete event is discarded.
    ///
    /// An unterminated last line is discarded too. The parser is then ready for a new stream
    /// (e.g. after reconnecting): `lastEventID` and `reconnectionTime` are kept, as EventSource does.
    public mutating func finish() -> [Element] {
        self.pendingLine = []
        self.skipLeadingLF = false
        self.atStreamStart = true
        self.dataBuffer = []
        self.eventTypeBuffer = ""
        self.lastEventIDBuffer = self.lastEventID
        self.failure = nil
        return []
    }
}
