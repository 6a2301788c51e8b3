import ArgumentParser
import HeraldClient
import ServerSentEvents

import Foundation

/// `herald subscribe`: follows topics and prints each event, reconnecting with Last-Event-ID.
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
        let client = try HeraldClient(baseURL: url ?? Environment.string("HERALD_URL") ?? "http://127.0.0.1:8080")
        var lastID = lastEventID
        var received = 0
        var delay: Duration = .milliseconds(1000)
        while true {
            do {
                let (elements, close) = try await client.subscribe(
                    topics: topics,
                    lastEventID: lastID,
                    token: token ?? Environment.string("HERALD_TOKEN")
                )
                defer { close() }
                for try await element in elements {
                    switch element {
                    case .event(let event) where event.event == HeraldClient.gapEventType:
                        // Not an update (not counted): the hub could not replay from `lastID`.
                        if json {
                            print(Self.json(event))
                        } else {
                            printError("gap: the hub no longer holds what came after \(lastID ?? "-"); updates were missed")
                        }
                    case .event(let event):
                        if let id = event.id { lastID = id }
                        print(json ? Self.json(event) : event.data)
                        received += 1
                        if let count, received >= count { return }
                    case .retry(let milliseconds):
                        delay = .milliseconds(milliseconds)
                    case .comment:
                        break
                    }
                }
            } catch let error as HeraldClientError {
                if case .status = error { throw error }  // a 4xx will not fix itself
                printError("connection failed: \(error); retrying")
            } catch {
                printError("connection lost: \(error); retrying")
            }
            try await Task.sleep(for: delay)
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
