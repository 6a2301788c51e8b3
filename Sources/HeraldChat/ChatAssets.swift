import HTTPTypes
import Hummingbird

import Foundation

/// The chat page's files (HTML, script, style), shipped as package resources and read once.
struct ChatAssets: Sendable {
    struct Asset: Sendable {
        let contentType: String
        let bytes: ByteBuffer
    }

    let page: Asset?
    let script: Asset?
    let style: Asset?

    init() {
        page = Self.load("index", "html", "text/html; charset=utf-8")
        script = Self.load("app", "js", "text/javascript; charset=utf-8")
        style = Self.load("style", "css", "text/css; charset=utf-8")
    }

    private static func load(_ name: String, _ ext: String, _ contentType: String) -> Asset? {
        guard let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Resources")
            ?? Bundle.module.url(forResource: name, withExtension: ext),
            let data = try? Data(contentsOf: url)
        else { return nil }
        return Asset(contentType: contentType, bytes: ByteBuffer(bytes: data))
    }

    /// Serves an asset; 404 when the package was built without it.
    static func answer(_ asset: Asset?, extraHeaders: HTTPFields = [:]) -> ChatAnswer {
        guard let asset else {
            return ChatAnswer(status: .notFound, headers: [:], body: ByteBuffer(string: "not found\n"))
        }
        var headers = extraHeaders
        headers[.contentType] = asset.contentType
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return ChatAnswer(status: .ok, headers: headers, body: asset.bytes)
    }
}
