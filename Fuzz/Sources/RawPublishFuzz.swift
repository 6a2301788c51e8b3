#if Fuzzing
import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import HeraldHTTP

/// The event-loop request reader (`RawPublishRequest`), differential against NIO's HTTP/1 parser.
///
/// Input: a configuration byte (head and body limits), a chunking seed, then a connection's bytes.
/// The bytes go through a model of `PublishFrontHandler`'s loop (parse, answer, move on; hand the
/// rest to the codec at the first `.notFast`), once in one piece and once in chunks, and:
/// - chunking changes nothing: the same decisions at the same offsets (this covers the
///   `wait` / `searchFrom` resumption);
/// - `.request` at an offset: NIO, reading from that offset, parses a complete request with the
///   same method (POST), target (hub path and query), version 1.1, `Content-Type`,
///   `Authorization`, proxy headers and body; fed exactly `length` bytes it completes that
///   request with no error, and fed one byte less it has not completed it (same boundary);
/// - `.incomplete` at an offset (the bytes ran out): NIO has no complete request there either.
/// `.notFast` has no property: the codec then reads those bytes itself, as if the front handler
/// were not there.
enum RawPublishFuzz {
    static let hubPath = Array("/.well-known/mercure".utf8)

    @Sendable static func run(_ data: [UInt8]) {
        var input = FuzzInput(data)
        let configuration = input.byte()
        let seed = input.byte()
        let maxHeadSize = configuration & 1 == 0 ? PublishFrontHandler.maxHeadSize : 40 + Int(configuration >> 1)
        let maxBodySize = configuration & 2 == 0 ? 1 << 20 : Int(configuration >> 2)
        let stream = Array(input.rest())

        let whole = decisions(stream, pieces: [stream.count], maxHeadSize: maxHeadSize, maxBodySize: maxBodySize)
        let split = decisions(
            stream, pieces: chunkSizes(count: stream.count, seed: seed), maxHeadSize: maxHeadSize, maxBodySize: maxBodySize
        )
        require(whole == split, "chunking changed the decisions: \(whole) vs \(split); stream \(hex(stream))")

        for decision in whole {
            switch decision {
            case .request(let offset, let request):
                checkAgainstNIO(request, Array(stream[offset...]))
            case .incomplete(let offset):
                let nio = NIOParse(Array(stream[offset...]))
                require(!nio.complete, "fast path waits for more bytes where NIO has a complete request: \(hex(stream[offset...]))")
            case .notFast:
                break
            }
        }
    }

    /// What the front handler decided, and where in the stream.
    enum Decision: Equatable, CustomStringConvertible {
        case request(offset: Int, Request)
        case notFast(offset: Int)
        case incomplete(offset: Int)

        var description: String {
            switch self {
            case .request(let offset, let request): "request@\(offset)(\(request))"
            case .notFast(let offset): "notFast@\(offset)"
            case .incomplete(let offset): "incomplete@\(offset)"
            }
        }
    }

    struct Request: Equatable {
        var query: String?
        var contentType: String?
        var authorization: String?
        var isForwarded: Bool
        var body: [UInt8]
        var length: Int

        init(_ request: RawPublishRequest) {
            query = request.query
            contentType = request.contentType
            authorization = request.authorization
            isForwarded = request.isForwarded
            body = Array(request.body.readableBytesView)
            length = request.length
        }
    }

