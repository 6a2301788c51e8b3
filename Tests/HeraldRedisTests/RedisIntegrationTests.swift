import Testing

/// Tests against a real `redis-server` (one per test, on a free loopback port), run one at a
/// time so their timing is not disturbed by each other on a small machine.
@Suite(
    "Redis integration",
    .serialized,
    .enabled(if: RedisTestGate.shouldRun, "redis-server is not installed (see the warning above)"),
    .timeLimit(.minutes(2))
)
struct RedisIntegrationTests {}
