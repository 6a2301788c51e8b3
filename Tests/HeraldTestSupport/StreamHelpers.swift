import HeraldClient
import NIOCore
import ServerSentEvents

/// The first event of a stream (skipping comments), or a failure after 10 s.
public func firstEvent(_ elements: AsyncThrowingStream<ServerSentEventParser.Element, any Error>) async throws -> ServerSentEvent? {
    try await events(elements, count: 1).first
}

/// The next `count` events of a stream (skipping comments), giving up after `timeout`.
public func events(
    _ elements: AsyncThrowingStream<ServerSentEventParser.Element, any Error>,
    count: Int,
    timeout: Duration = .seconds(10)
) async throws -> [ServerSentEvent] {
    try await withThrowingTaskGroup(of: [ServerSentEvent]?.self) { group in
        group.addTask {
            var collected: [ServerSentEvent] = []
            for try await element in elements {
                if case .event(let event) = element { collected.append(event) }
                if collected.count == count { break }
            }
            return collected
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        return first ?? []
    }
}

/// Opens a raw SSE GET (for query-parameter variants the client does not build).
public func subscribeRaw(
    _ server: TestServer,
    _ pathAndQuery: String
) async throws -> (AsyncThrowingStream<ServerSentEventParser.Element, any Error>, @Sendable () -> Void) {
    let response = try await HTTPStreamingClient(baseURL: server.baseURL).send(method: .GET, path: pathAndQuery)
    return (response.events, response.close)
}

/// Polls `condition` every 10 ms for up to `timeout`.
public func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() && ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(10))
    }
}
