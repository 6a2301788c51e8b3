#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HeraldTestSupport

/// Decides whether tests that need a real `redis-server` run.
///
/// With the server installed they run. Without it they are skipped loudly, except in CI
/// (`CI=true`), where they run anyway and fail: a missing server must not pass as green.
enum RedisTestGate {
    static let isCI: Bool = getenv("CI").map { String(cString: $0) } == "true"

    static let shouldRun: Bool = {
        if RedisServerProcess.executablePath != nil { return true }
        if isCI { return true }
        print(
            """
            ⚠️⚠️⚠️ WARNING: redis-server is not installed: SKIPPING all Redis integration tests. \
            Install it (apt-get install -y redis-server); with CI=true these tests fail instead. ⚠️⚠️⚠️
            """
        )
        return false
    }()
}
