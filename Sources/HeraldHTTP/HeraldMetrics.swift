import HTTPTypes
import HeraldHub
import Hummingbird
import NIOCore

extension HeraldEndpoint {
    /// The hub's counters in the Prometheus text format (0.0.4), read when scraped: the
    /// fan-out path pays nothing for them. The same numbers are in `hub.statistics` and
    /// `hub.isFanOutBacklogged`.
    public var prometheusText: String {
        let statistics = hub.statistics
        let metrics: [(name: String, type: String, help: String, value: String)] = [
            ("herald_subscribers", "gauge", "Subscribers connected to this node.", "\(statistics.subscribers)"),
            ("herald_subscriptions_opened_total", "counter", "Subscriptions opened since start.",
             "\(statistics.subscriptionsOpened)"),
            ("herald_updates_total", "counter", "Updates fanned out on this node since start.", "\(statistics.dispatched)"),
            ("herald_deliveries_total", "counter", "Live updates written to subscribers since start.",
             "\(statistics.delivered)"),
            ("herald_subscribers_dropped_total", "counter", "Subscribers dropped for falling behind their bound.",
             "\(statistics.dropped)"),
            ("herald_history_updates", "gauge", "Updates retained for replay.", "\(statistics.historyCount)"),
            ("herald_fanout_backlogged", "gauge", "1 while fan-out is behind and publishers are held back.",
             hub.isFanOutBacklogged ? "1" : "0"),
            ("herald_broker_catchup_retries_total", "counter",
             "Failed broker catch-up reads (after a lost Redis connection) retried since start.",
             "\(statistics.brokerCatchUpRetries)"),
            ("herald_fast_path_publishes_total", "counter", "Publishes answered on the event loop.",
             "\(fastPathPublishes)"),
            ("herald_gap_events_total", "counter",
             "Subscriptions that started with a herald-gap event (their Last-Event-ID was not in history).",
             "\(statistics.gapEvents)"),
            ("herald_publish_duplicates_total", "counter",
             "Publishes recognised as retries by their id, answered without storing or delivering again.",
             "\(statistics.publishDuplicates)"),
            ("herald_matching_states", "gauge",
             "Matching states of the distinct template selectors in use (bounded by --max-matching-states).",
             "\(statistics.matchingStates)"),
        ]
        var text = ""
        for metric in metrics {
            text += "# HELP \(metric.name) \(metric.help)\n# TYPE \(metric.name) \(metric.type)\n"
            text += "\(metric.name) \(metric.value)\n"
        }
        return text
    }
}

extension Router {
    /// Serves `endpoint.prometheusText` at `path` for a Prometheus scraper. It tells how many
    /// streams are open, so by default only loopback clients get it (403 for others, which
    /// needs a context that knows the client's address, e.g. `HeraldRequestContext`); pass
    /// `allowRemote` for a scraper on another host, and keep the path off any public proxy.
    public func addHeraldMetrics(_ endpoint: HeraldEndpoint, path: String = "/metrics", allowRemote: Bool = false) {
        self.get(RouterPath(path)) { request, context in
            let remoteAddress = (context as? any RemoteAddressRequestContext)?.remoteAddress
            if !allowRemote, !isLocalClient(remoteAddress, forwarded: request.headers.isForwardedByProxy) {
                return Response.plainText(.forbidden, "metrics are served to loopback clients only (not through a proxy)")
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: endpoint.prometheusText))
            )
        }
    }
}
