import HeraldHub
import HeraldRedis
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServerSentEvents

/// One Herald node (hub + Redis broker) running inside the test process.
struct HeraldNode: Sendable {
    let hub: Hub
    let broker: RedisBroker
    let task: Task<Void, any Error>

    static func start(
        _ redis: RedisConfiguration,
        historySize: Int = 10_000,
        reconnectDelay: Duration = .milliseconds(20),
        presence: Bool = false,
        maxBufferedMessages: Int = 1024,
        commandTimeout: Duration = .seconds(5),
        hubConfiguration base: HubConfiguration = HubConfiguration(),
        logger: Logger = Logger(label: "herald.redis.broker")
    ) async throws -> HeraldNode {
        var configuration = RedisBrokerConfiguration(redis: redis)
        configuration.commandTimeout = commandTimeout
        configuration.historySize = max(historySize, 1)
        configuration.subscriberOptions = RedisSubscriberOptions(
            healthCheckInterval: .milliseconds(500),
            replyTimeout: .seconds(1),
            backoff: RedisBackoff(initial: reconnectDelay, maximum: max(reconnectDelay, .milliseconds(200))),
            maxBufferedMessages: maxBufferedMessages
        )
        let broker = RedisBroker(configuration: configuration, logger: logger)
        var hubConfiguration = base
        hubConfiguration.historySize = historySize
        hubConfiguration.publishesSubscriptionEvents = presence
        let hub = Hub(configuration: hubConfiguration, broker: broker)
        let task = Task { try await hub.run() }
        try await waitUntil("node connected to Redis") { broker.isConnected }
        return HeraldNode(hub: hub, broker: broker, task: task)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    /// Subscribes and records the events (parsed from the real SSE bytes).
    func follow(_ topics: [String], lastEventID: String? = nil, claims: [String]? = nil) async throws -> EventRecorder {
        let subscription = try await hub.subscribe(
            SubscribeRequest(
                selectors: try topics.map { try TopicSelector($0) },
                privateSelectors: try claims?.map { try TopicSelector($0) },
                lastEventID: lastEventID
            )
        )
        return EventRecorder(subscription)
    }
}

/// The events a subscription writes, parsed back.
final class EventRecorder: Sendable {
    private let parser = NIOLockedValueBox(ServerSentEventParser())
    private let received = NIOLockedValueBox<[ServerSentEvent]>([])
    let subscription: Subscription
    private let task: Task<Void, Never>

    init(_ subscription: Subscription) {
        self.subscription = subscription
        let parser = self.parser
        let received = self.received
        self.task = Task {
            _ = try? await subscription.stream { buffers in
                for buffer in buffers {
                    let elements = try parser.withLockedValue { try $0.feed(buffer) }
                    for case .event(let event) in elements { received.withLockedValue { $0.append(event) } }
                }
            }
        }
    }

    var events: [ServerSentEvent] { received.withLockedValue { $0 } }
    var data: [String] { events.map(\.data) }

    func waitFor(_ count: Int, timeout: Duration = .seconds(10)) async throws {
        try await waitUntil("\(count) events (have \(events.count))", timeout: timeout) { self.events.count >= count }
    }

    func stop() {
        subscription.cancel()
    }
}

/// Keeps the messages logged at `error` level or above (for tests that check what was logged).
struct CapturingLogHandler: LogHandler {
    let messages: NIOLockedValueBox<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .error

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        messages.withLockedValue { $0.append(event.message.description) }
    }
}
