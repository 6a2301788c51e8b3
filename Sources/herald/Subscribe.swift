import ArgumentParser
import HeraldEventSource
import ServerSentEvents

import Foundation

/// `herald subscribe`: follows topics and prints each event. Reconnection (the last event id,
/// the hub's `retry:`, back-off) is `EventSource`'s, the library's, not this command's.
struct Subscribe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow topics; prints each event's data on one line, or one JSON object per line with --json."
    )

    @Option(help: "The server (env HERALD_URL, default http://127.0.0.1:8080).")
    var url: String?
    @Option(name: .customLong("topic"), help: "Topic selector (repeatable): a topic, a URI template or *.")
    var topics: [String] = []
    @Option(help: "Replay what came after this id ('earliest' for all history).")
    var lastEventID: String?
    @Option(help: "Subscriber JWT (env HERALD_TOKEN).")
    var token: String?
    @Flag(help: "Print each event as a JSON object.")
    var json = false
    @Option(help: "Exit after this many events.")
    var count: Int?

    func validate() throws {
        if topics.isEmpty { throw ValidationError("at least one --topic is required") }
        if let count, count < 1 { throw ValidationError("--count must be positive") }
    }

    func run() async throws {
        let server = url ?? Environment.string("HERALD_URL") ?? "http://127.0.0.1:8080"
        let hub = MercureHub(url: server + "/.well-known/mercure")
        let token = token ?? Environment.string("HERALD_TOKEN")
        let source = hub.subscribe(
            topics: topics,
            lastEventID: lastEventID ?? "",
            configuration: EventSource.Configuration(reconnectionTime: .seconds(1)),
            tokenProvider: token.map { token in { @Sendable in token } }
        )
        var received = 0
        do {
            for try await event in source {
                switch event {
                case .message(let message):
                    print(json ? Self.json(message) : message.data)
                    received += 1
                    if let count, received >= count { return }
                case .gap(let gap):
                    // Not an update (not counted): the hub could not replay from the id asked for.
                    if json {
                        print(Self.json(ServerSentEvent(data: gap.data, event: EventSource.heraldGapEventType)))
                    } else {
                        printError("gap: the hub no longer holds what came after \(gap.lastEventID ?? "-"); updates were missed")
                    }
                case .reconnecting(let delay, let reason):
                    let (seconds, attoseconds) = delay.components
                    printError("\(reason); reconnecting in \(seconds * 1000 + attoseconds / 1_000_000_000_000_000) ms")
                case .open:
                    break
                }
            }
        } catch let error as EventSourceError {
            // The hub's final answer (204, a 4xx, not an event stream): reconnecting would not help.
            printError("herald subscribe: \(error)")
            throw ExitCode.failure
        }
    }

    static func json(_ event: ServerSentEvent) -> String {
        struct Line: Encodable {
            let id: String?
            let type: String
            let data: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(Line(id: event.id, type: event.event ?? "message", data: event.data))) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

func printError(_ message: String) {
    var stderr = StandardError()
    print(message, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
