/// A mistake in a list of CORS origins, such as a path after the host.
package struct CORSOriginError: Error, CustomStringConvertible, Equatable {
    /// What is wrong, naming the entry.
    package let description: String
}

extension HeraldHTTPConfiguration {
    /// Reads origins as `herald serve --cors-origins` takes them: separated by commas or spaces,
    /// each `*` or `scheme://host[:port]`. An entry with a path, query or no scheme is refused
    /// up front: browsers send bare origins, so it would silently never match. So is `null`,
    /// the origin of sandboxed frames and `data:` pages on any site.
    package static func parseCORSOrigins(_ text: String) throws(CORSOriginError) -> [String] {
        let entries = text.split { $0 == "," || $0 == " " }.map(String.init)
        for entry in entries where entry != "*" {
            if entry == "null" {
                throw CORSOriginError(description: "CORS origin 'null' would trust sandboxed frames and data: pages on any site")
            }
            guard let schemeEnd = entry.range(of: "://") else {
                throw CORSOriginError(description: "CORS origin '\(entry)' needs a scheme, e.g. https://\(entry)")
            }
            let scheme = entry[..<schemeEnd.lowerBound]
            var rest = entry[schemeEnd.upperBound...]
            if rest.hasSuffix("/") { rest.removeLast() }
            guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0 == "+" || $0 == "-" || $0 == "." }),
                !rest.isEmpty, !rest.contains(where: { "/?#@ ".contains($0) })
            else {
                throw CORSOriginError(description: "CORS origin '\(entry)' must be scheme://host[:port], with no path")
            }
        }
        return entries
    }
}
