import HeraldHub

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a verified token allows, whichever kind of token it was: a Mercure 0.x JWT (the
/// `mercure` claim) or a Mercure 1.0 OAuth 2.0 access token (`authorization_details`).
///
/// The request layer decides with this alone, so one rule serves both protocol versions:
/// publishing needs every topic of the update covered by ``publish``; a private update reaches
/// a subscriber when one of its topics is covered by ``subscribe``.
package struct MercureGrant: Sendable, Hashable {
    /// Which kind of token produced the grant.
    package enum TokenKind: Sendable, Hashable {
        /// A Mercure 0.x JWT carrying the `mercure` claim.
        case legacy
        /// A Mercure 1.0 JWT access token (RFC 9068, `typ: at+jwt`).
        case accessToken
    }

    /// One grant of the `subscribe` action: its selectors and the payload attached to the
    /// subscriptions it covers (1.0: each `authorization_details` entry has its own).
    package struct SubscribeDetail: Sendable, Hashable {
        /// The selectors this entry grants.
        package var selectors: [TopicSelector]
        /// The `payload` of the entry, shown by the subscriptions API and subscription events.
        package var payload: JSONValue?

        /// Creates an entry.
        package init(selectors: [TopicSelector], payload: JSONValue? = nil) {
            self.selectors = selectors
            self.payload = payload
        }
    }

    /// The kind of token the grant comes from.
    package var kind: TokenKind
    /// Selectors the bearer may publish to; nil when the token grants no publishing at all.
    package var publish: [TopicSelector]?
    /// Selectors whose private updates the bearer may receive; nil when it grants none.
    package var subscribe: [TopicSelector]? {
        subscribeDetails.map { details in details.flatMap(\.selectors) }
    }
    /// The `subscribe` grants, in token order (payload selection is first match wins); nil
    /// when the token grants no subscribing.
    package var subscribeDetails: [SubscribeDetail]?
    /// 0.x: `mercure.payload`, the payload of every subscription of the bearer. 1.0: nil (each
    /// detail has its own, see ``payload(forSubscription:)``).
    package var payload: JSONValue?
    /// `sub`, when the token has one.
    package var subject: String?
    /// When the token stops being valid (`exp`); nil for a 0.x token without `exp`.
    package var expiresAt: Date?

    /// Creates a grant.
    package init(
        kind: TokenKind,
        publish: [TopicSelector]?,
        subscribeDetails: [SubscribeDetail]?,
        payload: JSONValue? = nil,
        subject: String? = nil,
        expiresAt: Date? = nil
    ) {
        self.kind = kind
        self.publish = publish
        self.subscribeDetails = subscribeDetails
        self.payload = payload
        self.subject = subject
        self.expiresAt = expiresAt
    }

    /// The grant of a verified 0.x token: its `mercure.publish` and `mercure.subscribe`
    /// selectors parsed as 0.x selectors (`*`, exact topics, RFC 6570 templates; entries that do
    /// not parse grant nothing, as before), and `mercure.payload` for every subscription.
    package init(claims: MercureClaims) {
        let mercure = claims.mercure
        self.init(
            kind: .legacy,
            publish: mercure?.publish.map(Self.legacySelectors),
            subscribeDetails: mercure?.subscribe.map { [SubscribeDetail(selectors: Self.legacySelectors($0), payload: mercure?.payload)] },
            payload: mercure?.payload,
            subject: claims.sub?.value,
            expiresAt: claims.exp?.value
        )
    }

    private static func legacySelectors(_ raw: [String]) -> [TopicSelector] {
        raw.compactMap { try? TopicSelector($0) }
    }

    /// The first of `topics` that no ``publish`` selector matches; nil when the grant covers
    /// them all (an update is published only when every one of its topics is granted).
    package func firstTopicNotPublishable(_ topics: [String]) -> String? {
        let allowed = publish ?? []
        return topics.first { topic in !allowed.contains { $0.matches(topic) } }
    }

    /// Whether the grant lets the bearer publish to every one of `topics`.
    package func mayPublish(to topics: [String]) -> Bool {
        publish != nil && firstTopicNotPublishable(topics) == nil
    }

    /// Whether a private update with these topics may reach the bearer: one of them is
    /// matched by a ``subscribe`` selector.
    package func mayReceive(privateUpdateWith topics: [String]) -> Bool {
        guard let details = subscribeDetails else { return false }
        return details.contains { detail in
            detail.selectors.contains { selector in topics.contains { selector.matches($0) } }
        }
    }

    /// The payload of a subscription made with `selector`: 0.x, `mercure.payload`; 1.0, the
    /// payload of the first `subscribe` detail one of whose selectors matches the
    /// subscription's own selector text (`*` matches every subscription).
    package func payload(forSubscription selector: TopicSelector) -> JSONValue? {
        if kind == .legacy { return payload }
        for detail in subscribeDetails ?? [] where detail.selectors.contains(where: { $0.matches(selector.rawValue) }) {
            return detail.payload
        }
        return nil
    }
}
