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
    private typealias Wire = RedisWireUpdate

    /// The stream entry (and pub/sub payload after the id) of `update`, written by hand
    /// (see `RedisWireUpdate`).
    static func encode(_ update: Update) -> String {
        Wire(
            t: update.topics,
            d: update.data,
            i: update.id,
            y: update.type,
            r: update.retry,
            p: update.isPrivate ? true : nil
        ).json
    }

    /// Presence updates as pub/sub payloads: JSON arrays of the same compact form, each at most
    /// about `maxBytes` (one update larger than that travels alone).
    static func encode(presence updates: [Update], maxBytes: Int = 64 * 1024) -> [String] {
        var payloads: [String] = []
        var current = "["
        for update in updates {
            let wire = Wire(t: update.topics, d: update.data, i: nil, y: update.type, r: update.retry, p: update.isPrivate ? true : nil)
            let json = wire.json
            if current.utf8.count > 1, current.utf8.count + json.utf8.count > maxBytes {
                payloads.append(current + "]")
                current = "["
            }
            if current.utf8.count > 1 { current += "," }
            current += json
        }
        if current.utf8.count > 1 { payloads.append(current + "]") }
        return payloads
    }

    /// Decodes a presence payload (see `encode(presence:)`): updates without id or position.
    static func decode(presence payload: ByteBuffer) -> [Update]? {
        guard let wires = try? JSONDecoder().decode([Wire].self, from: Data(payload.readableBytesView)) else { return nil }
        return wires.map { wire in
            Update(topics: wire.t, data: wire.d, id: nil, type: wire.y, retry: wire.r, isPrivate: wire.p ?? false)
        }
    }

    /// The update stored as `json` at `streamID`; its id is the publisher's, else the stream id.
    static func decode(json: some Collection<UInt8>, streamID: String) -> Update? {
        guard let position = UpdatePosition(streamID), let wire = wire(json) else { return nil }
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

    /// The fields in `json`: read by hand when they have the shape Herald writes, else by
    /// `JSONDecoder` (which decides what is malformed).
    static func wire(_ json: some Collection<UInt8>) -> RedisWireUpdate? {
        Wire.parse(json) ?? (try? JSONDecoder().decode(Wire.self, from: Data(json)))
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
