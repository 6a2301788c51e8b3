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
    /// HeraldVapor. They are left out of the comparison (on both servers, so that they cannot
    /// change what later rows see, e.g. the newest event id) and checked on their own: Vapor's
    /// answer must be exactly the status given (nil: no answer within the read's 5 s).
    static let vaporDifferences: [String: (keyless: Int?, keyed: Int?, why: String)] = [
        // Vapor parses the target with Foundation's URL, which repairs a malformed escape
        // (`%zz` becomes `%25zz`) before any route sees the request: the hub gets a valid query.
        "bad query escape": (200, 401, "Vapor re-encodes the malformed escape: a valid publish (keyless) or one without a token (keyed)"),
        "subscribe, bad query": (200, 200, "Vapor re-encodes the malformed escape: a subscription to the topic '%zz'"),
        "subscribe, refused from another origin still gets CORS": (200, 200, "Vapor re-encodes the malformed escape, as above"),
        // Observed: Vapor sends no answer while the declared body is owed (the client here never
        // sends it); a client that sends its body gets the core's 413.
        "declared body over the limit": (nil, nil, "Vapor holds the answer while the declared body is owed"),
        "declared body over the limit, with a token": (nil, nil, "Vapor holds the answer while the declared body is owed"),
    ]

    static func check(_ allRows: [Row], http: HeraldHTTPConfiguration, keyed: Bool) async throws {
        let rows = allRows.filter { Self.vaporDifferences[$0.name] == nil }
        let different = allRows.filter { Self.vaporDifferences[$0.name] != nil }
        var expected: [Answer] = []
        try await TestServer.run(http: http, pipeline: .herald) { server in
            expected = try await PipelineTable.answers(rows, port: server.port)
        }
        var answered: [Answer] = []
        var differentAnswers: [Answer] = []
        try await VaporTestApp.run(http: http) { app, _ in
            answered = try await PipelineTable.answers(rows, port: app.port)
            differentAnswers = try await PipelineTable.answers(different, port: app.port)
        }
        #expect(answered.count == rows.count)
        for (index, row) in rows.enumerated() where index < answered.count {
            let vapor = answered[index]
            #expect(vapor.status == row.status, "\(row.name): \(vapor)")
            for (name, value) in row.headers {
                #expect(vapor.headers[name] == value, "\(row.name): \(name) in \(vapor)")
            }
            #expect(vapor == expected[index], "\(row.name): Vapor answered \(vapor), .herald \(expected[index])")
        }
        for (row, vapor) in zip(different, differentAnswers) {
            let difference = Self.vaporDifferences[row.name]!
            let status = (keyed ? difference.keyed : difference.keyless) ?? 0
            #expect(vapor.status == status, "\(row.name) (\(difference.why)): \(vapor)")
        }
    }

    @Test func aKeylessHubAnswersEveryRowAsHeraldServeDoes() async throws {
        try await Self.check(PipelineTable.keylessRows(), http: PipelineTable.configuration(keys: false), keyed: false)
    }

    @Test func aKeyedHubAnswersEveryRowAsHeraldServeDoes() async throws {
        try await Self.check(try await PipelineTable.keyedRows(), http: PipelineTable.configuration(keys: true), keyed: true)
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
