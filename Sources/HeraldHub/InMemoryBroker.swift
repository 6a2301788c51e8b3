import NIOConcurrencyHelpers

/// The default broker: delivers each update to the hub of this process, synchronously.
///
/// History lives in the hub itself, so `updates(after:limit:)` has nothing to add; the hub
/// also stores and delivers once a publish retried with an id its history still holds.
public final class InMemoryBroker: Broker {
    private let intake = BrokerIntakeSlot()

    /// Creates a broker for one process.
    public init() {}

    public func attach(_ intake: BrokerIntake) {
        self.intake.attach(intake)
    }

    public func publish(_ update: Update) async throws -> String {
        assignIDAndDeliver(update)
    }

    public func publishImmediately(_ update: Update) -> String? {
        assignIDAndDeliver(update)
    }

    /// Hands presence updates to this process's hub as they are (no id: they are never stored).
    public func announce(_ updates: [Update]) async throws {
        for update in updates { intake.deliver(update) }
    }

    private func assignIDAndDeliver(_ update: Update) -> String {
        var update = update
        let id = update.id ?? Self.newID()
        update.id = id
        intake.deliver(update)
        return id
    }

    public func updates(after id: String, limit: Int) async throws -> BrokerHistory? { nil }

    public func run() async throws {
        // Nothing runs in the background; wait until cancelled.
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
    }

    /// A fresh `urn:uuid:` id (random, version 4), the form Mercure hubs use.
    package static func newID() -> String {
        RandomUUID.urn()
    }
}
