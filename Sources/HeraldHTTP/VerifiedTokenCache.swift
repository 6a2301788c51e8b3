import NIOConcurrencyHelpers

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Recently verified tokens and what they verified to, bounded: at most `limit` entries (all
/// dropped at once when full, so a flood of distinct tokens costs re-verifications, never
/// memory), each kept until the token's `exp` and for at most `lifetime`. A value is stored
/// with the audience it was checked for (1.0 access tokens; nil for 0.x tokens) and found only
/// for that audience, so a token verified for one resource identifier is never reused for
/// another.
final class VerifiedTokenCache<Value: Sendable>: Sendable {
    private struct Entry {
        let value: Value
        let audience: String?
        let validUntil: Date
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    let limit: Int
    let lifetime: TimeInterval

    init(limit: Int = 1024, lifetime: TimeInterval = 300) {
        self.limit = limit
        self.lifetime = lifetime
    }

    /// The value `token` verified to for `audience`, if still valid; nil otherwise.
    func value(for token: String, audience: String?) -> Value? {
        let now = Date()
        return entries.withLockedValue { entries in
            guard let entry = entries[token] else { return nil }
            if entry.validUntil <= now {
                entries[token] = nil
                return nil
            }
            return entry.audience == audience ? entry.value : nil
        }
    }

    /// Remembers what `token` verified to, until `expiry` (its `exp`) or `lifetime` from now.
    func remember(_ token: String, _ value: Value, audience: String?, validUntil expiry: Date?) {
        var validUntil = Date().addingTimeInterval(lifetime)
        if let expiry { validUntil = min(validUntil, expiry) }
        entries.withLockedValue { entries in
            if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
            entries[token] = Entry(value: value, audience: audience, validUntil: validUntil)
        }
    }

    /// How many tokens are remembered.
    var count: Int { entries.withLockedValue { $0.count } }
}
