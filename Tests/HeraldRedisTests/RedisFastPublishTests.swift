import HeraldHTTP
import HeraldHub
import HeraldRedis
import HeraldTestSupport
import Testing

extension RedisIntegrationTests {
    /// In Redis mode `.herald`'s connections answer publishes from the event loop too: the Lua
    /// script runs by its hash on the open command connection and the answer is written when
    /// Redis replies, with no task per publish; pipelined publishes keep their order.
    @Suite("Redis: publishes answered on the event loop")
    struct FastPublish {
        @Test func pipelinedPublishesAreAnsweredOnTheLoopInOrderAndSurviveAFlush() async throws {
            try await withRedisServer { redis in
                let broker = RedisBroker(configuration: RedisBrokerConfiguration(redis: redis.configuration()))
                try await TestServer.run(broker: broker, pipeline: .herald) { server in
                    let stream = try await RawConnection.open(port: server.port)
                    defer { stream.close() }
                    try await stream.send("GET /.well-known/mercure?topic=fast HTTP/1.1\r\nHost: x\r\n\r\n")
                    _ = try await stream.read { $0.contains("\r\n\r\n") }

                    func publish(_ data: String) -> String {
                        let form = "topic=fast&data=\(data)"
                        return "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
                            + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
                    }
                    let publisher = try await RawConnection.open(port: server.port)
                    defer { publisher.close() }
                    // The first publish connects and loads the script (the task path).
                    try await publisher.send(publish("first"))
                    _ = try await publisher.read { completeResponses($0) == 1 }
                    let before = server.endpoint.fastPathPublishes

                    // Three in one write: answered in order, each from the loop.
                    try await publisher.send(publish("a") + publish("b") + publish("c"))
                    let answers = try await publisher.read { completeResponses($0) == 4 }
                    #expect(answers.components(separatedBy: "HTTP/1.1 200 OK").count == 5, "four 200s: \(answers)")
                    #expect(server.endpoint.fastPathPublishes - before == 3)

                    // Redis forgets every script: the on-loop publish sends the script in full.
                    let admin = try await redis.connect()
                    _ = try await admin.send(["SCRIPT", "FLUSH"])
                    try await publisher.send(publish("after-flush"))
                    let flushed = try await publisher.read { completeResponses($0) == 5 }
                    #expect(flushed.components(separatedBy: "HTTP/1.1 200 OK").count == 6, "answered after the flush: \(flushed)")
                    await admin.close()

                    let text = try await stream.read { $0.contains("data: after-flush") }
                    let order = ["first", "a", "b", "c", "after-flush"].map { text.range(of: "data: \($0)\n")?.lowerBound }
                    #expect(order.allSatisfy { $0 != nil })
                    #expect(order.compactMap { $0 } == order.compactMap { $0 }.sorted(), "delivered in publish order")
                }
            }
        }

        /// Redis gone while publishes are answered on the loop: 503 with the core's reason, and
        /// the connection goes on (the next request is read and answered).
        @Test func aPublishOnTheLoopWithRedisGoneIs503() async throws {
            let redis = try await RedisServerProcess.start()
            let broker = RedisBroker(configuration: RedisBrokerConfiguration(redis: redis.configuration(commandTimeout: .seconds(1))))
            try await TestServer.run(broker: broker, pipeline: .herald) { server in
                let form = "topic=gone&data=x"
                let request = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
                    + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.utf8.count)\r\n\r\n\(form)"
                let publisher = try await RawConnection.open(port: server.port)
                defer { publisher.close() }
                try await publisher.send(request)
                _ = try await publisher.read { completeResponses($0) == 1 }
                try await publisher.send(request)
                _ = try await publisher.read { completeResponses($0) == 2 }
                let onLoop = server.endpoint.fastPathPublishes
                #expect(onLoop >= 1, "the second publish was answered on the loop")
                redis.stop()
                try await publisher.send(request)
                let refused = try await publisher.read { completeResponses($0) == 3 }
                #expect(refused.components(separatedBy: "HTTP/1.1 503").count == 2, "\(refused)")
                // The connection goes on: the next request is read and answered (503 again).
                try await publisher.send(request)
                let again = try await publisher.read { completeResponses($0) == 4 }
                #expect(again.components(separatedBy: "HTTP/1.1 503").count == 3)
            }
        }
    }
}
