import NIOCore

/// An update as the hub holds it: its place in this hub's order and its bytes, encoded once and
/// shared by every subscriber and by history.
final class StoredUpdate: Sendable {
    let sequence: UInt64
    let update: Update
    let encoded: EncodedEvent
    /// The id's hash, computed once: history indexes and evicts by it without rehashing strings.
    let idKey: Int?
    /// When the hub took it from its broker, for `herald_publish_to_write_seconds`; read from
    /// the clock only when a metrics backend is there (else the zero uptime).
    let accepted: NIODeadline

    init(
        sequence: UInt64,
        update: Update,
        encoded: EncodedEvent,
        idKey: Int? = nil,
        accepted: NIODeadline = .uptimeNanoseconds(0)
    ) {
        self.sequence = sequence
        self.update = update
        self.encoded = encoded
        self.idKey = idKey ?? update.id?.hashValue
        self.accepted = accepted
    }
}
