import Foundation
import HeraldEventSource
import HeraldTesting
import Testing

/// One row of `Tests/eventsource/format-vectors.json` (shared with the Chromium comparison).
struct FormatVector: Decodable, Sendable, CustomTestStringConvertible {
    var name: String
    var source: String?
    var input: String?
    var inputBase64: String?
    var expected: [Dispatched]

    var bytes: [UInt8] {
        if let inputBase64, let data = Data(base64Encoded: inputBase64) { return Array(data) }
        return Array((self.input ?? "").utf8)
    }

    var testDescription: String { self.name }

    /// Where the body is cut, one plan per connection: whole, every byte on its own, and every
    /// two-piece split (only around line ends and the BOM for long inputs).
    var splitPlans: [[Int]] {
        let bytes = self.bytes
        var plans: [[Int]] = [[], Array(1..<max(bytes.count, 1))]
        let interesting: [Int]
        if bytes.count <= 96 {
            interesting = Array(1..<max(bytes.count, 1))
        } else {
            interesting = bytes.indices.filter { [0x0A, 0x0D, 0xEF, 0xBB, 0xBF].contains(bytes[$0]) }.flatMap { [$0, $0 + 1] }
        }
        plans += Set(interesting).sorted().map { [$0] }
        return plans
    }
}

struct FormatVectorFile: Decodable {
    var vectors: [FormatVector]
}

let formatVectors: [FormatVector] = {
    let url = repositoryRoot.appendingPathComponent("Tests/eventsource/format-vectors.json")
    guard let data = try? Data(contentsOf: url), let file = try? JSONDecoder().decode(FormatVectorFile.self, from: data) else {
        return []
    }
    return file.vectors
}()

@Suite("Stream-format vectors through a real socket")
struct FormatVectorTests {
    @Test func theTableIsThere() {
        #expect(formatVectors.count >= 26)
    }

    /// Each vector is served over a real loopback connection once per split plan (each piece is
    /// its own write and TCP segment), and each connection must dispatch exactly the table's
    /// events. A fresh iterator per connection: the table is about one first connection.
    @Test("every split of the vector dispatches the table's events", arguments: formatVectors)
    func vector(_ vector: FormatVector) async throws {
        let bytes = vector.bytes
        let plans = vector.splitPlans
        try await ScriptedServer.run(script: { request in
            .stream(bytes, splits: plans[request.connection % plans.count])
        }) { server in
            let source = EventSource(url: server.url, configuration: immediate())
            for plan in plans {
                let got = try await withTimeout(.seconds(10), "\(vector.name) split at \(plan.prefix(4))") {
                    var iterator = source.makeAsyncIterator()
                    return try await iterator.oneConnection().events
                }
                if plan.isEmpty { recordResult(vector.name, got) }
                #expect(got == vector.expected, "split at \(plan)")
                if got != vector.expected { break }  // one failure per vector is enough to read
            }
        }
    }

    /// `retry:` is read whatever the splits (the vectors that carry one), including a bogus one
    /// that must be ignored.
    @Test(arguments: [
        ("field-retry", Duration.milliseconds(3000)),
        ("field-retry-bogus", .milliseconds(3000)),
        ("data-before-final-empty-line", .milliseconds(1000)),
    ])
    func retryFieldSetsTheReconnectionTime(name: String, expected: Duration) async throws {
        let vector = try #require(formatVectors.first { $0.name == name })
        let bytes = vector.bytes
        try await ScriptedServer.run(script: { _ in .stream(bytes, splits: [3, 9]) }) { server in
            let source = EventSource(url: server.url, configuration: immediate())
            let after = try await withTimeout(.seconds(10), name) {
                var iterator = source.makeAsyncIterator()
                return try await iterator.oneConnection().reconnectAfter
            }
            #expect(after == expected)
        }
    }
}
