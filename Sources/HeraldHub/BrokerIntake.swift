import NIOConcurrencyHelpers

/// The hub's intake as a broker holds it: set once by `attach`, then called for every update.
///
/// A class with a lock, not a closure kept in a generic lock box: reading a closure through a
/// generic box's `inout` accessor wraps it in two more reabstraction thunks on every call, a
/// chain that grew with each update and made publishing O(updates so far).
public final class BrokerIntake: @unchecked Sendable {
    private let lock = NIOLock()
    private var deliver: (@Sendable (Update) -> Void)?  // guarded by `lock`

    /// Creates an intake with nothing attached; updates are dropped until `attach`.
    public init() {}

    /// Sets the closure that receives every update (the hub's `dispatch`).
    public func attach(_ deliver: @escaping @Sendable (Update) -> Void) {
        lock.withLock { self.deliver = deliver }
    }

    /// Hands `update` to the attached hub, if any.
    public func callAsFunction(_ update: Update) {
        let deliver = lock.withLock { self.deliver }
        deliver?(update)
    }
}
