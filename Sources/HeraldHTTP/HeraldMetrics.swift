import HTTPTypes
import HeraldHub
import Hummingbird
import NIOCore

extension HeraldEndpoint {
    /// The hub's counters and gauges in the Prometheus text format (0.0.4), read from
    /// `hub.statistics` when scraped, for an app that has no metrics backend: it needs none
    /// bootstrapped, and the fan-out path pays nothing for it. The names are `HeraldMetric`'s;
    /// the histograms (`herald_publish_to_write_seconds`, `herald_fanout_batch_size`) exist
    /// only in a swift-metrics backend (`herald serve` renders its own with swift-prometheus).
    public var prometheusText: String {
        let statistics = hub.statistics
        var text = ""
        for metric in HeraldMetric.allCases {
            let value: String
            switch metric {
            case .subscribers: value = "\(statistics.subscribers)"
            case .subscriptionsOpened: value = "\(statistics.subscriptionsOpened)"
            case .updates: value = "\(statistics.dispatched)"
            case .deliveries: value = "\(statistics.delivered)"
            case .subscribersDropped: value = "\(statistics.dropped)"
            case .historyUpdates: value = "\(statistics.historyCount)"
            case .fanOutBacklogged: value = hub.isFanOutBacklogged ? "1" : "0"
            case .brokerCatchUpRetries: value = "\(statistics.brokerCatchUpRetries)"
            case .fastPathPublishes: value = "\(fastPathPublishes)"
            case .gapEvents: value = "\(statistics.gapEvents)"
            case .publishDuplicates: value = "\(statistics.publishDuplicates)"
            case .matchingStates: value = "\(statistics.matchingStates)"
            case .presenceChangesDropped: value = "\(statistics.presenceChangesDropped)"
            case .publishToWrite, .fanOutBatchSize: continue
            }
            let type = metric.kind == .counter ? "counter" : "gauge"
            text += "# HELP \(metric.name) \(metric.help)\n# TYPE \(metric.name) \(type)\n"
            text += "\(metric.name) \(value)\n"
        }
        return text
    }
}

extension Router {
    /// Serves `endpoint.prometheusText` (read from `hub.statistics`, no metrics backend needed)
    /// at `path` for a Prometheus scraper, to loopback clients only unless `allowRemote`; see
    /// ``addHeraldMetrics(path:allowRemote:render:)``.
    public func addHeraldMetrics(_ endpoint: HeraldEndpoint, path: String = "/metrics", allowRemote: Bool = false) {
        addHeraldMetrics(path: path, allowRemote: allowRemote) { ByteBuffer(string: endpoint.prometheusText) }
    }

    /// Serves what `render` returns (Prometheus text format 0.0.4, e.g. a swift-prometheus
    /// registry's `emitToBuffer()`) at `path`. Metrics tell how many streams are open, so by
    /// default only loopback clients get them (403 for others, and for anything that came
    /// through a reverse proxy; telling them apart needs a context that knows the client's
    /// address, e.g. `HeraldRequestContext`); pass `allowRemote` for a scraper on another host,
    /// and keep the path off any public proxy. `render` runs on every scrape.
    public func addHeraldMetrics(
        path: String = "/metrics",
        allowRemote: Bool = false,
        render: @escaping @Sendable () -> ByteBuffer
    ) {
        self.get(RouterPath(path)) { request, context in
            let remoteAddress = (context as? any RemoteAddressRequestContext)?.remoteAddress
            if !allowRemote, !isLocalClient(remoteAddress, forwarded: request.headers.isForwardedByProxy) {
                return Response.plainText(.forbidden, "metrics are served to loopback clients only (not through a proxy)")
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: render())
            )
        }
    }
}