    /// `PublishFrontHandler.channelRead`'s loop over `pieces`, every publish taken as answered.
    static func decisions(_ stream: [UInt8], pieces: [Int], maxHeadSize: Int, maxBodySize: Int) -> [Decision] {
        var result: [Decision] = []
        var partial: ByteBuffer?
        var wait = 0
        var searchFrom = 0
        var offset = 0
        for piece in chunks(stream, sizes: pieces) {
            var input = ByteBuffer(bytes: piece)
            if var earlier = partial {
                partial = nil
                earlier.writeImmutableBuffer(input)
                guard earlier.readableBytes >= wait else {
                    partial = earlier
                    continue
                }
                input = earlier
            }
            reading: while input.readableBytes > 0 {
                let parsed = RawPublishRequest.parse(
                    input, hubPath: hubPath, maxHeadSize: maxHeadSize, maxBodySize: maxBodySize, searchFrom: searchFrom
                )
                searchFrom = 0
                switch parsed {
                case .incomplete(let needed, let from):
                    require(needed > input.readableBytes, "incomplete, yet waiting for \(needed) <= \(input.readableBytes) bytes")
                    partial = input
                    wait = needed
                    searchFrom = from
                    break reading
                case .notFast:
                    result.append(.notFast(offset: offset))
                    return result
                case .request(let request):
                    require(request.length > 0 && request.length <= input.readableBytes, "request length \(request.length) out of bounds")
                    result.append(.request(offset: offset, Request(request)))
                    input.moveReaderIndex(forwardBy: request.length)
                    offset += request.length
                }
            }
        }
        if partial != nil { result.append(.incomplete(offset: offset)) }
        return result
    }

    private static let forwardedNames = ["forwarded", "x-forwarded-for", "x-real-ip"]

    private static func checkAgainstNIO(_ request: Request, _ bytes: [UInt8]) {
        let context = "fast request \(request) from \(hex(bytes))"
        let nio = NIOParse(bytes)
        guard let head = nio.head, nio.complete else {
            require(false, "NIO has no complete request (error: \(String(describing: nio.error))): \(context)")
            return
        }
        require(head.method == .POST, "NIO method \(head.method): \(context)")
        require(head.version == .http1_1, "NIO version \(head.version): \(context)")
        let target = "/.well-known/mercure" + (request.query.map { "?" + $0 } ?? "")
        require(head.uri == target, "NIO target \(head.uri): \(context)")
        // NIO keeps a value's trailing blanks; the router sees values through HTTPTypes, which
        // trims them (RFC 9110: optional whitespace is not part of the value), as the fast path does.
        let contentType = head.headers["content-type"].first.map(trimmingBlanks)
        require(contentType == request.contentType, "NIO content-type \(head.headers["content-type"]): \(context)")
        let authorization = head.headers["authorization"].first.map(trimmingBlanks)
        require(authorization == request.authorization, "NIO authorization \(head.headers["authorization"]): \(context)")
        let contentLength = head.headers["content-length"]
        require(
            contentLength.count == 1 && Int(trimmingBlanks(contentLength[0])) == request.body.count,
            "NIO content-length \(contentLength): \(context)"
        )
        let forwarded = forwardedNames.contains { head.headers.contains(name: $0) }
        require(forwarded == request.isForwarded, "NIO forwarded \(forwarded): \(context)")
        require(nio.body == request.body, "NIO body \(hex(nio.body)): \(context)")

        let exact = NIOParse(Array(bytes[..<request.length]))
        require(exact.complete && exact.error == nil, "NIO given exactly the request's bytes: complete \(exact.complete), error \(String(describing: exact.error)): \(context)")
        let short = NIOParse(Array(bytes[..<(request.length - 1)]))
        require(!short.complete, "NIO completes the request one byte early: \(context)")
    }

    private static func trimmingBlanks(_ value: String) -> String {
        let isBlank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        let bytes = Array(value.utf8)
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }

    /// The first request NIO's `HTTPRequestDecoder` reads from `bytes`, with the limits Herald's
    /// codec uses (Hummingbird's defaults).
    struct NIOParse {
        var head: HTTPRequestHead?
        var body: [UInt8] = []
        var complete = false
        var error: (any Error)?

        init(_ bytes: [UInt8]) {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = 80 * 1024
            limits.maxHeaderListSize = 80 * 1024
            limits.maxHeaderFieldCount = 1000
            let channel = EmbeddedChannel()
            defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
            do {
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(
                        HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .drop, limitConfiguration: limits)
                    )
                )
                try channel.writeInbound(ByteBuffer(bytes: bytes))
            } catch {
                self.error = error
            }
            while !complete, let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
                switch part {
                case .head(let head): self.head = head
                case .body(let chunk): body += chunk.readableBytesView
                case .end: complete = true
                }
            }
        }
    }
}
#endif
