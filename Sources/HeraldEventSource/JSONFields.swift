import Foundation

/// Reading one field of a small JSON object, for the hub's own signals.
enum JSONFields {
    static func string(_ name: String, in json: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return nil }
        return object[name] as? String
    }
}
