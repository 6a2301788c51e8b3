import HeraldHub

extension HubProtocol {
    /// Mercure 1.0 matchers as the hub's selectors, within its limits (checked over all of
    /// them): `match` and `match_exact` are exact (never a template, `*` is just a string),
    /// `match_urlpattern` a WHATWG URL Pattern. Relative patterns would be resolved against the
    /// hub's public URL, which the hub does not know yet: they are refused (400).
    static func matcherSelectors(_ matchers: [(name: String, value: String)], hub: Hub) throws(HubError) -> [TopicSelector] {
        try hub.selectors(
            matchers.map { matcher in
                (text: matcher.value, syntax: matcher.name == "match_urlpattern" ? TopicSelector.Syntax.urlPattern : .exact)
            }
        )
    }
}
