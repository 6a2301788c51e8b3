import Foundation
import HeraldEventSource
import ServerSentEvents

/// One dispatched event as the vector table states it (the browser's `type`, `data`, `lastEventId`).
struct Dispatched: Codable, Hashable, Sendable, CustomStringConvertible {
    var type: String
    var data: String
    var lastEventId: String

    init(type: String = "message", data: String, lastEventId: String = "") {
        self.type = type
        self.data = data
        self.lastEventId = lastEventId
    }

    init(_ event: ServerSentEvent) {
        self.init(type: event.event ?? "message", data: event.data, lastEventId: event.id ?? "")
    }

    var description: String { "\(type)|\(data.debugDescription)|\(lastEventId.debugDescription)" }
}

extension EventSource.Iterator {
    /// Events of one connection: after `.open`, the messages (and gaps, as type `herald-gap`)
    /// until the connection ends (`.reconnecting`), which is returned too.
    mutating func oneConnection() async throws -> (events: [Dispatched], reconnectAfter: Duration?) {
        var events: [Dispatched] = []
        while let event = try await self.next() {
            switch event {
            case .open: continue
            case .message(let message): events.append(Dispatched(message))
            case .gap(let gap): events.append(Dispatched(type: EventSource.heraldGapEventType, data: gap.data))
            case .reconnecting(let after, _): return (events, after)
            }
        }
        return (events, nil)
    }

    /// The next message, skipping `.open` and `.reconnecting`.
    mutating func nextMessage() async throws -> ServerSentEvent? {
        while let event = try await self.next() {
            if case .message(let message) = event { return message }
        }
        return nil
    }
}

/// A configuration for tests: no waiting between attempts unless a test asks for it.
func immediate(_ configure: (inout EventSource.Configuration) -> Void = { _ in }) -> EventSource.Configuration {
    var configuration = EventSource.Configuration(reconnectionTime: .zero, backoff: Backoff(multiplier: 1, jitter: 0))
    configure(&configuration)
    return configuration
}

/// The repository's root, from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// With `HERALD_EVENTSOURCE_RESULTS=DIR`, tests write what the Swift client did as `DIR/NAME.json`,
/// for `Tests/eventsource/compare_chromium.py` to print beside headless Chromium's results.
func recordResult(_ name: String, _ value: some Encodable) {
    guard let directory = ProcessInfo.processInfo.environment["HERALD_EVENTSOURCE_RESULTS"] else { return }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    guard let data = try? encoder.encode(value) else { return }
    try? data.write(to: URL(fileURLWithPath: directory).appendingPathComponent(name + ".json"))
}

/// A reconnect case's outcome, as the comparison table shows it.
struct ReconnectOutcome: Codable {
    /// Events of the second connection.
    var events: [Dispatched]
    /// The `Last-Event-ID` header of the second request (`nil`: not sent).
    var lastEventIDHeader: String?
}
