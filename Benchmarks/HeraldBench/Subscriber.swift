import NIOCore
import Synchronization

/// What the subscribers of one event loop counted. Touched only on that loop, except
/// `deliveredShared`, which the publisher side may read for flow control.
final class LoopStats: @unchecked Sendable {
    let loop: any EventLoop
    var subscribers: [SubscriberHandler] = []
    var delivered = 0
    var reordered = 0
    var duplicates = 0
    var lastReceive: UInt64 = 0
    var latency = LatencyHistogram()
    let deliveredShared = Atomic<Int>(0)

    init(loop: any EventLoop) {
        self.loop = loop
    }
}

/// One SSE subscriber, parsing the raw byte stream itself: the HTTP response head, chunked
/// framing, and just enough SSE to find each event's `data:` line and the blank line that ends
/// the event. The data is `publisher_sequence_timestampNs`; nothing is allocated per event.
final class SubscriberHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case head
        case chunkSize
        case chunkExtension
        case chunkData
        case chunkDataEnd
        case identity
        case finished
    }

    let stats: LoopStats
    private let request: ByteBuffer
    private var ready: EventLoopPromise<Void>?

    /// Events received, and per publisher the highest sequence seen (-1: none).
    private(set) var received = 0
    private var lastSequence: [Int]
    private(set) var isClosed = false
    private(set) var status = 0
    private var channel: (any Channel)?

    private var phase = Phase.head
    private var head: [UInt8] = []
    private var chunkRemaining = 0
    private var chunkSizeDigits = 0

    // SSE scanner state.
    private var atLineStart = true
    private var prefixMatched = 0  // bytes of "data:" matched; -1 when the line is something else
    private var field = 0
    private var values: (Int, Int, Int) = (0, 0, 0)
    private var eventValues: (Int, Int, Int) = (0, 0, 0)
    private var eventHasData = false
    private var now: UInt64 = 0

    init(stats: LoopStats, request: ByteBuffer, publishers: Int, ready: EventLoopPromise<Void>) {
        self.stats = stats
        self.request = request
        self.ready = ready
        self.lastSequence = Array(repeating: -1, count: max(publishers, 1))
    }

    func channelActive(context: ChannelHandlerContext) {
        channel = context.channel
        stats.subscribers.append(self)
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        fail("connection closed before the response head")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("\(error)")
        context.close(promise: nil)
    }

    /// Closes the connection (end of the run).
    func close() {
        guard !isClosed else { return }
        channel?.close(promise: nil)
    }

    /// Gives up on a subscriber that got no response head in time (or could not connect).
    func timeOut() {
        guard ready != nil else { return }
        fail("no response head in time")
        channel?.close(promise: nil)
    }

    private func fail(_ reason: String) {
        guard let ready else { return }
        self.ready = nil
        ready.fail(SubscribeFailure(reason: reason))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        now = monotonicNanoseconds()
        let before = received
        buffer.withUnsafeReadableBytes { bytes in consume(bytes) }
        let count = received - before
        if count > 0 {
            stats.delivered &+= count
            stats.lastReceive = now
            stats.deliveredShared.add(count, ordering: .relaxed)
        }
        if phase == .finished { context.close(promise: nil) }
    }

    private func consume(_ bytes: UnsafeRawBufferPointer) {
        var index = 0
        let end = bytes.count
        while index < end {
            switch phase {
            case .head:
                // Only once per connection: collect up to the blank line.
                head.append(bytes[index])
                index += 1
                if head.count >= 4 && head[head.count - 4] == 13 && head[head.count - 3] == 10
                    && head[head.count - 2] == 13 && head[head.count - 1] == 10
                {
                    finishHead()
                } else if head.count > 16_384 {
                    fail("response head too large")
                    phase = .finished
                }
            case .chunkSize:
                let byte = bytes[index]
                index += 1
                if let digit = Self.hexValue(byte) {
                    chunkRemaining = chunkRemaining * 16 + digit
                    chunkSizeDigits += 1
                } else if byte == 10 {
                    if chunkSizeDigits == 0 { continue }  // the CRLF after a chunk's data
                    if chunkRemaining == 0 {
                        phase = .finished
                    } else {
                        phase = .chunkData
                    }
                } else if byte != 13 {
                    phase = .chunkExtension
                }
            case .chunkExtension:
                if bytes[index] == 10 {
                    phase = chunkRemaining == 0 ? .finished : .chunkData
                }
                index += 1
            case .chunkData:
                let take = min(chunkRemaining, end - index)
                scan(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]))
                index += take
                chunkRemaining -= take
                if chunkRemaining == 0 {
                    phase = .chunkSize
                    chunkSizeDigits = 0
                }
            case .chunkDataEnd:
                phase = .chunkSize
            case .identity:
                scan(UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
                index = end
            case .finished:
                return
            }
        }
    }

    private func finishHead() {
        let text = String(decoding: head, as: UTF8.self)
        head = []
        let statusLine = text.prefix { $0 != "\r" }
        let parts = statusLine.split(separator: " ")
        status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        guard status == 200 else {
            fail("status \(status)")
            phase = .finished
            return
        }
        let chunked = text.lowercased().contains("transfer-encoding: chunked")
        phase = chunked ? .chunkSize : .identity
        chunkRemaining = 0
        chunkSizeDigits = 0
        if let ready {
            self.ready = nil
            ready.succeed(())
        }
    }

    @inline(__always)
    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 48...57: return Int(byte - 48)
        case 97...102: return Int(byte - 87)
        case 65...70: return Int(byte - 55)
        default: return nil
        }
    }

    /// The SSE scanner: a `data:` line's digits go to up to three numbers separated by any
    /// other character; a blank line ends the event. State lives in locals while scanning.
    @inline(__always)
    private func scan(_ bytes: UnsafeRawBufferPointer) {
        var atLineStart = self.atLineStart
        var prefixMatched = self.prefixMatched
        var field = self.field
        var v0 = values.0, v1 = values.1, v2 = values.2
        var eventHasData = self.eventHasData
        var e0 = eventValues.0, e1 = eventValues.1, e2 = eventValues.2
        for byte in bytes {
            if byte == 10 {
                if atLineStart {
                    if eventHasData {
                        event(e0, e1, e2)
                        eventHasData = false
                    }
                } else {
                    if prefixMatched == 5 {
                        eventHasData = true
                        e0 = v0
                        e1 = v1
                        e2 = v2
                    }
                    atLineStart = true
                }
                continue
            }
            if byte == 13 { continue }
            if atLineStart {
                atLineStart = false
                prefixMatched = 0
                field = 0
                v0 = 0
                v1 = 0
                v2 = 0
            }
            if prefixMatched == 5 {
                if byte &- 48 < 10 {
                    let digit = Int(byte &- 48)
                    if field == 0 {
                        v0 = v0 &* 10 &+ digit
                    } else if field == 1 {
                        v1 = v1 &* 10 &+ digit
                    } else {
                        v2 = v2 &* 10 &+ digit
                    }
                } else if byte != 32 {
                    field += 1
                }
            } else if prefixMatched >= 0 {
                let expected: UInt8
                switch prefixMatched {
                case 0: expected = 100  // d
                case 1: expected = 97  // a
                case 2: expected = 116  // t
                case 3: expected = 97  // a
                default: expected = 58  // :
                }
                prefixMatched = byte == expected ? prefixMatched + 1 : -1
            }
        }
        self.atLineStart = atLineStart
        self.prefixMatched = prefixMatched
        self.field = field
        self.values = (v0, v1, v2)
        self.eventHasData = eventHasData
        self.eventValues = (e0, e1, e2)
    }

    @inline(__always)
    private func event(_ publisher: Int, _ sequence: Int, _ timestamp: Int) {
        received &+= 1
        if publisher >= 0 && publisher < lastSequence.count {
            let last = lastSequence[publisher]
            if sequence > last {
                lastSequence[publisher] = sequence
            } else if sequence == last {
                stats.duplicates &+= 1
            } else {
                stats.reordered &+= 1
            }
        }
        let sent = UInt64(truncatingIfNeeded: timestamp)
        if sent > 0 && sent <= now {
            stats.latency.record(nanoseconds: now - sent)
        }
    }
}

struct SubscribeFailure: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
