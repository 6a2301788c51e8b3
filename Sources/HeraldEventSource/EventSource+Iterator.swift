import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import ServerSentEvents

extension EventSource {
    /// One subscription: a connection at a time, reconnecting until the task is cancelled, the
    /// iterator is dropped (both close the connection) or a fatal answer ends it (thrown).
    public struct Iterator: AsyncIteratorProtocol {
        let source: EventSource
        /// One parser for the whole subscription: `finish()` between connections keeps the last
        /// event id and the reconnection time, as the standard's single EventSource object does.
        var parser: ServerSentEventParser
        /// Events parsed but not yet returned.
        var pending: [Event] = []
        var pendingIndex = 0
        /// The open connection's body; dropping it cancels the request and closes the connection.
        var body: HTTPClientResponse.Body.AsyncIterator?
        /// Set after a connection ended: wait this long before the next attempt.
        var wait: Duration?
        /// Attempts in a row that delivered no event (the current one included).
        var failures = 0
        var deliveredOnThisConnection = false
        var token: CachedToken?
        /// A fatal error was thrown, or the task was cancelled: the sequence is over.
        var finished = false

        init(source: EventSource) {
            self.source = source
            self.parser = ServerSentEventParser(
                maxBufferedBytes: source.configuration.maxBufferedBytes,
                lastEventID: source.configuration.lastEventID
            )
        }

        /// The last event id in force: what the next reconnection sends as `Last-Event-ID`.
        public var lastEventID: String { self.parser.lastEventID }

        public mutating func next() async throws -> Event? {
            while true {
                if self.pendingIndex < self.pending.count {
                    let event = self.pending[self.pendingIndex]
                    self.pendingIndex += 1
                    if self.pendingIndex == self.pending.count {
                        self.pending.removeAll(keepingCapacity: true)
                        self.pendingIndex = 0
                    }
                    return event
                }
                if self.finished { return nil }
                do {
                    if self.body != nil {
                        try await self.read()
                    } else {
                        if let wait = self.wait {
                            self.wait = nil
                            if wait > .zero { try await Task.sleep(for: wait) }
                        }
                        try await self.connect()
                    }
                } catch {
                    self.finished = true
                    self.body = nil
                    throw error
                }
            }
        }

        /// Reads the next chunk of the open stream into `pending`, or handles its end.
        private mutating func read() async throws {
            guard var body = self.body else { return }
            let chunk: ByteBuffer?
            do {
                chunk = try await body.next()
            } catch {
                try Task.checkCancellation()
                try self.connectionEnded(reason: "the connection failed: \(error)")
                return
            }
            guard let chunk else {
                try Task.checkCancellation()  // a cancelled read may end the body rather than throw
                try self.connectionEnded(reason: "the server ended the stream")
                return
            }
            self.body = body
            let elements: [ServerSentEventParser.Element]
            do {
                elements = try self.parser.feed(chunk)
            } catch {
                throw EventSourceError.streamFormat(error)
            }
            for element in elements {
                guard case .event(let event) = element else { continue }  // retry: kept by the parser
                self.deliveredOnThisConnection = true
                if event.event == EventSource.heraldGapEventType {
                    self.pending.append(.gap(HeraldGap(data: event.data)))
                } else {
                    self.pending.append(.message(event))
                }
            }
        }

        /// The connection is over (or was never made): drop it and schedule the next attempt.
        mutating func connectionEnded(reason: String) throws {
            self.body = nil
            _ = self.parser.finish()
            if self.deliveredOnThisConnection {
                self.failures = 0
            } else {
                self.failures += 1
            }
            self.deliveredOnThisConnection = false
            if let limit = self.source.configuration.maxAttempts, self.failures >= limit {
                throw EventSourceError.gaveUp(attempts: self.failures, reason: reason)
            }
            let base = self.parser.reconnectionTime.map { Duration.milliseconds($0) } ?? self.source.configuration.reconnectionTime
            let delay = self.source.configuration.backoff.delay(base: base, failures: self.failures, random: .random(in: 0...1))
            self.wait = delay
            self.pending.append(.reconnecting(after: delay, reason: reason))
        }    }
}
