import HeraldRedis
import HeraldTesting
import NIOCore

/// A running ``RedisSubscriber`` with its events recorded, stopped by ``stop()``.
struct SubscriberHarness {
    let subscriber: RedisSubscriber
    let recorder: Recorder<RedisSubscriberEvent>
    let runTask: Task<Void, Never>

    static func start(
        _ configuration: RedisConfiguration,
        options: RedisSubscriberOptions = RedisSubscriberOptions(healthCheckInterval: .milliseconds(500)),
        channels: [String] = [],
        patterns: [String] = []
    ) async throws -> SubscriberHarness {
        let subscriber = RedisSubscriber(configuration: configuration, options: options, logger: testLogger)
        try await subscriber.subscribe(channels)
        try await subscriber.psubscribe(patterns)
        let recorder = Recorder(subscriber.events)
        let runTask = Task { await subscriber.run() }
        return SubscriberHarness(subscriber: subscriber, recorder: recorder, runTask: runTask)
    }

    var connectedCount: Int { recorder.elements.filter { $0 == .connected }.count }
    var disconnectedCount: Int { recorder.elements.filter { $0 == .disconnected }.count }
    var messages: [RedisPubSubMessage] {
        recorder.elements.compactMap { if case .message(let message) = $0 { message } else { nil } }
    }

    func waitForConnected(count: Int = 1, timeout: Duration = .seconds(10)) async throws {
        try await recorder.wait(for: "connected #\(count)", timeout: timeout) { events in
            events.filter { $0 == .connected }.count >= count
        }
    }

    func waitForDisconnected(count: Int = 1, timeout: Duration = .seconds(10)) async throws {
        try await recorder.wait(for: "disconnected #\(count)", timeout: timeout) { events in
            events.filter { $0 == .disconnected }.count >= count
        }
    }

    func waitForMessage(_ expected: RedisPubSubMessage, timeout: Duration = .seconds(10)) async throws {
        try await recorder.wait(for: "message \(expected)", timeout: timeout) { events in
            events.contains(.message(expected))
        }
    }

    /// Closes the subscriber and waits (bounded) for `run()` and the event stream to end.
    func stop() async throws {
        await subscriber.close()
        let runTask = self.runTask
        try await withTimeout(.seconds(5), "subscriber run() to return") { await runTask.value }
        try await recorder.waitForEnd(timeout: .seconds(5))
    }
}

func message(_ channel: String, _ payload: String, pattern: String? = nil) -> RedisPubSubMessage {
    RedisPubSubMessage(channel: channel, pattern: pattern, payload: ByteBuffer(string: payload))
}
