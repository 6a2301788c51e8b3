import NIOCore

/// A hub publish read straight from a connection's bytes, for `PublishFrontHandler`.
///
/// Only the plainest HTTP/1.1 form is recognised: `POST <hub path>[?query] HTTP/1.1`, CRLF line
/// endings, token header names, a single `Content-Length`, and no `Connection`,
/// `Transfer-Encoding`, `Expect`, `Upgrade` or `Origin` (a browser page's publish, whose origin
/// the router checks). Proxy headers (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) are noted: a
/// forwarded request is not a loopback client. Anything else is `.notFast`, and the request
/// goes to the full HTTP codec unchanged, which answers (or refuses) it as it always has. That
/// keeps the fast path small enough to be exact: it never has to produce an error itself.
struct RawPublishRequest {
    /// The query string after `?`, if any (it may carry an `authorization` token).
    var query: String?
    var contentType: String?
    var authorization: String?
    /// A proxy forwarded it (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`): not a local client.
    var isForwarded: Bool
    /// The body: a slice of the connection's bytes.
    var body: ByteBuffer
    /// Bytes of head and body together.
    var length: Int

    /// The core's request for it (see `HubRequest.init(publishTo:...)`).
    func hubRequest(hubPath: String, peerIsLoopback: Bool) -> HubRequest {
        HubRequest(
            publishTo: Substring(hubPath),
            query: query.map { Substring($0) },
            contentType: contentType,
            authorization: authorization,
            isForwarded: isForwarded,
            body: body,
            peerIsLoopback: peerIsLoopback
        )
    }

    enum Parse {
        /// More bytes are needed: nothing to decide before the request has `wait` bytes; the
        /// next try may look for the head's end from `searchFrom` on.
        case incomplete(wait: Int, searchFrom: Int)
        /// Not a request the fast path answers; hand it to the HTTP codec.
        case notFast
        case request(RawPublishRequest)
    }

    /// Reads the request at the start of `buffer`; the head's end is searched for from
    /// `searchFrom` (what an earlier `.incomplete` said), so a head that trickles in is not
    /// scanned again and again.
    static func parse(
        _ buffer: ByteBuffer,
        hubPath: [UInt8],
        maxHeadSize: Int,
        maxBodySize: Int,
        searchFrom: Int = 0
    ) -> Parse {
        let head = buffer.withUnsafeReadableBytes { bytes in
            parseHead(bytes, hubPath: hubPath, maxHeadSize: maxHeadSize, searchFrom: searchFrom)
        }
        let count = buffer.readableBytes
        let headLength: Int
        let fields: Fields
        switch head {
        case .notFast: return .notFast
        case .incomplete: return .incomplete(wait: count + 1, searchFrom: max(0, count - 3))
        case .head(let length, let found): (headLength, fields) = (length, found)
        }
        guard let contentLength = fields.contentLength, contentLength <= maxBodySize else { return .notFast }
        guard count >= headLength + contentLength,
            let body = buffer.getSlice(at: buffer.readerIndex + headLength, length: contentLength)
        else { return .incomplete(wait: headLength + contentLength, searchFrom: 0) }
        return .request(
            RawPublishRequest(
                query: fields.query,
                contentType: fields.contentType,
                authorization: fields.authorization,
                isForwarded: fields.isForwarded,
                body: body,
                length: headLength + contentLength
            )
        )
    }

    private struct Fields {
        var query: String?
        var contentType: String?
        var authorization: String?
        var contentLength: Int?
        var isForwarded = false
    }

    private enum Head {
        case incomplete
        case notFast
        case head(length: Int, Fields)
    }

    /// More header lines than a plain publish has: the codec judges them against its own limit
    /// (NIO's `maxHeaderFieldCount`, 1000 in Hummingbird), which the fast path must not exceed
    /// (found by the `publish` fuzz target: 1,001 header lines were answered here, refused there).
    static let maxHeaderCount = 64

    private static let post = Array("POST ".utf8)
    private static let version = Array(" HTTP/1.1\r\n".utf8)

