import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import Testing

/// The pipeline-equivalence table (`PipelineTable`, shared with the Vapor tests) sent to every
/// Hummingbird pipeline (`.herald`: the raw publish reader and the event-loop handler first;
/// `.http1` with the publish handler; plain `.http1`: the router alone). Every row must get the
/// status it expects, and the same status, headers that matter and body on every pipeline: the
/// protocol core decides, the transports only carry its answer.
@Suite(.serialized)
struct PipelineEquivalenceTests {
    typealias Row = PipelineTable.Row
    typealias Answer = PipelineTable.Answer

    static let pipelines: [TestServer.Pipeline] = [.herald, .publishHandler, .router]

    /// Sends every row to one server, one connection per row, and collects the answers.
    static func answers(_ rows: [Row], http: HeraldHTTPConfiguration, pipeline: TestServer.Pipeline) async throws -> [Answer] {
        try await answersAndFastPublishes(rows, http: http, pipeline: pipeline).0
    }

    /// The answers, and how many publishes the event-loop paths answered themselves.
    static func answersAndFastPublishes(
        _ rows: [Row],
        http: HeraldHTTPConfiguration,
        pipeline: TestServer.Pipeline
    ) async throws -> ([Answer], UInt64) {
        var answers: [Answer] = []
        var fast: UInt64 = 0
        try await TestServer.run(http: http, pipeline: pipeline) { server in
            answers = try await PipelineTable.answers(rows, port: server.port)
            fast = server.endpoint.fastPathPublishes
        }
        return (answers, fast)
    }

    static func check(_ rows: [Row], http: HeraldHTTPConfiguration) async throws {
        var byPipeline: [[Answer]] = []
        for pipeline in pipelines {
            let (answers, fast) = try await answersAndFastPublishes(rows, http: http, pipeline: pipeline)
            byPipeline.append(answers)
            // The fast paths really answered some of the table (the router never does).
            #expect(pipeline == .router ? fast == 0 : fast > 0, "\(pipeline): \(fast) fast publishes")
        }
        for (index, row) in rows.enumerated() {
            let herald = byPipeline[0][index]
            #expect(herald.status == row.status, "\(row.name): \(herald)")
            for (name, value) in row.headers {
                #expect(herald.headers[name] == value, "\(row.name): \(name) in \(herald)")
            }
            for (pipeline, answers) in zip(pipelines.dropFirst(), byPipeline.dropFirst()) {
                #expect(answers[index] == herald, "\(row.name): \(pipeline) answered \(answers[index]), .herald \(herald)")
            }
        }
    }

    @Test func aKeylessHubAnswersEveryRowTheSameOnEveryPipeline() async throws {
        try await Self.check(PipelineTable.keylessRows(), http: PipelineTable.configuration(keys: false))
    }

    @Test func aKeyedHubAnswersEveryRowTheSameOnEveryPipeline() async throws {
        try await Self.check(try await PipelineTable.keyedRows(), http: PipelineTable.configuration(keys: true))
    }

    /// The publish answer is the id exactly (text/plain, no newline) on every pipeline.
    @Test func thePublishAnswerIsTheIDExactly() async throws {
        let rows = [Row(name: "publish", request: PipelineTable.post("topic=t&id=exactly-this"), status: 200)]
        for pipeline in Self.pipelines {
            let answer = try await Self.answers(rows, http: HeraldHTTPConfiguration(), pipeline: pipeline)[0]
            #expect(answer.body == "exactly-this", "\(pipeline)")
            #expect(answer.headers["content-type"] == "text/plain; charset=utf-8", "\(pipeline)")
        }
    }
}
