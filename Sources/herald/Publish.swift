import ArgumentParser
import HeraldEventSource

/// `herald publish`: posts one update and prints its id.
struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Publish one update; prints its id.")

    @Option(help: "The server (env HERALD_URL, default http://127.0.0.1:8080).")
    var url: String?
    @Option(name: .customLong("topic"), help: "Topic of the update (repeatable; the first is canonical).")
    var topics: [String] = []
    @Option(help: "The update's data.")
    var data: String = ""
    @Option(help: "Event id (default: the hub assigns urn:uuid:...).")
    var id: String?
    @Option(help: "SSE event type.")
    var type: String?
    @Option(help: "Reconnection time hint in ms.")
    var retry: Int?
    @Flag(name: .customLong("private"), help: "Only subscribers authorized for the topic receive it.")
    var isPrivate = false
    @Option(help: "Publisher JWT (env HERALD_TOKEN).")
    var token: String?

    func validate() throws {
        if topics.isEmpty { throw ValidationError("at least one --topic is required") }
    }

    func run() async throws {
        let server = url ?? Environment.string("HERALD_URL") ?? "http://127.0.0.1:8080"
        let id = try await MercureHub(url: server + "/.well-known/mercure").publish(
            topics: topics,
            data: data,
            id: id,
            type: type,
            retry: retry,
            isPrivate: isPrivate,
            token: token ?? Environment.string("HERALD_TOKEN")
        )
        print(id)
    }
}
