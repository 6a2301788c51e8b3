import NIOCore
import NIOHTTP1

/// How a publish request is written.
enum PublishFormat: String, CaseIterable, Sendable {
    /// Herald / Mercure: `topic=T&data=...` as application/x-www-form-urlencoded.
    case mercure
    /// nchan: the raw message as the body.
    case raw
}

/// One keep-alive publishing connection: one request in flight at a time, so the order this
/// connection's sequence numbers reach the server is the order it published them.
final class PublisherHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let index: Int
    private let head: HTTPRequestHead
    private let format: PublishFormat
    private let topic: String
    private let padding: String
    private var context: ChannelHandlerContext?

    private(set) var nextSequence = 0
    private(set) var acknowledged = 0
    private(set) var refused = 0
    private(set) var lastRefusal: HTTPResponseStatus?
    private(set) var inFlight = false
    private(set) var isClosed = false
    private var sentAt: UInt64 = 0
    private var status: HTTPResponseStatus = .ok
    var responseLatency = LatencyHistogram()
    /// Called on the loop after every response (and when the connection closes).
    var onResponse: ((PublisherHandler) -> Void)?

    init(index: Int, host: String, path: String, format: PublishFormat, topic: String, dataBytes: Int) {
        self.index = index
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(
            name: "Content-Type",
            value: format == .mercure ? "application/x-www-form-urlencoded" : "text/plain"
        )
        headers.add(name: "Content-Length", value: "0")
        self.head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
        self.format = format
        self.topic = topic
        self.padding = dataBytes > 0 ? "_" + String(repeating: "x", count: dataBytes) : ""
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Sends the next update; data is `index_sequence_timestampNs`.
    func send() {
        guard let context, !inFlight, !isClosed else { return }
        inFlight = true
        sentAt = monotonicNanoseconds()
        let data = "\(index)_\(nextSequence)_\(sentAt)\(padding)"
        nextSequence += 1
        let body: String
        switch format {
        case .mercure: body = "topic=\(topic)&data=\(data)"
        case .raw: body = data
        }
        var head = self.head
        let buffer = context.channel.allocator.buffer(string: body)
        head.headers.replaceOrAdd(name: "Content-Length", value: String(buffer.readableBytes))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let response):
            status = response.status
        case .body:
            break
        case .end:
            inFlight = false
            responseLatency.record(nanoseconds: monotonicNanoseconds() &- sentAt)
            if (200..<300).contains(status.code) {
                acknowledged += 1
            } else {
                refused += 1
                lastRefusal = status
            }
            onResponse?(self)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        inFlight = false
        onResponse?(self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func close() {
        context?.close(promise: nil)
    }
}

/// Drives the publishers of one run on one event loop: closed loop (each connection sends
/// again as soon as its previous publish was answered) or open loop at a fixed total rate.
final class PublishDriver: @unchecked Sendable {
    let loop: any EventLoop
    let publishers: [PublisherHandler]
    private let rate: Double
    private let deadline: UInt64
    private let done: EventLoopPromise<Void>
    private var stopped = false
    private var pending = 0  // open loop: ticks that found every connection busy
    private(set) var late = 0
    private var tick = 0
    private var start: UInt64 = 0
    private var timer: Scheduled<Void>?
    private var doneCheck: RepeatedTask?
    /// Closed loop flow control: the number of deliveries subscribers still owe may not exceed
    /// `window` events per subscriber (0: no limit).
    private let window: Int
    private let subscribers: Int
    private let deliveredSoFar: @Sendable () -> Int

    init(
        loop: any EventLoop,
        publishers: [PublisherHandler],
        rate: Double,
        duration: Double,
        window: Int,
        subscribers: Int,
        deliveredSoFar: @escaping @Sendable () -> Int
    ) {
        self.loop = loop
        self.publishers = publishers
        self.rate = rate
        self.deadline = monotonicNanoseconds() + UInt64(duration * 1e9)
        self.done = loop.makePromise()
        self.window = window
        self.subscribers = subscribers
        self.deliveredSoFar = deliveredSoFar
    }

    var acknowledged: Int { publishers.reduce(0) { $0 + $1.acknowledged } }

    /// Starts publishing; the future completes once the time is up and every answer is in.
    func run() -> EventLoopFuture<Void> {
        loop.execute { self.begin() }
        return done.futureResult
    }

    private func begin() {
        start = monotonicNanoseconds()
        for publisher in publishers { publisher.onResponse = { [unowned self] in self.answered($0) } }
        if rate > 0 {
            scheduleTick()
        } else {
            for publisher in publishers { sendIfAllowed(publisher) }
            if window > 0 { pollWindow() }
        }
        // From the deadline on, check every 5 ms whether the last answers are in; whatever
        // happens, stop 15 s after the deadline.
        let untilDeadline = Int64(deadline) - Int64(monotonicNanoseconds())
        doneCheck = loop.scheduleRepeatedTask(
            initialDelay: .nanoseconds(max(untilDeadline, 0)),
            delay: .milliseconds(5)
        ) { _ in self.checkDone() }
        loop.scheduleTask(deadline: .uptimeNanoseconds(deadline + 15_000_000_000)) { self.finish() }
    }

    private func allowedByWindow() -> Bool {
        guard window > 0, subscribers > 0 else { return true }
        let owed = acknowledgedOrInFlight * subscribers - deliveredSoFar()
        return owed < window * subscribers
    }

    private var acknowledgedOrInFlight: Int { publishers.reduce(0) { $0 + $1.nextSequence } }

    private func sendIfAllowed(_ publisher: PublisherHandler) {
        guard !stopped, monotonicNanoseconds() < deadline else { return }
        guard allowedByWindow() else { return }
        publisher.send()
    }

    /// With a window, publishers that stopped for it are restarted every millisecond.
    private func pollWindow() {
        guard !stopped, monotonicNanoseconds() < deadline else { return }
        for publisher in publishers where !publisher.inFlight { sendIfAllowed(publisher) }
        loop.scheduleTask(in: .milliseconds(1)) { self.pollWindow() }
    }

    private func scheduleTick() {
        let at = start + UInt64(Double(tick) * 1e9 / rate)
        guard at < deadline else { return }
        timer = loop.scheduleTask(deadline: .uptimeNanoseconds(at)) {
            self.tick += 1
            self.fire()
            self.scheduleTick()
        }
    }

    private func fire() {
        guard !stopped else { return }
        if let idle = publishers.first(where: { !$0.inFlight && !$0.isClosed }) {
            idle.send()
        } else {
            pending += 1
            late += 1
        }
    }

    private func answered(_ publisher: PublisherHandler) {
        if rate > 0 {
            if pending > 0 && !publisher.isClosed && !stopped {
                pending -= 1
                publisher.send()
            }
        } else {
            sendIfAllowed(publisher)
        }
        checkDone()
    }

    private func checkDone() {
        guard !stopped, monotonicNanoseconds() >= deadline else { return }
        if publishers.allSatisfy({ !$0.inFlight || $0.isClosed }) { finish() }
    }

    private func finish() {
        guard !stopped else { return }
        stopped = true
        timer?.cancel()
        doneCheck?.cancel()
        done.succeed(())
    }
}

/// Drives the publishers of a soak run on one event loop: publishes exactly `count` more
/// updates (each connection sends again once answered), holding back while subscribers owe
/// more than `window` events each, and completes once every one of them was acknowledged.
final class SoakDriver: @unchecked Sendable {
    let loop: any EventLoop
    let publishers: [PublisherHandler]
    private let window: Int
    private let subscribers: Int
    private let deliveredSoFar: @Sendable () -> Int
    private var target = 0
    private var done: EventLoopPromise<Void>?
    /// Which `publish(count:)` call the polling belongs to (an older one's polling stops).
    private var generation = 0

    init(
        loop: any EventLoop,
        publishers: [PublisherHandler],
        window: Int,
        subscribers: Int,
        deliveredSoFar: @escaping @Sendable () -> Int
    ) {
        self.loop = loop
        self.publishers = publishers
        self.window = window
        self.subscribers = subscribers
        self.deliveredSoFar = deliveredSoFar
    }

    /// Acknowledged publishes, all connections together (read on `loop`).
    var acknowledged: Int { publishers.reduce(0) { $0 + $1.acknowledged } }
    /// Refused publishes (non-2xx answers), all connections together (read on `loop`).
    var refused: Int { publishers.reduce(0) { $0 + $1.refused } }

    /// Publishes until `count` more are acknowledged (refused ones are sent again).
    func publish(count: Int) -> EventLoopFuture<Void> {
        loop.flatSubmit {
            let promise = self.loop.makePromise(of: Void.self)
            self.done = promise
            self.target = self.acknowledged + count
            self.generation += 1
            for publisher in self.publishers {
                publisher.onResponse = { [weak self] in self?.answered($0) }
                self.sendIfAllowed(publisher)
            }
            self.poll(self.generation)
            return promise.futureResult
        }
    }

    private var inFlight: Int { publishers.reduce(0) { $0 + ($1.inFlight ? 1 : 0) } }

    private func sendIfAllowed(_ publisher: PublisherHandler) {
        guard done != nil, !publisher.inFlight, !publisher.isClosed, acknowledged + inFlight < target else { return }
        if window > 0, subscribers > 0 {
            let owed = (acknowledged + inFlight) * subscribers - deliveredSoFar()
            guard owed < window * subscribers else { return }
        }
        publisher.send()
    }

    private func answered(_ publisher: PublisherHandler) {
        if publishers.allSatisfy(\.isClosed) {
            finish(failure: SubscribeFailure(reason: "every publishing connection closed"))
            return
        }
        if acknowledged >= target {
            finish(failure: nil)
        } else {
            sendIfAllowed(publisher)
        }
    }

    /// Restarts connections held back by the window, every millisecond.
    private func poll(_ generation: Int) {
        guard done != nil, generation == self.generation else { return }
        for publisher in publishers { sendIfAllowed(publisher) }
        loop.scheduleTask(in: .milliseconds(1)) { self.poll(generation) }
    }

    private func finish(failure: (any Error)?) {
        guard let done else { return }
        self.done = nil
        if let failure { done.fail(failure) } else { done.succeed(()) }
    }
}
