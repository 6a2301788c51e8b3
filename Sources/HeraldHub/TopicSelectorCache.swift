import CoreMetrics
import Synchronization

/// Compiled topic selectors shared by every subscription that uses the same selector text.
///
/// A template is compiled once per distinct text, however many subscribers ask for it; the
/// subscribers hold the same arrays (copy-on-write storage), so a hundred subscribers with the
/// same 64 selectors cost 64 compiled templates, not 6,400. Entries are counted: the last
/// subscription to release a selector removes it, so memory follows the live selectors.
///
/// It also keeps the hub-wide matching budget: every update is matched once against each
/// distinct pattern selector in use, so the sum of their `matchingStates` bounds the matching
/// work of one publish (O(topic bytes × that sum) per event loop). A subscription that would
/// bring new pattern selectors past the budget is refused; selectors already in use cost nothing.
final class TopicSelectorCache: Sendable {
    private struct Entry {
        var selector: TopicSelector
        var users: Int
    }

    private struct Entries {
        var byKey: [SelectorKey: Entry] = [:]
        /// Sum of `matchingStates` over `byKey`.
        var matchingStates = 0
    }

    private let entries = Mutex<Entries>(Entries())
    /// `herald_matching_states`, moved by each change of `Entries.matchingStates` (nil: no backend).
    private let matchingStatesMeter: Meter?

    init(matchingStates: Meter? = nil) {
        self.matchingStatesMeter = matchingStates
    }

    /// The shared compiled selector for `raw` read as `syntax` when one is in use, else a newly
    /// compiled one (not retained: `retain` does that once the subscription is accepted).
    func selector(
        for raw: String,
        syntax: TopicSelector.Syntax = .topic,
        baseURL: String? = nil,
        maxLength: Int
    ) throws(TopicSelectorError) -> TopicSelector {
        let kind = TopicSelector.probableKind(of: raw, syntax: syntax)
        let key = SelectorKey(raw, kind: kind, baseURL: kind == .urlPattern ? baseURL : nil)
        if let shared = entries.withLock({ $0.byKey[key]?.selector }) { return shared }
        return try TopicSelector(raw, syntax: syntax, baseURL: baseURL, maxLength: maxLength)
    }

    /// Records one more user of each selector; returns the shared instances to keep.
    ///
    /// Used for an authorization claim's selectors (signed by a trusted party): always
    /// retained, and their states count against later subscriptions' budget.
    func retain(_ selectors: [TopicSelector]) -> [TopicSelector] {
        let (retained, added) = entries.withLock { Self.retain(selectors, in: &$0) }
        report(added)
        return retained
    }

    /// Like `retain(_:)`, unless the selectors not yet in use would bring the matching states
    /// of all distinct selectors above `budget` (nil: no limit): then nothing is retained and
    /// nil is returned. Checked and recorded under one lock, so concurrent subscriptions cannot
    /// overshoot the budget together.
    func retain(_ selectors: [TopicSelector], budget: Int?) -> [TopicSelector]? {
        let retained = entries.withLock { entries -> (selectors: [TopicSelector], added: Int)? in
            if let budget {
                var added = 0
                var seen = Set<SelectorKey>()
                for selector in selectors where selector.matchingStates > 0 {
                    let key = SelectorKey(selector)
                    if entries.byKey[key] == nil, seen.insert(key).inserted { added += selector.matchingStates }
                }
                if added > 0, entries.matchingStates + added > budget { return nil }
            }
            return Self.retain(selectors, in: &entries)
        }
        guard let retained else { return nil }
        report(retained.added)
        return retained.selectors
    }

    /// Retains `selectors` in `entries`; returns the shared instances and the matching states added.
    private static func retain(
        _ selectors: [TopicSelector],
        in entries: inout Entries
    ) -> (selectors: [TopicSelector], added: Int) {
        let before = entries.matchingStates
        let shared = selectors.map { selector in
            let key = SelectorKey(selector)
            if var entry = entries.byKey[key] {
                entry.users += 1
                entries.byKey[key] = entry
                return entry.selector
            }
            entries.byKey[key] = Entry(selector: selector, users: 1)
            entries.matchingStates += selector.matchingStates
            return selector
        }
        return (shared, entries.matchingStates - before)
    }

    /// Moves the meter by a change of the matching states: a delta, so concurrent changes
    /// need no ordering (outside the lock).
    private func report(_ change: Int) {
        guard change != 0, let matchingStatesMeter else { return }
        if change > 0 {
            matchingStatesMeter.increment(by: Double(change))
        } else {
            matchingStatesMeter.decrement(by: Double(-change))
        }
    }

    /// Records one user fewer of each selector; the last release drops the compiled selector.
    func release(_ selectors: [TopicSelector]) {
        let dropped = entries.withLock { entries -> [TopicSelector] in
            var dropped: [TopicSelector] = []
            for selector in selectors {
                let key = SelectorKey(selector)
                guard var entry = entries.byKey[key] else { continue }
                entry.users -= 1
                if entry.users == 0 {
                    dropped.append(entries.byKey.removeValue(forKey: key)!.selector)
                    entries.matchingStates -= selector.matchingStates
                } else {
                    entries.byKey[key] = entry
                }
            }
            return dropped
        }
        report(-dropped.reduce(0) { $0 + $1.matchingStates })
        withExtendedLifetime(dropped) {}  // freed here, outside the lock
    }

    /// Distinct selectors in use.
    var count: Int { entries.withLock { $0.byKey.count } }

    /// Matching states of the distinct selectors in use (see `TopicSelector.matchingStates`).
    var matchingStates: Int { entries.withLock { $0.matchingStates } }
}

/// A selector's identity as a dictionary key: its kind, its text compared byte for byte (like
/// `TopicSelector`), and for a URL pattern the base URL it was resolved against.
struct SelectorKey: Hashable, Sendable {
    let text: String
    let kind: TopicSelector.Kind
    let baseURL: String?

    init(_ text: String, kind: TopicSelector.Kind, baseURL: String? = nil) {
        self.text = text
        self.kind = kind
        self.baseURL = baseURL
    }

    init(_ selector: TopicSelector) {
        self.init(selector.rawValue, kind: selector.kind, baseURL: selector.urlPattern?.baseURL)
    }

    static func == (lhs: SelectorKey, rhs: SelectorKey) -> Bool {
        lhs.kind == rhs.kind && lhs.text.utf8.elementsEqual(rhs.text.utf8) && lhs.baseURL == rhs.baseURL
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
