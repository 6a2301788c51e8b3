import HeraldHub

/// The Lua scripts a `RedisBroker` runs, each one atomic and bounded, and how their replies
/// are read.
///
/// Besides the stream (`<prefix>:updates`), Redis keeps an index of the ids publishers chose:
/// a hash `<prefix>:ids` (publisher id -> stream id) and a list `<prefix>:ids:order` of
/// `"<stream id> <publisher id>"` in stream order. The publish script maintains both and trims
/// them with the stream, so the index covers exactly the updates the stream still holds. It
/// makes two things cheap: a publish retried with the same id is stored once, and a
/// `Last-Event-ID` is found with one hash lookup instead of a scan of the stream.
enum RedisScripts {
    /// `older(a, b)`: whether stream id `a` comes before `b`, compared as decimal strings (exact
    /// for any 64-bit part, where Lua's numbers would round).
    private static let older = """
        local function older(a, b)
          local am, as = string.match(a, '^(%d+)-(%d+)$')
          local bm, bs = string.match(b, '^(%d+)-(%d+)$')
          if #am ~= #bm then return #am < #bm end
          if am ~= bm then return am < bm end
          if #as ~= #bs then return #as < #bs end
          return as < bs
        end
        """

    /// Stores and publishes one update; returns its stream id, or for a retry (below)
    /// `retryPrefix` and the first publish's stream id.
    ///
    /// KEYS: stream, channel, id index, id order. ARGV: approximate stream length, the encoded
    /// update, the publisher's id (empty when it gave none).
    ///
    /// A publisher id whose update the stream still holds is a retry: nothing is stored or
    /// published, and `retryPrefix` + the first publish's stream id is returned. After each append, index
    /// entries whose updates the stream no longer holds are dropped (amortised O(1): the stream
    /// drops what it trims, oldest first, and so does the list).
    /// What the publish script puts before the stream id it answers a retry with (stream ids
    /// never contain a space).
    static let retryPrefix = "retry "

    static let publish = older + """

        local pid = ARGV[3]
        if pid ~= '' then
          local known = redis.call('HGET', KEYS[3], pid)
          if known and redis.call('XRANGE', KEYS[1], known, known)[1] then return 'retry ' .. known end
        end
        local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'u', ARGV[2])
        redis.call('PUBLISH', KEYS[2], id .. '\\n' .. ARGV[2])
        if pid ~= '' then
          redis.call('HSET', KEYS[3], pid, id)
          redis.call('RPUSH', KEYS[4], id .. ' ' .. pid)
        end
        local head = redis.call('LINDEX', KEYS[4], 0)
        if head then
          local entry = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
          local first = entry and entry[1]
          while head do
            local space = string.find(head, ' ', 1, true)
            local sid = string.sub(head, 1, space - 1)
            if first and not older(sid, first) then break end
            redis.call('LPOP', KEYS[4])
            local owner = string.sub(head, space + 1)
            if redis.call('HGET', KEYS[3], owner) == sid then redis.call('HDEL', KEYS[3], owner) end
            head = redis.call('LINDEX', KEYS[4], 0)
          end
        end
        return id
        """

    /// Finds a `Last-Event-ID` and reads what came after it, in one bounded step (no scan).
    ///
    /// KEYS: stream, id index. ARGV: the asked id, the same id as a stream id (empty when it is
    /// not one), the most updates to return.
    ///
    /// The id is looked up in the index of publisher ids, else taken as a stream id. Replies:
    /// - `{'found', anchor, anchorEntry, newestFirst}`: the anchor is in the stream; the
    ///   updates after it (the newest `limit`, so the slice always joins live delivery);
    /// - `{'cut', ...}`: the same, but more than `limit` came after the anchor, and the oldest
    ///   of them are not returned;
    /// - `{'older', anchor, false, newestFirst}`: the anchor is before everything the stream
    ///   holds (trimmed, or lost when Redis restarted without persistence): what it holds;
    /// - `{'unknown'}`: neither (a publisher id never seen, or a stream id inside or after the
    ///   stream's range that is no entry of it).
    static let replay = """
        local anchor = redis.call('HGET', KEYS[2], ARGV[1])
        if not anchor then
          if ARGV[2] == '' then return {'unknown'} end
          anchor = ARGV[2]
        end
        local limit = tonumber(ARGV[3])
        local at = redis.call('XRANGE', KEYS[1], anchor, anchor)[1]
        if at then
          local after = redis.call('XREVRANGE', KEYS[1], '+', '(' .. anchor, 'COUNT', limit)
          local cut = false
          if #after == limit then
            local following = redis.call('XRANGE', KEYS[1], '(' .. anchor, '+', 'COUNT', 1)[1]
            cut = following[1] ~= after[#after][1]
          end
          if cut then return {'cut', anchor, at, after} end
          return {'found', anchor, at, after}
        end
        if redis.call('XRANGE', KEYS[1], '-', anchor, 'COUNT', 1)[1] == nil then
          return {'older', anchor, false, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', limit)}
        end
        return {'unknown'}
        """

    /// Reads the reply of `replay` for `askedID`: nil when the id is unknown.
    static func history(fromReplay reply: RESPValue, askedID: String) -> BrokerHistory? {
        guard let parts = reply.array, let kind = parts.first?.string, parts.count == 4,
            let anchor = parts[1].string.flatMap(UpdatePosition.init),
            let newestFirst = parts[3].array
        else { return nil }
        let updates = newestFirst.reversed().compactMap(RedisUpdateCodec.decode(entry:))
        switch kind {
        case "found", "cut":
            // A stream id names its update only when the publisher gave that update no id.
            guard let named = RedisUpdateCodec.decode(entry: parts[2]), named.id == askedID else { return nil }
            return BrokerHistory(after: anchor, updates: updates, missedSome: kind == "cut")
        case "older":
            return BrokerHistory(after: anchor, updates: updates, missedSome: true)
        default:
            return nil
        }
    }
}
