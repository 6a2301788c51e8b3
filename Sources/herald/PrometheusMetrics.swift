import CoreMetrics
import HeraldHub
import Prometheus

/// `herald serve`'s metrics backend: swift-prometheus, with Herald's help texts and histogram
/// buckets (`HeraldMetric`) on Herald's metrics. Anything else that reports to swift-metrics
/// in the process gets swift-prometheus's defaults.
///
/// The help text must be given when a metric is made (the registry refuses the same name
/// with another help later), so this factory looks it up by label rather than registering
/// the metrics up front.
struct HeraldPrometheusFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    private let fallback: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.fallback = PrometheusMetricsFactory(registry: registry)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let metric = HeraldMetric(rawValue: label) else {
            return fallback.makeCounter(label: label, dimensions: dimensions)
        }
        return registry.makeCounter(descriptor: metric.descriptor, labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        guard let metric = HeraldMetric(rawValue: label) else {
            return fallback.makeFloatingPointCounter(label: label, dimensions: dimensions)
        }
        return registry.makeCounter(descriptor: metric.descriptor, labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard let metric = HeraldMetric(rawValue: label) else {
            return fallback.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        }
        guard aggregate else { return registry.makeGauge(descriptor: metric.descriptor, labels: dimensions) }
        return registry.makeValueHistogram(descriptor: metric.descriptor, labels: dimensions, buckets: metric.buckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        guard let metric = HeraldMetric(rawValue: label) else {
            return fallback.makeMeter(label: label, dimensions: dimensions)
        }
        return registry.makeGauge(descriptor: metric.descriptor, labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let metric = HeraldMetric(rawValue: label) else {
            return fallback.makeTimer(label: label, dimensions: dimensions)
        }
        let buckets = metric.buckets.map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }
        return registry.makeDurationHistogram(descriptor: metric.descriptor, labels: dimensions, buckets: buckets)
    }

    // Every handler comes from `registry`: its own factory knows how to drop each kind.
    func destroyCounter(_ handler: any CounterHandler) { fallback.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        fallback.destroyFloatingPointCounter(handler)
    }
    func destroyRecorder(_ handler: any RecorderHandler) { fallback.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { fallback.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { fallback.destroyTimer(handler) }
}

extension HeraldMetric {
    /// The registry's description of the metric: its whole name (no unit suffix added) and help.
    var descriptor: MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