    private static func parseHead(
        _ bytes: UnsafeRawBufferPointer,
        hubPath: [UInt8],
        maxHeadSize: Int,
        searchFrom: Int
    ) -> Head {
        // The method first: most connections that are not publishes are told apart at once.
        for index in 0..<min(bytes.count, post.count) where bytes[index] != post[index] {
            return .notFast
        }
        guard let end = endOfHead(bytes, from: searchFrom, limit: maxHeadSize) else {
            // A bare LF can never make a head this parser accepts: the codec answers it now
            // (400), as it answers every other request with one, instead of waiting for a
            // CRLFCRLF that may never come.
            if hasBareLF(bytes, from: max(0, searchFrom - 1)) { return .notFast }
            return bytes.count >= maxHeadSize ? .notFast : .incomplete
        }
        var fields = Fields()
        // Request line: POST <target> HTTP/1.1
        var position = post.count
        let targetStart = position
        while position < end, bytes[position] != UInt8(ascii: " ") {
            guard (0x21...0x7E).contains(bytes[position]) else { return .notFast }
            position += 1
        }
        let target = UnsafeRawBufferPointer(rebasing: bytes[targetStart..<position])
        guard target.count >= hubPath.count, target.starts(with: hubPath) else { return .notFast }
        if target.count > hubPath.count {
            guard target[hubPath.count] == UInt8(ascii: "?") else { return .notFast }
            fields.query = String(decoding: target[(hubPath.count + 1)...], as: UTF8.self)
        }
        // The request line's CRLF may be the first half of the head's end.
        guard end + 2 - position >= version.count,
            UnsafeRawBufferPointer(rebasing: bytes[position..<(position + version.count)]).elementsEqual(version)
        else { return .notFast }
        position += version.count
        // Header lines, each `name: value` CRLF, up to the blank line.
        var headerCount = 0
        while position < end {
            headerCount += 1
            guard headerCount <= maxHeaderCount else { return .notFast }
            guard let line = headerLine(bytes, from: position, end: end) else { return .notFast }
            position = line.next
            let name = UnsafeRawBufferPointer(rebasing: bytes[line.name])
            let value = UnsafeRawBufferPointer(rebasing: bytes[line.value])
            switch Self.field(name) {
            case .contentLength:
                // NIO's parser refuses a tab after the digits (spaces there it allows), so the fast
                // path must not read such a length (found by the `publish` fuzz target).
                let afterValue = UnsafeRawBufferPointer(rebasing: bytes[line.value.upperBound..<(line.next - 2)])
                guard fields.contentLength == nil, let length = decimal(value), !afterValue.contains(0x09) else {
                    return .notFast
                }
                fields.contentLength = length
            case .contentType:
                guard fields.contentType == nil else { return .notFast }
                fields.contentType = String(decoding: value, as: UTF8.self)
            case .authorization:
                guard fields.authorization == nil else { return .notFast }
                fields.authorization = String(decoding: value, as: UTF8.self)
            case .forwarded:
                fields.isForwarded = true
            case .refused:
                return .notFast
            case .other:
                break
            }
        }
        return .head(length: end + 4, fields)
    }

    /// The index of the `\r\n\r\n` that ends the head, searched from `start` within `limit` bytes.
    private static func endOfHead(_ bytes: UnsafeRawBufferPointer, from start: Int, limit: Int) -> Int? {
        let count = min(bytes.count, limit)
        var index = start
        while index + 3 < count {
            if bytes[index + 3] != 10 {
                index += bytes[index + 3] == 13 ? 1 : 4  // the LF of CRLFCRLF is at +3
                continue
            }
            if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13 { return index }
            index += 1
        }
        return nil
    }

    /// Whether an LF not preceded by CR occurs from `start` on (`start` may be one before the
    /// bytes not searched yet, so a CR at the end of the last try still counts).
    private static func hasBareLF(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Bool {
        var index = start
        while index < bytes.count {
            if bytes[index] == 10, index == 0 || bytes[index - 1] != 13 { return true }
            index += 1
        }
        return false
    }

    /// One header line starting at `start`: its name, its value without surrounding blanks,
    /// and where the next line starts. Nil for anything unusual (obs-fold, bare CR or LF,
    /// a name that is not a token, control bytes in the value).
    private static func headerLine(_ bytes: UnsafeRawBufferPointer, from start: Int, end: Int)
        -> (name: Range<Int>, value: Range<Int>, next: Int)?
    {
        var position = start
        while position < end, isTokenByte(bytes[position]) { position += 1 }
        guard position > start, position < end, bytes[position] == UInt8(ascii: ":") else { return nil }
        let name = start..<position
        position += 1
        while position < end, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
        let valueStart = position
        var valueEnd = position
        while position < end + 2, bytes[position] != 13 {
            let byte = bytes[position]
            guard byte == 0x09 || byte >= 0x20, byte != 0x7F else { return nil }
            position += 1
            if byte != 0x20 && byte != 0x09 { valueEnd = position }
        }
        // Every line, the last one included (its CRLF starts the head's end), ends in CRLF.
        guard position + 1 < bytes.count, bytes[position] == 13, bytes[position + 1] == 10 else { return nil }
        return (name, valueStart..<valueEnd, position + 2)
    }

    private enum Field { case contentLength, contentType, authorization, forwarded, refused, other }

    private static let refusedNames = ["connection", "transfer-encoding", "expect", "upgrade", "te", "trailer", "origin"].map {
        Array($0.utf8)
    }

    private static let forwardedNames = ["forwarded", "x-forwarded-for", "x-real-ip"].map { Array($0.utf8) }

    private static func field(_ name: UnsafeRawBufferPointer) -> Field {
        if equalsLowercased(name, contentLength) { return .contentLength }
        if equalsLowercased(name, contentType) { return .contentType }
        if equalsLowercased(name, authorization) { return .authorization }
        for refused in refusedNames where equalsLowercased(name, refused) { return .refused }
        for forwarded in forwardedNames where equalsLowercased(name, forwarded) { return .forwarded }
        return .other
    }

    private static let contentLength = Array("content-length".utf8)
    private static let contentType = Array("content-type".utf8)
    private static let authorization = Array("authorization".utf8)

    private static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ lowercase: [UInt8]) -> Bool {
        guard bytes.count == lowercase.count else { return false }
        for index in 0..<bytes.count {
            let byte = bytes[index]
            let lowered = (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
            if lowered != lowercase[index] { return false }
        }
        return true
    }

    /// 1 to 9 decimal digits (larger bodies are never fast anyway).
    private static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard (1...9).contains(bytes.count) else { return nil }
        var value = 0
        for byte in bytes {
            guard (0x30...0x39).contains(byte) else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }
}
