import HeraldHub
import HeraldRedis
import HeraldTestSupport
import Testing

extension RedisIntegrationTests {
    /// Publishing runs the Lua script by its hash (EVALSHA), loads it once, and recovers when
    /// Redis forgets it (a restart without persistence, `SCRIPT FLUSH`).
    @Suite("Redis scripts: EVALSHA, loaded once, reloaded after NOSCRIPT")
    struct Scripts {
        @Test func publishesRunTheScriptByItsHashAndSurviveAFlush() async throws {
            try await withRedisServer { server in
                let admin = try await server.connect()
                let node = try await HeraldNode.start(server.configuration())
                let recorder = try await node.follow(["/scripts"])
                for index in 0..<5 {
                    _ = try await node.hub.publish(Update(topics: ["/scripts"], data: "before \(index)"))
                }
                try await recorder.waitFor(5)
                #expect(try await admin.calls(of: ["eval"]) == 0, "the script text went over the wire")
                #expect(try await admin.calls(of: ["evalsha"]) >= 5)
                #expect(try await admin.calls(of: ["script"]) == 1, "loaded once")

                // Redis forgets every script: the next publish is answered NOSCRIPT, reloads
                // the script and goes through; nothing is lost or doubled.
                _ = try await admin.send(["SCRIPT", "FLUSH"])
                _ = try await node.hub.publish(Update(topics: ["/scripts"], data: "after"))
                try await recorder.waitFor(6)
                #expect(recorder.data == (0..<5).map { "before \($0)" } + ["after"])
                // FLUSH itself counts as a `script` call: one more load after it.
                #expect(try await admin.calls(of: ["script"]) == 3)
                recorder.stop()
                await node.stop()
                await admin.close()
            }
        }
    }
}
