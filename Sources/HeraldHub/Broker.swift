/// Carries updates from publishers to every hub that shares them: in-process, or across nodes.
///
/// The hub calls `attach` once, then `publish` for each update. The broker calls the attached
/// closure for every update it carries (from this node or another), one at a time and in one
/// order, which is the order subscribers see.
public protocol Broker: Sendable {
    /// Registers the hub's intake; called once, before any `publish`.
    func attach(deliver: @escaping @Sendable (Update) -> Void)
    /// Stores and distributes `update`; assigns an id when it has none, and returns the id.
    func publish(_ update: Update) async throws -> String
    /// Updates stored after `id` (exclusive), oldest first, at most `limit`; nil when the
    /// broker keeps no history of its own or does not know `id`.
    func updates(after id: String, limit: Int) async throws -> [Update]?
    /// Background work (connections, resubscription) until the task is cancelled.
    func run() async throws
}
