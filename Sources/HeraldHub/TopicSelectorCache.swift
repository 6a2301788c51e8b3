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

    /// The shared compiled selector for `raw` when one is in use, else a newly compiled one
    /// (not retained: `retain` does that once the subscription is accepted).
    func selector(for raw: String, maxLength: Int) throws(TopicSelectorError) -> TopicSelector {
        if let shared = entries.withLock({ $0[SelectorKey(raw)]?.selector }) { return shared }
        return try TopicSelector(raw, maxLength: maxLength)
    }

    /// Records one more user of each selector; returns the shared instances to keep.
    func retain(_ selectors: [TopicSelector]) -> [TopicSelector] {
        entries.withLock { entries in
            selectors.map { selector in
                let key = SelectorKey(selector.rawValue)
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
                let key = SelectorKey(selector.rawValue)
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

/// A selector's text as a dictionary key, compared byte for byte (like `TopicSelector`).
struct SelectorKey: Hashable, Sendable {
    let text: String

    init(_ text: String) { self.text = text }

    static func == (lhs: SelectorKey, rhs: SelectorKey) -> Bool {
        lhs.text.utf8.elementsEqual(rhs.text.utf8)
    }

    func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
