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

    /// The position in the ring of the retained update with this id (`key` is its hash).
    private func index(of id: String, key: Int) -> CircularBuffer<StoredUpdate>.Index? {
        guard let indexed = positions[key] else { return nil }
        if let index = index(ofSequence: indexed), ring[index].update.id == id { return index }
        // Two ids with one hash: the index holds the newer; look for this one.
        return ring.lastIndex { $0.update.id == id }
    }

    /// The position of the update with this sequence, by binary search. Sequences grow along
    /// the ring but are not contiguous (presence updates take one and are never stored), so
    /// the position cannot be computed from the first sequence.
    private func index(ofSequence sequence: UInt64) -> CircularBuffer<StoredUpdate>.Index? {
        var low = ring.startIndex
        var high = ring.endIndex
        while low < high {
            let middle = ring.index(low, offsetBy: ring.distance(from: low, to: high) / 2)
            let found = ring[middle].sequence
            if found == sequence { return middle }
            if found < sequence { low = ring.index(after: middle) } else { high = middle }
        }
        return nil
    }

    private func sequence(of id: String, key: Int) -> UInt64? {
        index(of: id, key: key).map { ring[$0].sequence }
    }

    /// What a subscriber that last saw `lastEventID` missed, oldest first; nil when the id is
    /// not retained (unknown, or already evicted). `earliest` gives everything retained.
    func updates(after lastEventID: String) -> [StoredUpdate]? {
        if lastEventID == Update.earliestID { return Array(ring) }
        guard let index = index(of: lastEventID, key: lastEventID.hashValue) else { return nil }
        return Array(ring[ring.index(after: index)...])
    }
}
