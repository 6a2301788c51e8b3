/// How much fan-out work waits in each shard's inbox, so that publishers can be held back
/// before the hub's queues (and the delay of every event) grow without bound.
///
/// Work is counted in estimated subscriber writes: updates waiting times the writes per update
/// of the shard's last batch (before its first batch, its subscriber count: an upper bound).
/// Past `limit` on any shard the hub is backlogged; it recovers when every shard is back under
/// half of it. Guarded by the hub's lock.
struct FanOutBacklog {
    let limit: Int?
    private var waiting: [Int]
    /// Seeded with the shard's subscriber count when its first update waits, then the ratio
    /// of its last batch.
    private var writesPerUpdate: [Double?]
    private(set) var isBacklogged = false
    /// Publishers waiting for the backlog to clear.
    var waiters: [@Sendable () -> Void] = []

    init(shards: Int, limit: Int?) {
        self.limit = limit
        self.waiting = Array(repeating: 0, count: shards)
        self.writesPerUpdate = Array(repeating: nil, count: shards)
    }

    /// One more update waits on `shard`, which has `subscribers`; true when that makes the hub
    /// backlogged.
    mutating func queued(on shard: Int, subscribers: Int) -> Bool {
        waiting[shard] += 1
        if writesPerUpdate[shard] == nil { writesPerUpdate[shard] = Double(subscribers) }
        guard !isBacklogged, let limit, waiting[shard] > 1, estimate(shard) > Double(limit) else { return false }
        isBacklogged = true
        return true
    }

    /// `shard` delivered `updates` with `writes` subscriber writes (a subscriber getting several
    /// updates of one batch is one write); returns the waiters to resume when that ended the
    /// backlog.
    mutating func processed(_ updates: Int, writes: Int, on shard: Int) -> [@Sendable () -> Void] {
        waiting[shard] = max(0, waiting[shard] - updates)
        writesPerUpdate[shard] = Double(writes) / Double(max(updates, 1))
        guard isBacklogged, let limit else { return [] }
        let low = Double(limit) / 2
        guard waiting.indices.allSatisfy({ estimate($0) <= low }) else { return [] }
        isBacklogged = false
        defer { waiters = [] }
        return waiters
    }

    /// Nothing waits on a shard that was never seeded, so its estimate is 0.
    private func estimate(_ shard: Int) -> Double {
        Double(waiting[shard]) * (writesPerUpdate[shard] ?? 0)
    }

    /// Ends the backlog for good (shutdown); returns the waiters to resume.
    mutating func release() -> [@Sendable () -> Void] {
        isBacklogged = false
        defer { waiters = [] }
        return waiters
    }
}
