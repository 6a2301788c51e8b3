import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The broker's one shared command connection, opened on first use. Concurrent callers that
/// find no connection wait for the same connect attempt, so none of them is handed a socket that
/// another caller is about to replace and close (which failed their command mid-flight).
final class RedisCommandLink: Sendable {
    private let configuration: RedisConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let current = NIOLockedValueBox<Slot?>(nil)

    /// The current connect attempt, and its connection once someone has seen it open.
    private struct Slot {
        var attempt: Task<RedisConnection, any Error>
        var opened: RedisConnection?
    }

    init(configuration: RedisConfiguration, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    /// An open connection: the current one, or a new one when there is none or it has closed.
    /// Throws the connect error when Redis cannot be reached.
    func connection() async throws -> RedisConnection {
        while true {
            let attempt = current.withLockedValue { current in
                if let current { return current.attempt }
                let (configuration, group, logger) = (self.configuration, self.group, self.logger)
                let attempt = Task {
                    try await RedisConnection.connect(configuration: configuration, eventLoopGroup: group, logger: logger)
                }
                current = Slot(attempt: attempt)
                return attempt
            }
            let connection: RedisConnection
            do {
                connection = try await attempt.value
            } catch {
                forget(attempt)
                throw error
            }
            if connection.isActive {
                current.withLockedValue { if $0?.attempt == attempt { $0?.opened = connection } }
                return connection
            }
            // It closed since it was opened: forget it (unless someone already did) and connect anew.
            forget(attempt)
        }
    }

    /// The connection, when one is open already (never connects): for callers that cannot wait.
    var openConnection: RedisConnection? {
        current.withLockedValue { $0?.opened }.flatMap { $0.isActive ? $0 : nil }
    }

    /// Drops `connection` after it failed, so the next caller opens a fresh one, and closes it
    /// (without waiting: callers on an event loop use it too).
    func discardSoon(_ connection: RedisConnection) {
        current.withLockedValue { if $0?.opened === connection { $0 = nil } }
        connection.closeSoon()
    }

    /// Closes the connection, if any; a later command opens a new one.
    func close() async {
        let slot = current.withLockedValue { current in
            defer { current = nil }
            return current
        }
        guard let slot else { return }
        if let opened = slot.opened {
            await opened.close()
        } else {
            await (try? slot.attempt.value)?.close()
        }
    }

    private func forget(_ attempt: Task<RedisConnection, any Error>) {
        current.withLockedValue { if $0?.attempt == attempt { $0 = nil } }
    }
}
