import HeraldHub
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How an update travels through Redis: compact JSON in the stream entry (field `u`), and
/// `"<stream id>\n<json>"` on the pub/sub channel so every node learns the update's position.
enum RedisUpdateCodec {
    private struct Wire: Codable {
        var t: [String]
        var d: String
        var i: String?
        var y: String?
        var r: Int?
        var p: Bool?
    }

    static func encode(_ update: Update) throws -> String {
        let wire = Wire(
            t: update.topics,
            d: update.data,
            i: update.id,
            y: update.type,
            r: update.retry,
            p: update.isPrivate ? true : nil
        )
        return String(decoding: try JSONEncoder().encode(wire), as: UTF8.self)
    }

    /// The update stored as `json` at `streamID`; its id is the publisher's, else the stream id.
    static func decode(json: some Collection<UInt8>, streamID: String) -> Update? {
        guard let position = UpdatePosition(streamID),
            let wire = try? JSONDecoder().decode(Wire.self, from: Data(json))
        else { return nil }
        var update = Update(
            topics: wire.t,
            data: wire.d,
            id: wire.i ?? streamID,
            type: wire.y,
            retry: wire.r,
            isPrivate: wire.p ?? false
        )
        update.position = position
        return update
    }

    /// Decodes a pub/sub payload `"<stream id>\n<json>"`.
    static func decode(message payload: ByteBuffer) -> Update? {
        let bytes = payload.readableBytesView
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let streamID = String(decoding: bytes[bytes.startIndex..<newline], as: UTF8.self)
        return decode(json: bytes[bytes.index(after: newline)...], streamID: streamID)
    }

    /// Decodes one `XRANGE` entry `[id, [field, value, ...]]`.
    static func decode(entry: RESPValue) -> Update? {
        guard let parts = entry.array, parts.count == 2, let streamID = parts[0].string,
            let fields = parts[1].array
        else { return nil }
        var index = 0
        while index + 1 < fields.count {
            if fields[index].string == "u", let value = fields[index + 1].buffer {
                return decode(json: value.readableBytesView, streamID: streamID)
            }
            index += 2
        }
        return nil
    }
}
