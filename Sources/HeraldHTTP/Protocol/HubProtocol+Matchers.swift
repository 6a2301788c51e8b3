import HeraldHub

extension HubProtocol {
    /// Mercure 1.0 matchers (`match`, `match_exact`: exact; `match_urlpattern`: WHATWG URL
    /// Pattern) as the hub's selectors, within its limits.
    static func matcherSelectors(_ matchers: [(name: String, value: String)], hub: Hub) throws(HubError) -> [TopicSelector] {
        // Placeholder until HeraldHub's selector kinds land (branch urlpattern).
        throw .invalidSubscription("Mercure 1.0 matchers are not supported yet")
    }
}
