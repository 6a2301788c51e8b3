import HeraldHub

extension HubProtocol {
    /// Mercure 1.0 matchers as the hub's selectors, within its limits (checked over all of
    /// them): `match` and `match_exact` are exact (never a template, `*` is just a string),
    /// `match_urlpattern` a WHATWG URL Pattern. A relative pattern (and a relative topic matched
    /// against a pattern) is resolved against `hubURL`, the hub's URL (its resource identifier),
    /// as Mercure 1.0 requires: that is how a subscriber follows the hub's own subscription
    /// events (`/.well-known/mercure/subscriptions/:match_type/:match/:subscriber`). Without a
    /// hub URL (no `Host`) a relative pattern is refused (400).
    static func matcherSelectors(
        _ matchers: [(name: String, value: String)],
        hub: Hub,
        hubURL: String?
    ) throws(HubError) -> [TopicSelector] {
        try hub.selectors(
            matchers.map { matcher in
                (text: matcher.value, syntax: matcher.name == "match_urlpattern" ? TopicSelector.Syntax.urlPattern : .exact)
            },
            baseURL: hubURL
        )
    }
}
