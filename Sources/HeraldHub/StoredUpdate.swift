import NIOCore

/// An update as the hub holds it: its place in this hub's order and its bytes, encoded once and
/// shared by every subscriber and by history.
final class StoredUpdate: Sendable {
    let sequence: UInt64
    let update: Update
    let encoded: EncodedEvent

    init(sequence: UInt64, update: Update, encoded: EncodedEvent) {
        self.sequence = sequence
        self.update = update
        self.encoded = encoded
    }
}
