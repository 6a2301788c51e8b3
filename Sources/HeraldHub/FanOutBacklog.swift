/// How much fan-out work waits in each shard's inbox, so that publishers can be held back
/// before the hub's queues (and the delay of every event) grow without bound.
///
/// Work is counted in estimated deliveries: updates waiting times the deliveries per update of
/// the shard's last batch (before its first batch, its subscriber count: an upper bound).
/// Deliveries, not writes: the updates waiting on a shard all go out in its next batch, which
/// writes to each subscriber once, so the writes they add are bounded by the shard's
/// subscribers whatever their number; what grows with them is the events each of those writes
/// carries, i.e. the next batch's time and memory. (Counting writes per update held a single
/// publisher to one update per batch as soon as a shard had more subscribers than the bound:
/// one event per write, the most expensive way to deliver.)
/// Past `limit` on any shard the hub is backlogged; it recovers when every shard is back under
/// half of it. Guarded by the hub's lock.
struct FanOutBacklog {
    let limit: Int?
    private var waiting: [Int]
    /// Seeded with the shard's subscriber count when its first update waits, then the ratio
    /// of its last batch.
    private var deliveriesPerUpdate: [Double?]
    private(set) var isBacklogged = false
    /// Publishers waiting for the backlog to clear.
    var waiters: [@Sendable () -> Void] = []

    init(shards: Int, limit: Int?) {
        self.limit = limit
        self.waiting = Array(repeating: 0, count: shards)
        self.deliveriesPerUpdate = Array(repeating: nil, count: shards)
    }

    /// One more update waits on `shard`, which has `subscribers`; true when that makes the hub
    /// backlogged. One waiting update never does, however many it reaches.
    mutating func queued(on shard: Int, subscribers: Int) -> Bool {
        waiting[shard] += 1
        if deliveriesPerUpdate[shard] == nil { deliveriesPerUpdate[shard] = Double(subscribers) }
        guard !isBacklogged, let limit, waiting[shard] > 1, estimate(shard) > Double(limit) else { return false }
        isBacklogged = true
        return true
    }

    /// `shard` delivered `updates` in `deliveries` events handed to subscribers; returns the
    /// waiters to resume when that ended the backlog.
    mutating func processed(_ updates: Int, deliveries: Int, on shard: Int) -> [@Sendable () -> Void] {
        waiting[shard] = max(0, waiting[shard] - updates)
        deliveriesPerUpdate[shard] = Double(deliveries) / Double(max(updates, 1))
        guard isBacklogged, let limit else { return [] }
        let low = Double(limit) / 2
        guard waiting.indices.allSatisfy({ estimate($0) <= low }) else { return [] }
        isBacklogged = false
        defer { waiters = [] }
        return waiters
    }

    /// Nothing waits on a shard that was never seeded, so its estimate is 0.
    private func estimate(_ shard: Int) -> Double {
        Double(waiting[shard]) * (deliveriesPerUpdate[shard] ?? 0)
    }

    /// Ends the backlog for good (shutdown); returns the waiters to resume.
    mutating func release() -> [@Sendable () -> Void] {
        isBacklogged = false
        defer { waiters = [] }
        return waiters
    }
}
