import HeraldRedis
import Testing

@Suite("Reconnect backoff")
struct RedisBackoffTests {
    @Test("Delays double from the initial delay and stop at the maximum")
    func doubling() {
        let backoff = RedisBackoff(initial: .milliseconds(50), maximum: .seconds(2))
        let delays = (0..<9).map { backoff.delay(forAttempt: $0) }
        #expect(
            delays == [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000].map { Duration.milliseconds($0) }
        )
        #expect(backoff.delay(forAttempt: 10_000) == .seconds(2))
        #expect(backoff.delay(forAttempt: -1) == .milliseconds(50))
    }
}
