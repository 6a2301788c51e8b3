import HTTPTypes
import HeraldHub
import NIOCore

/// What a request-and-response transport (the Hummingbird router, HeraldVapor) does with a hub
/// request once the core has decided: write an answer, or open the subscription and stream it.
package enum HubOutcome: Sendable {
    /// A finished answer (refusals, publishes, preflights, the subscriptions API, long-polls).
    case answer(HubAnswer)
    /// An authorized subscription: open it (`Hub.subscribe`) and stream it with `streamHeaders`.
    case subscribe(HubProtocol.SubscribeIntent)
}

extension HeraldEndpoint {
    /// The whole exchange for a transport that hands over a request and can read its body on
    /// demand: a publish's body is read (`readBody`, within `configuration.maxBodySize`; a throw
    /// is a 413) only when the core would read it, then the core decides, and a publish is
    /// published. The one place this order is written for every such transport.
    package func outcome(
        of request: HubRequest,
        readBody: (_ limit: Int) async throws -> ByteBuffer
    ) async -> HubOutcome {
        var request = request
        let origin = request.origin
        if request.method == .post, core.resource(request.path) == .hub, core.refusalBeforeBody(request) == nil {
            do {
                request.body = try await readBody(configuration.maxBodySize)
            } catch {
                return .answer(core.withCORS(Refusal.bodyTooLarge(configuration.maxBodySize).answer, origin: origin))
            }
        }
        switch await core.decide(request) {
        case .answer(let answer): return .answer(answer)
        case .publish(let update): return .answer(await core.publish(update, origin: origin))
        case .subscribe(let intent): return .subscribe(intent)
        }
    }

    /// The answer when the hub would not open an authorized subscription (shutting down, over
    /// the matching budget, ...), with the CORS fields its `origin` earns.
    package func refusalAnswer(_ error: any Error, origin: String?) -> HubAnswer {
        core.withCORS(core.refusal(error).answer, origin: origin)
    }

    /// The header fields of a stream's answer (see `HubProtocol.streamHeaders`).
    package func streamHeaders(_ subscription: Subscription, _ intent: HubProtocol.SubscribeIntent, origin: String?) -> HTTPFields {
        core.streamHeaders(subscription, intent, origin: origin)
    }
}
