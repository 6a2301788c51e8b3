/// How long an ``EventSource`` waits before reconnecting.
///
/// The base is the reconnection time (the server's `retry:`, else the configured one). After a
/// connection that delivered at least one event the wait is the base; each further attempt in a
/// row that delivers nothing (refused, an error, a stream closed before any event) multiplies it
/// by ``multiplier``, up to ``maxDelay``. A random ``jitter`` share is added on top, so clients
/// dropped together by a server restart do not all come back in the same instant. The wait is
/// never shorter than the server's `retry:` (a server may ask for more than ``maxDelay``; it gets it).
public struct Backoff: Sendable, Hashable {
    /// Growth per failed attempt in a row (1 keeps the wait at the base).
    public var multiplier: Double
    /// The cap on the grown wait (before jitter), unless the base itself is longer.
    public var maxDelay: Duration
    /// Up to this share of the wait is added at random (0 for none, 0.2 for up to 20%).
    public var jitter: Double

    /// Doubles up to 60 s, plus up to 20% at random.
    public init(multiplier: Double = 2, maxDelay: Duration = .seconds(60), jitter: Double = 0.2) {
        precondition(multiplier >= 1 && jitter >= 0, "multiplier must be at least 1 and jitter not negative")
        self.multiplier = multiplier
        self.maxDelay = maxDelay
        self.jitter = jitter
    }

    /// The wait before the next attempt, given the base and how many attempts in a row delivered
    /// nothing (0 or 1: the base). `random` is in 0...1 (a fresh random number in use; fixed in tests).
    public func delay(base: Duration, failures: Int, random: Double) -> Duration {
        let baseSeconds = Self.seconds(base)
        let cap = max(Self.seconds(self.maxDelay), baseSeconds)
        // Stop multiplying once past the cap: the exponent never overflows.
        var grown = baseSeconds
        var step = 1
        while step < failures, grown < cap {
            grown *= self.multiplier
            step += 1
        }
        let capped = min(grown, cap)
        return .seconds(capped * (1 + self.jitter * min(max(random, 0), 1)))
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
