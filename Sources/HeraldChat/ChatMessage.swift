#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One chat message as it travels in the room's events (JSON `data`).
struct ChatMessage: Codable, Equatable, Sendable {
    var type = "ChatMessage"
    var id: String
    var room: String
    var name: String
    var text: String
    /// Server time, ISO 8601 with milliseconds, UTC.
    var time: String

    static func now() -> String {
        Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// What `GET /chat/rooms/{room}` tells the page: the topics to follow and where presence is.
struct RoomInfo: Codable, Equatable {
    var room: String
    var topic: String
    var presenceTopic: String
    var subscriptionsURL: String
}

/// What the session endpoints answer.
struct SessionInfo: Codable, Equatable {
    var name: String
    var csrf: String
}
