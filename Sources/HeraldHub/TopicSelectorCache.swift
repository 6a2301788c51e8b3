import Synchronization

/// Compiled topic selectors shared by every subscription that uses the same selector text.
///
/// A template is compiled once per distinct text, however many subscribers ask for it; the
/// subscribers hold the same arrays (copy-on-write storage), so a hundred subscribers with the
/// same 64 selectors cost 64 compiled templates, not 6,400. Entries are counted: the last
/// subscription to release a selector removes it, so memory follows the live selectors.
final class TopicSelectorCache: Sendable {
    private struct Entry {
        var selector: TopicSelector
        var users: Int
    }

    private let entries = Mutex<[SelectorKey: Entry]>([:])

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
        if let shared = entries.withLock({ $0[key]?.selector }) { return shared }
        return try TopicSelector(raw, syntax: syntax, baseURL: baseURL, maxLength: maxLength)
    }

    /// Records one more user of each selector; returns the shared instances to keep.
    func retain(_ selectors: [TopicSelector]) -> [TopicSelector] {
        entries.withLock { entries in
            selectors.map { selector in
                let key = SelectorKey(selector)
                if var entry = entries[key] {
                    entry.users += 1
                    entries[key] = entry
                    return entry.selector
                }
                entries[key] = Entry(selector: selector, users: 1)
                return selector
            }
        }
    }

    /// Records one user fewer of each selector; the last release drops the compiled selector.
    func release(_ selectors: [TopicSelector]) {
        let dropped = entries.withLock { entries -> [TopicSelector] in
            var dropped: [TopicSelector] = []
            for selector in selectors {
                let key = SelectorKey(selector)
                guard var entry = entries[key] else { continue }
                entry.users -= 1
                if entry.users == 0 {
                    dropped.append(entries.removeValue(forKey: key)!.selector)
                } else {
                    entries[key] = entry
                }
            }
            return dropped
        }
        withExtendedLifetime(dropped) {}  // freed here, outside the lock
    }

    /// Distinct selectors in use.
    var count: Int { entries.withLock { $0.count } }
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
