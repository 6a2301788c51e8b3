import AsyncHTTPClient
import Foundation
import HeraldHTTP
import HeraldTestSupport
import HummingbirdHTTP2
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// The pipeline-equivalence table over HTTP/2: `herald serve` with a certificate runs
/// `.http2Upgrade(tlsConfiguration:)` (ALPN, h2 or HTTP/1.1), so the same rows go to that server
/// over h2 (AsyncHTTPClient, a throwaway certificate made by openssl) and must get the answers the
/// event-loop pipeline gives over HTTP/1.1: same status, same headers that matter, same body.
///
/// Rows left out, each because HTTP/2 cannot carry it, not because the hub answers differently:
/// a `Content-Length` larger than the body sent (a malformed stream in HTTP/2, RFC 9113 §8.1.1:
/// the client cannot send it), and a request target the client will not send as it is (an
/// invalid percent-escape, which AsyncHTTPClient's URL parsing refuses or re-encodes).
///
/// What it found: the `405` to `HEAD` carried its text body, which over HTTP/2 is a protocol
/// error, and the server closed the connection (every SSE stream of that page with it). The core
/// now answers `HEAD` without content on every transport.
extension PipelineEquivalenceTests {
    static let openssl = ["/usr/bin/openssl", "/bin/openssl", "/usr/local/bin/openssl"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Why a row is not sent over HTTP/2; nil: it is.
    static func h2Exception(_ row: Row) -> String? {
        let head = row.request.components(separatedBy: "\r\n\r\n")[0]
        let target = head.components(separatedBy: "\r\n")[0].split(separator: " ")[1]
        if target.contains("%zz") { return "invalid percent-escape in the target: the client will not send it" }
        if let declared = head.components(separatedBy: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
            let length = Int(declared.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
            length != row.request.utf8.count - head.utf8.count - 4
        {
            return "Content-Length larger than the body: malformed in HTTP/2"
        }
        return nil
    }

    /// A throwaway certificate for 127.0.0.1, made by openssl in a temporary directory.
    static func throwawayCertificate() throws -> TLSConfiguration {
        let directory = NSTemporaryDirectory() + "herald-h2-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(openssl))
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl failed")
        let chain = try NIOSSLCertificate.fromPEMFile(directory + "/cert.pem")
        let key = try NIOSSLPrivateKey(file: directory + "/key.pem", format: .pem)
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }

    /// Sends every row (but the exceptions) over one HTTP/2 connection, in order: to
    /// `.http2Upgrade` (every stream through the router), or with `fastPath` to `.herald(_:tls:)`
    /// (hub requests answered in the stream channel, on the event loop), what `herald serve` runs.
    /// `http1OverTLS`: the same to `.herald(_:tls:)`, but the client speaks HTTP/1.1 (ALPN
    /// http/1.1), which that server answers like plain `.herald`.
    static func h2Answers(
        _ rows: [Row],
        http: HeraldHTTPConfiguration,
        fastPath: Bool = false,
        http1OverTLS: Bool = false
    ) async throws -> [Answer?] {
        let tls = try throwawayCertificate()
        let pipeline: TestServer.Pipeline
        if fastPath {
            var alpn = tls
            alpn.applicationProtocols = ["h2", "http/1.1"]
            let context = try NIOSSLContext(configuration: alpn)
            pipeline = .endpointServer { .herald($0, tls: { NIOSSLServerHandler(context: context) }) }
        } else {
            pipeline = .server(try .http2Upgrade(tlsConfiguration: tls))
        }
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateVerification = .none
        var configuration = HTTPClient.Configuration(tlsConfiguration: client)
        if http1OverTLS { configuration.httpVersion = .http1Only }
        let httpClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        var answers: [Answer?] = []
        do {
            try await TestServer.run(http: http, pipeline: pipeline) { server in
                for row in rows {
                    if h2Exception(row) != nil {
                        answers.append(nil)
                        continue
                    }
                    do {
                        answers.append(
                            try await h2Answer(row, client: httpClient, port: server.port, version: http1OverTLS ? .http1_1 : .http2)
                        )
                    } catch {
                        Issue.record("\(row.name): \(error)")
                        answers.append(nil)
                    }
                }
            }
        } catch {
            try await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
        return answers
    }

    static func h2Answer(_ row: Row, client: HTTPClient, port: Int, version: HTTPVersion = .http2) async throws -> Answer {
        let parts = row.request.components(separatedBy: "\r\n\r\n")
        var lines = parts[0].components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)" + requestLine[1])
        request.method = HTTPMethod(rawValue: String(requestLine[0]))
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            // Content-Length is the client's to set from the body; Host becomes `:authority`.
            if name.lowercased() == "content-length" { continue }
            request.headers.add(name: name, value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let body = parts.dropFirst().joined(separator: "\r\n\r\n")
        if !body.isEmpty { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(10))
        #expect(response.version == version, "\(row.name): \(response.version)")
        var headers: [String: String] = [:]
        for (name, value) in response.headers where PipelineTable.comparedHeaders.contains(name.lowercased()) {
            headers[name.lowercased()] = value
        }
        // A stream's body goes on: only its head is compared (the client drops it).
        let text = row.stream ? "" : String(buffer: try await response.body.collect(upTo: 1 << 20))
        return Answer(status: Int(response.status.code), headers: headers, body: text)
    }

    static func checkH2(
        _ rows: [Row],
        http: HeraldHTTPConfiguration,
        fastPath: Bool = false,
        http1OverTLS: Bool = false
    ) async throws {
        let http1 = try await answers(rows, http: http, pipeline: .herald)
        let h2 = try await h2Answers(rows, http: http, fastPath: fastPath, http1OverTLS: http1OverTLS)
        var compared = 0
        for (index, row) in rows.enumerated() {
            guard let answer = h2[index] else { continue }
            compared += 1
            #expect(answer == http1[index], "\(row.name): h2 answered \(answer), HTTP/1.1 \(http1[index])")
        }
        // Every row but the listed exceptions was compared.
        #expect(compared == rows.filter { h2Exception($0) == nil }.count)
        #expect(compared >= rows.count - 4, "\(compared) of \(rows.count) rows compared")
    }

    @Test(.enabled(if: openssl != nil))
    func aKeylessHubAnswersEveryRowTheSameOverHTTP2() async throws {
        try await Self.checkH2(PipelineTable.keylessRows(), http: PipelineTable.configuration(keys: false))
    }

    @Test(.enabled(if: openssl != nil))
    func aKeyedHubAnswersEveryRowTheSameOverHTTP2() async throws {
        try await Self.checkH2(try await PipelineTable.keyedRows(), http: PipelineTable.configuration(keys: true))
    }

    @Test(.enabled(if: openssl != nil))
    func aKeylessHubAnswersEveryRowTheSameOnTheHTTP2FastPath() async throws {
        try await Self.checkH2(PipelineTable.keylessRows(), http: PipelineTable.configuration(keys: false), fastPath: true)
    }

    @Test(.enabled(if: openssl != nil))
    func aKeyedHubAnswersEveryRowTheSameOnTheHTTP2FastPath() async throws {
        try await Self.checkH2(try await PipelineTable.keyedRows(), http: PipelineTable.configuration(keys: true), fastPath: true)
    }

    @Test(.enabled(if: openssl != nil))
    func aKeylessHubAnswersEveryRowTheSameOverHTTP1WithTLS() async throws {
        try await Self.checkH2(PipelineTable.keylessRows(), http: PipelineTable.configuration(keys: false), fastPath: true, http1OverTLS: true)
    }

    @Test(.enabled(if: openssl != nil))
    func aKeyedHubAnswersEveryRowTheSameOverHTTP1WithTLS() async throws {
        try await Self.checkH2(
            try await PipelineTable.keyedRows(), http: PipelineTable.configuration(keys: true), fastPath: true, http1OverTLS: true
        )
    }
}
