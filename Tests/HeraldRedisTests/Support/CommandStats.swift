import HeraldRedis

extension RedisConnection {
    /// Calls per command the server has run so far (`INFO commandstats`), by the names it uses:
    /// lower case, subcommands as `script|load`.
    func commandCalls() async throws -> [String: Int] {
        let info = try await send(["INFO", "commandstats"]).string ?? ""
        var calls: [String: Int] = [:]
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            let name = line.dropFirst("cmdstat_".count).prefix { $0 != ":" }
            guard let field = line.split(separator: ",").first(where: { $0.contains("calls=") }),
                let value = Int(field.split(separator: "=").last ?? "")
            else { continue }
            calls[String(name)] = value
        }
        return calls
    }

    /// Calls of `commands` so far; a name counts its subcommands too (`script`: `script|load`).
    func calls(of commands: [String]) async throws -> Int {
        let calls = try await commandCalls()
        return calls.reduce(0) { total, entry in
            commands.contains { entry.key == $0 || entry.key.hasPrefix($0 + "|") } ? total + entry.value : total
        }
    }
}
