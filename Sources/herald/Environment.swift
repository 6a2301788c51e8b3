#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Reads `HERALD_*` settings: a command-line flag always wins over the environment, and the
/// environment over a configuration file (`--config`), which wins over the defaults.
enum Environment {
    /// Values from the configuration file, by environment-variable name.
    private static let fileValues = Mutex<[String: String]>([:])

    static func string(_ name: String) -> String? {
        if let value = ProcessInfo.processInfo.environment[name], !value.isEmpty { return value }
        return fileValues.withLock { $0[name] }
    }

    static func int(_ name: String) throws -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text) else { throw ConfigurationError("\(name) must be an integer, got '\(text)'") }
        return value
    }

    static func bool(_ name: String) throws -> Bool? {
        guard let text = string(name)?.lowercased() else { return nil }
        switch text {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError("\(name) must be true or false, got '\(text)'")
        }
    }

    /// Loads a JSON configuration file: one object whose keys are `herald serve`'s flag names
    /// without the dashes (`"publisher-key"`, `"max-connections"`) or their environment
    /// variables (`"HERALD_PUBLISHER_KEY"`), and whose values are strings, numbers, booleans, or
    /// arrays of strings (joined with commas, as in the environment). `variables` maps each flag
    /// to its variable. A key that is no setting is an error, so a typo cannot silently leave a
    /// default in place.
    static func loadConfigurationFile(_ path: String, variables: [String: String]) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError("cannot read the configuration file \(path): \(error.localizedDescription)")
        }
        let settings: [String: Setting]
        do {
            settings = try JSONDecoder().decode([String: Setting].self, from: data)
        } catch {
            throw ConfigurationError(
                "\(path) must hold one JSON object of settings (strings, numbers, booleans or arrays of strings): \(error)"
            )
        }
        let known = Set(variables.values)
        var values: [String: String] = [:]
        for (key, value) in settings {
            guard let variable = variables[key] ?? (known.contains(key) ? key : nil), variable != "HERALD_CONFIG" else {
                throw ConfigurationError("\(path): '\(key)' is not a setting of herald serve (see herald serve --help)")
            }
            values[variable] = value.text
        }
        fileValues.withLock { $0 = values }
    }
}

/// One value of the configuration file, as the environment would spell it.
private struct Setting: Decodable {
    let text: String

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let flag = try? container.decode(Bool.self) {
            text = flag ? "true" : "false"
        } else if let number = try? container.decode(Int.self) {
            text = String(number)
        } else if let number = try? container.decode(Double.self) {
            text = String(number)
        } else if let string = try? container.decode(String.self) {
            text = string
        } else {
            // Repeatable flags: joined with commas, as in their environment variables.
            text = try container.decode([String].self).joined(separator: ",")
        }
    }
}

/// A configuration mistake, reported before the server starts.
struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
