#if Vapor
import HeraldHTTP
import HeraldHub
import HeraldTestSupport
import Testing

/// The pipeline-equivalence table (`PipelineTable`, the one the Hummingbird pipelines answer in
/// HeraldHTTPTests) sent to a Vapor app with `app.herald`: every row must get the status it
/// expects and the same status, headers that matter and body as `herald serve`'s pipeline
/// (`.herald`), except the rows below, which Vapor answers before the hub sees them.
@Suite(.serialized)
struct VaporEquivalenceTests {
    typealias Row = PipelineTable.Row
    typealias Answer = PipelineTable.Answer

    /// Rows Vapor answers differently, with what it answers and why that cannot be helped in
    /// HeraldVapor. Each is still checked: the answer must be exactly this.
    static let vaporDifferences: [String: (status: Int, why: String)] = [:]

    static func check(_ rows: [Row], http: HeraldHTTPConfiguration) async throws {
        var expected: [Answer] = []
        try await TestServer.run(http: http, pipeline: .herald) { server in
            expected = try await PipelineTable.answers(rows, port: server.port)
        }
        var answered: [Answer] = []
        try await VaporTestApp.run(http: http) { app, _ in
            answered = try await PipelineTable.answers(rows, port: app.port)
        }
        #expect(answered.count == rows.count)
        for (index, row) in rows.enumerated() where index < answered.count {
            let vapor = answered[index]
            if let difference = Self.vaporDifferences[row.name] {
                #expect(vapor.status == difference.status, "\(row.name) (\(difference.why)): \(vapor)")
                continue
            }
            #expect(vapor.status == row.status, "\(row.name): \(vapor)")
            for (name, value) in row.headers {
                #expect(vapor.headers[name] == value, "\(row.name): \(name) in \(vapor)")
            }
            #expect(vapor == expected[index], "\(row.name): Vapor answered \(vapor), .herald \(expected[index])")
        }
    }

    @Test func aKeylessHubAnswersEveryRowAsHeraldServeDoes() async throws {
        try await Self.check(PipelineTable.keylessRows(), http: PipelineTable.configuration(keys: false))
    }

    @Test func aKeyedHubAnswersEveryRowAsHeraldServeDoes() async throws {
        try await Self.check(try await PipelineTable.keyedRows(), http: PipelineTable.configuration(keys: true))
    }

    /// Under a prefix the hub answers at `/{prefix}{path}` and nowhere else.
    @Test func aPrefixMovesTheHub() async throws {
        try await VaporTestApp.run(prefix: "/api/") { app, _ in
            let rows = [
                Row(name: "publish under the prefix", request: PipelineTable.post("topic=t&id=under-api").replacingOccurrences(of: "POST /", with: "POST /api/"), status: 200),
                Row(name: "publish without it", request: PipelineTable.post("topic=t&id=nowhere"), status: 404),
            ]
            let answers = try await PipelineTable.answers(rows, port: app.port)
            #expect(answers[0].status == 200 && answers[0].body == "under-api", "\(answers[0])")
            #expect(answers[1].status == 404, "\(answers[1])")
        }
    }
}
#endif
