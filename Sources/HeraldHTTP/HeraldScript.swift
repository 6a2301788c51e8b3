import HTTPTypes
import Hummingbird

import Foundation

/// `herald.js`, the hub's browser client (EventSource, or long-polling where there is none),
/// served at `{hub path}/herald.js`: read once from the package's resources, with an ETag so
/// a browser revalidates its copy with a `304` once a day rather than fetching it again.
package struct HeraldScript: Sendable {
    /// The script's bytes; nil when the package was built without its resources.
    let bytes: ByteBuffer?
    /// A strong validator of the bytes (FNV-1a, 64 bits: a cache key, not a signature).
    let etag: String

    /// Read once per process.
    package static let shared = HeraldScript()

    /// A day: the URL carries no version, so a longer lifetime would keep old copies after an
    /// upgrade; past it, revalidating costs one `304`.
    static let cacheControl = "public, max-age=86400"

    private init() {
        let url = Bundle.module.url(forResource: "herald", withExtension: "js")
        let data = url.flatMap { try? Data(contentsOf: $0) }
        bytes = data.map { ByteBuffer(bytes: $0) }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data ?? Data() {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        etag = "\"" + String(hash, radix: 16) + "\""
    }

    /// `GET {hub}/herald.js`: the script, or `304` when `If-None-Match` names this version.
    func response(to request: Request) -> Response {
        let answer = answer(ifNoneMatch: request.headers[values: .ifNoneMatch])
        return Response(status: answer.status, headers: answer.headers, body: answer.body.map { ResponseBody(byteBuffer: $0) } ?? ResponseBody())
    }

    /// The answer to `GET {hub}/herald.js` whose `If-None-Match` fields are `ifNoneMatch`, for
    /// any server (Hummingbird, HeraldVapor): 200 with the script, 304, or 404 without it.
    package func answer(ifNoneMatch: [String]) -> (status: HTTPResponse.Status, headers: HTTPFields, body: ByteBuffer?) {
        guard let bytes else {
            return (.notFound, .plainText, ByteBuffer(string: "not found\n"))
        }
        var headers: HTTPFields = [
            .contentType: "text/javascript; charset=utf-8",
            .cacheControl: Self.cacheControl,
            .eTag: etag,
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        ]
        let asked = ifNoneMatch.flatMap { $0.split(separator: ",") }
        if asked.contains(where: { let tag = $0.trimmingCharacters(in: .whitespaces); return tag == etag || tag == "W/" + etag || tag == "*" }) {
            return (.notModified, headers, nil)
        }
        headers[.contentLength] = String(bytes.readableBytes)
        return (.ok, headers, bytes)
    }
}
