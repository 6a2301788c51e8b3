import NIOCore

/// The bounded ring of recent updates kept for replay, with an index from event id to position.
/// Not thread-safe: the hub guards it with its lock.
struct History {
    private(set) var ring: CircularBuffer<StoredUpdate>
    /// Position (sequence) by the hash of the event id; a lookup confirms the id in the ring,
    /// and falls back to a scan on the (never seen in practice) collision of two hashes.
    private var positions: [Int: UInt64] = [:]
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(0, capacity)
        self.ring = CircularBuffer(initialCapacity: min(self.capacity, 1024) + 1)
    }

    /// Whether `id` is retained.
    func contains(_ id: String) -> Bool { sequence(of: id, key: id.hashValue) != nil }

    /// Whether `id`, whose hash the caller computed (outside the hub's lock), is retained.
    func contains(_ id: String, key: Int) -> Bool { sequence(of: id, key: key) != nil }

    /// The id of the newest retained update.
    var lastID: String? { ring.last?.update.id }

    /// Appends `stored`; returns the update it pushed out, so that the caller can let it go
    /// (and free it) after leaving its lock.
    @discardableResult
    mutating func append(_ stored: StoredUpdate) -> StoredUpdate? {
        guard capacity > 0 else { return nil }
        var evicted: StoredUpdate?
        if ring.count == capacity {
            let oldest = ring.removeFirst()
            if let key = oldest.idKey, positions[key] == oldest.sequence {
                positions[key] = nil
            }
            evicted = oldest
        }
        ring.append(stored)
        if let key = stored.idKey { positions[key] = stored.sequence }
        return evicted
    }

    /// The sequence of the retained update with this id (`key` is its hash).
    private func sequence(of id: String, key: Int) -> UInt64? {
        guard let first = ring.first, let indexed = positions[key] else { return nil }
        if indexed >= first.sequence,
            ring[ring.index(ring.startIndex, offsetBy: Int(indexed - first.sequence))].update.id == id
        {
            return indexed
        }
        // Two ids with one hash: the index holds the newer; look for this one.
        return ring.last { $0.update.id == id }?.sequence
    }

    /// What a subscriber that last saw `lastEventID` missed, oldest first; nil when the id is
    /// not retained (unknown, or already evicted). `earliest` gives everything retained.
    func updates(after lastEventID: String) -> [StoredUpdate]? {
        if lastEventID == Update.earliestID { return Array(ring) }
        guard let sequence = sequence(of: lastEventID, key: lastEventID.hashValue), let first = ring.first else { return nil }
        let offset = Int(sequence - first.sequence) + 1
        let start = ring.index(ring.startIndex, offsetBy: offset)
        return Array(ring[start...])
    }
}
