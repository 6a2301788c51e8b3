import NIOCore

/// The bounded ring of recent updates kept for replay, with an index from event id to position.
/// Not thread-safe: the hub guards it with its lock.
struct History {
    private(set) var ring: CircularBuffer<StoredUpdate>
    private var positions: [String: UInt64] = [:]
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(0, capacity)
        self.ring = CircularBuffer(initialCapacity: min(self.capacity, 1024) + 1)
    }

    /// Whether `id` is retained.
    func contains(_ id: String) -> Bool { positions[id] != nil }

    /// The id of the newest retained update.
    var lastID: String? { ring.last?.update.id }

    mutating func append(_ stored: StoredUpdate) {
        guard capacity > 0 else { return }
        if ring.count == capacity {
            let evicted = ring.removeFirst()
            if let id = evicted.update.id, positions[id] == evicted.sequence {
                positions[id] = nil
            }
        }
        ring.append(stored)
        if let id = stored.update.id { positions[id] = stored.sequence }
    }

    /// What a subscriber that last saw `lastEventID` missed, oldest first; nil when the id is
    /// not retained (unknown, or already evicted). `earliest` gives everything retained.
    func updates(after lastEventID: String) -> [StoredUpdate]? {
        if lastEventID == Update.earliestID { return Array(ring) }
        guard let sequence = positions[lastEventID], let first = ring.first, sequence >= first.sequence else {
            return nil
        }
        let offset = Int(sequence - first.sequence) + 1
        let start = ring.index(ring.startIndex, offsetBy: offset)
        return Array(ring[start...])
    }
}
