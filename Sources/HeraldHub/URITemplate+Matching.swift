// Matching strings against a URI template.
//
// A template is compiled into a small nondeterministic automaton whose states are numbered so that
// every ε-edge goes to a higher-numbered state; only consuming edges (1 or 3 bytes) go backwards.
// Matching is a dynamic programme computed from the end of the string towards its start:
// `need[position][state]` is the smallest prefix budget with which the rest of the string can be
// matched from `state` (∞ if it cannot). Budgets implement `{var:N}`: entering such a value sets
// the budget to N and each character consumed spends one. This costs O(length × states) time, so
// no template/string pair can cause the exponential backtracking of a naive matcher.
// Extraction (`match`) then walks forward from the start, always taking the first edge (in a fixed
// preference order) that still leads to a full match, and reads variable values off that path.

extension URITemplate {
    /// Whether `string` is an expansion of this template (the whole string must match).
    public func matches(_ string: String) -> Bool {
        var string = string
        return string.withUTF8 { program.matches($0) }
    }

    /// The variable values of one way `string` expands from this template, or nil if it does not match.
    ///
    /// Values are the matched text, pct-encoding kept (`{x}` on `a%20b` gives `a%20b`); exploded and
    /// list values keep their separators (`{/p*}` on `/a/b` gives `a/b`, `{?q*}` on `?a=1&b=2`
    /// gives `a=1&b=2`). Variables absent from the string are absent from the result. When a name
    /// occurs more than once, the first occurrence without a prefix modifier wins (else the first).
    /// Ambiguous templates such as `{x}{y}` prefer earlier variables and longer values.
    public func match(_ string: String) -> [String: String]? {
        var string = string
        return string.withUTF8 { program.match($0) }
    }
}

/// Character classes of RFC 3986, as a 256-entry table of bit flags.
enum URITemplateCharacterClass {
    static let unreserved: UInt8 = 1
    static let reserved: UInt8 = 2
    static let hexDigit: UInt8 = 4

    static let table: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] |= unreserved }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] |= unreserved }
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] |= unreserved | hexDigit }
        for byte in "abcdefABCDEF".utf8 { table[Int(byte)] |= hexDigit }
        for byte in "-._~".utf8 { table[Int(byte)] |= unreserved }
        for byte in ":/?#[]@!$&'()*+,;=".utf8 { table[Int(byte)] |= reserved }
        return table
    }()
}

/// A compiled URI template: the automaton and what its states mean.
struct URITemplateProgram: Sendable {
    /// What an edge consumes.
    enum Step: Sendable {
        /// Nothing; the budget is kept.
        case epsilon
        /// Nothing; the budget becomes the given prefix length (entering a `{var:N}` value).
        case setBudget(Int32)
        /// Exactly this byte.
        case byte(UInt8)
        /// One value character: a byte of the class mask, or a `%XX` triplet; spends budget if `limited`.
        case unit(classes: UInt8, limited: Bool)
    }

    struct Edge: Sendable {
        var step: Step
        var target: Int32
    }

    /// A variable occurrence whose value is captured between two marker states.
    struct Capture: Sendable {
        var name: String
        var hasPrefix: Bool
    }

    static let unreachable = Int32.max

    /// Edges of state `s` are `edges[edgeStart[s]..<edgeStart[s + 1]]`, in preference order.
    private(set) var edgeStart: [Int32] = []
    private(set) var edges: [Edge] = []
    /// Per state: 0, `k + 1` when entering it starts capture k, `-(k + 1)` when it ends capture k.
    private(set) var markers: [Int32] = []
    private(set) var captures: [Capture] = []
    private(set) var accept: Int32 = 0
    /// Bytes every match must start with, and end with; a cheap early rejection.
    private(set) var leadingLiteral: [UInt8] = []
    private(set) var trailingLiteral: [UInt8] = []
    /// Whether the template has no expression at all (then it is just `leadingLiteral`).
    private(set) var isLiteral = true

    var stateCount: Int { markers.count }
}

// MARK: - Compilation

extension URITemplateProgram {
    init(compiling parts: [URITemplate.Part]) {
        var builder = Builder()
        var current = builder.newState()
        for part in parts {
            switch part {
            case .literal(let bytes):
                current = builder.addLiteral(bytes, from: current)
            case .expression(let op, let variables):
                current = builder.addExpression(op, variables, from: current)
            }
        }
        self = builder.finish(accept: current)
        if case .literal(let bytes)? = parts.first { leadingLiteral = bytes }
        if case .literal(let bytes)? = parts.last { trailingLiteral = bytes }
        isLiteral = parts.allSatisfy { if case .literal = $0 { true } else { false } }
    }

    /// Accumulates states and edges; states are numbered in creation order.
    private struct Builder {
        var outgoing: [[Edge]] = []
        var markers: [Int32] = []
        var captures: [Capture] = []

        mutating func newState(marker: Int32 = 0) -> Int32 {
            outgoing.append([])
            markers.append(marker)
            return Int32(outgoing.count - 1)
        }

        mutating func newCapture(_ variable: URITemplate.Variable) -> Int32 {
            captures.append(Capture(name: variable.name, hasPrefix: variable.maxLength != nil))
            return Int32(captures.count)
        }

        mutating func edge(_ from: Int32, _ step: Step, _ to: Int32) {
            switch step {
            case .epsilon, .setBudget:
                precondition(to > from, "ε-edges must go forward")
            case .byte, .unit:
                break
            }
            outgoing[Int(from)].append(Edge(step: step, target: to))
        }

        /// Adds states consuming `bytes` one by one; returns the state after the last byte.
        mutating func addLiteral(_ bytes: some Sequence<UInt8>, from start: Int32) -> Int32 {
            var current = start
            for byte in bytes {
                let next = newState()
                edge(current, .byte(byte), next)
                current = next
            }
            return current
        }

        /// Adds an expression between `start` and a new exit state, which is returned.
        ///
        /// Shape: start → (first) → B0; Bi tries variable i or skips to Bi+1; once a variable was
        /// written we are in Ci, where variable i needs the separator first; Cn → exit.
        /// With every variable undefined the expression is empty: start → exit.
        mutating func addExpression(
            _ op: URITemplate.Operator,
            _ variables: [URITemplate.Variable],
            from start: Int32
        ) -> Int32 {
            var before = newState()  // B0: nothing written yet
            var after = newState()  // C0: something written
            var entryEdge: Step = .epsilon
            if let first = op.first { entryEdge = .byte(first) }
            edge(start, entryEdge, before)
            for variable in variables {
                let entry = newState()
                edge(before, .epsilon, entry)
                edge(after, .byte(op.separator), entry)
                let exit = addVariable(variable, op, from: entry)
                let nextBefore = newState()
                let nextAfter = newState()
                edge(exit, .epsilon, nextAfter)
                edge(before, .epsilon, nextBefore)
                edge(after, .epsilon, nextAfter)
                before = nextBefore
                after = nextAfter
            }
            let end = newState()
            edge(after, .epsilon, end)
            edge(start, .epsilon, end)  // every variable undefined; tried last
            return end
        }

        /// Adds one variable's expansion (without the separator before it); returns its exit state.
        mutating func addVariable(
            _ variable: URITemplate.Variable,
            _ op: URITemplate.Operator,
            from entry: Int32
        ) -> Int32 {
            let capture = newCapture(variable)
            let classes =
                op.allowsReserved
                ? URITemplateCharacterClass.unreserved | URITemplateCharacterClass.reserved
                : URITemplateCharacterClass.unreserved
            if variable.explode {
                return op.isNamed
                    ? addNamedExplode(capture, op, classes, from: entry)
                    : addUnnamedExplode(capture, op, classes, from: entry)
            }
            guard op.isNamed else {
                let begin = newState(marker: capture)
                edge(entry, .epsilon, begin)
                return addValue(variable, classes, capture, from: begin)
            }
            // name "=" value, or for ";" a bare name when the value is empty.
            let nameEnd = addLiteral(variable.name.utf8, from: entry)
            let begin = newState(marker: capture)
            edge(nameEnd, .byte(UInt8(ascii: "=")), begin)
            let valueEnd = addValue(variable, classes, capture, from: begin)
            guard op == .pathParameter else { return valueEnd }
            let bareBegin = newState(marker: capture)
            let bareEnd = newState(marker: -capture)
            edge(nameEnd, .epsilon, bareBegin)
            edge(bareBegin, .epsilon, bareEnd)
            let exit = newState()
            edge(valueEnd, .epsilon, exit)
            edge(bareEnd, .epsilon, exit)
            return exit
        }

        /// A single value after the capture's begin state: characters of `classes`, at most
        /// `maxLength` of them, or (without a prefix) a comma-separated list. Returns the end marker.
        mutating func addValue(
            _ variable: URITemplate.Variable,
            _ classes: UInt8,
            _ capture: Int32,
            from begin: Int32
        ) -> Int32 {
            let loop = newState()
            let end = newState(marker: -capture)
            if let maxLength = variable.maxLength {
                edge(begin, .setBudget(Int32(maxLength)), loop)
                edge(loop, .unit(classes: classes, limited: true), loop)
                edge(loop, .epsilon, end)
            } else {
                edge(begin, .epsilon, loop)
                edge(loop, .unit(classes: classes, limited: false), loop)
                edge(loop, .epsilon, end)
                if classes & URITemplateCharacterClass.reserved == 0 {
                    edge(loop, .byte(UInt8(ascii: ",")), loop)  // list items; "," is a value character otherwise
                }
            }
            return end
        }

        /// `{/list*}`-style: items (`value` or `key=value`) joined by the operator's separator.
        mutating func addUnnamedExplode(
            _ capture: Int32,
            _ op: URITemplate.Operator,
            _ classes: UInt8,
            from entry: Int32
        ) -> Int32 {
            let begin = newState(marker: capture)
            let key = newState()
            let value = newState()
            let itemEnd = newState()
            let end = newState(marker: -capture)
            edge(entry, .epsilon, begin)
            edge(begin, .epsilon, key)
            edge(key, .unit(classes: classes, limited: false), key)
            if classes & URITemplateCharacterClass.reserved == 0 {
                edge(key, .byte(UInt8(ascii: "=")), value)
            }
            edge(key, .epsilon, itemEnd)
            edge(value, .unit(classes: classes, limited: false), value)
            edge(value, .epsilon, itemEnd)
            edge(itemEnd, .byte(op.separator), key)
            edge(itemEnd, .epsilon, end)
            return end
        }

        /// `{?list*}`-style: `key=value` items (a bare `key` for ";") joined by the separator.
        /// Keys are not checked against the variable name, so associative arrays match too.
        mutating func addNamedExplode(
            _ capture: Int32,
            _ op: URITemplate.Operator,
            _ classes: UInt8,
            from entry: Int32
        ) -> Int32 {
            let begin = newState(marker: capture)
            let keyStart = newState()
            let key = newState()
            let value = newState()
            let itemEnd = newState()
            let end = newState(marker: -capture)
            edge(entry, .epsilon, begin)
            edge(begin, .epsilon, keyStart)
            edge(keyStart, .unit(classes: URITemplateCharacterClass.unreserved, limited: false), key)
            edge(key, .unit(classes: URITemplateCharacterClass.unreserved, limited: false), key)
            edge(key, .byte(UInt8(ascii: "=")), value)
            if op == .pathParameter {
                edge(key, .epsilon, itemEnd)
            }
            edge(value, .unit(classes: classes, limited: false), value)
            edge(value, .epsilon, itemEnd)
            edge(itemEnd, .byte(op.separator), keyStart)
            edge(itemEnd, .epsilon, end)
            return end
        }

        func finish(accept: Int32) -> URITemplateProgram {
            var program = URITemplateProgram()
            program.markers = markers
            program.captures = captures
            program.accept = accept
            program.edgeStart.reserveCapacity(outgoing.count + 1)
            for list in outgoing {
                program.edgeStart.append(Int32(program.edges.count))
                program.edges.append(contentsOf: list)
            }
            program.edgeStart.append(Int32(program.edges.count))
            return program
        }
    }
}

// MARK: - Matching

extension URITemplateProgram {
    /// Whether the whole of `text` is accepted.
    func matches(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        if isLiteral { return text.elementsEqual(leadingLiteral) }
        guard passesLiteralChecks(text) else { return false }
        // Consuming edges advance at most 3 bytes, so 4 rows of the table suffice.
        return withNeedTable(text, keepAllRows: false) { need, _ in
            need[0] == 0  // row 0, start state 0
        }
    }

    /// The captured variable values along the preferred accepting path, or nil if `text` is rejected.
    func match(_ text: UnsafeBufferPointer<UInt8>) -> [String: String]? {
        if isLiteral { return text.elementsEqual(leadingLiteral) ? [:] : nil }
        guard passesLiteralChecks(text) else { return nil }
        return withNeedTable(text, keepAllRows: true) { need, complete in
            guard complete, need[0] == 0 else { return nil }
            return extract(text, need: need)
        }
    }

    private func passesLiteralChecks(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        text.count >= leadingLiteral.count && text.count >= trailingLiteral.count
            && text.prefix(leadingLiteral.count).elementsEqual(leadingLiteral)
            && text.suffix(trailingLiteral.count).elementsEqual(trailingLiteral)
    }

    /// Recognises one value character at `position`: its length (1 or 3) and the budget it spends.
    ///
    /// A pct-encoded UTF-8 continuation byte (`%80`–`%BF`) spends nothing, so `{x:1}` accepts
    /// `%C3%A9` (one encoded "é"), as RFC 6570 counts prefix lengths in characters.
    @inline(__always)
    private static func unit(
        _ text: UnsafeBufferPointer<UInt8>,
        at position: Int,
        classes: UInt8
    ) -> (length: Int, cost: Int32)? {
        let byte = text[position]
        let table = URITemplateCharacterClass.table
        if byte == UInt8(ascii: "%") {
            guard position + 2 < text.count,
                table[Int(text[position + 1])] & URITemplateCharacterClass.hexDigit != 0,
                table[Int(text[position + 2])] & URITemplateCharacterClass.hexDigit != 0
            else { return nil }
            let high = text[position + 1]
            let isContinuation = "89abAB".utf8.contains(high)
            return (3, isContinuation ? 0 : 1)
        }
        return table[Int(byte)] & classes != 0 ? (1, 1) : nil
    }

    /// Fills the `need` table from the end of `text` backwards and hands it to `body`.
    ///
    /// With `keepAllRows` row p is position p; otherwise rows are reused modulo 4 and the
    /// computation stops early (reporting `complete == false`) once nothing can match.
    private func withNeedTable<Result>(
        _ text: UnsafeBufferPointer<UInt8>,
        keepAllRows: Bool,
        _ body: (UnsafeMutableBufferPointer<Int32>, _ complete: Bool) -> Result
    ) -> Result {
        let states = stateCount
        let count = text.count
        let rows = keepAllRows ? count + 1 : 4
        let rowMask = keepAllRows ? Int.max : 3
        let infinity = Self.unreachable
        var table = [Int32](repeating: infinity, count: rows * states)
        return table.withUnsafeMutableBufferPointer { need in
            edges.withUnsafeBufferPointer { edges in
                edgeStart.withUnsafeBufferPointer { edgeStart in
                    var deadRows = 0
                    for position in stride(from: count, through: 0, by: -1) {
                        let base = (position & rowMask) * states
                        var rowIsDead = true
                        for state in stride(from: states - 1, through: 0, by: -1) {
                            var best = (position == count && state == Int(accept)) ? 0 : infinity
                            for edge in edges[Int(edgeStart[state])..<Int(edgeStart[state + 1])] {
                                let target = Int(edge.target)
                                switch edge.step {
                                case .epsilon:
                                    best = min(best, need[base + target])
                                case .setBudget(let budget):
                                    if need[base + target] <= budget { best = 0 }
                                case .byte(let byte):
                                    if position < count, text[position] == byte {
                                        best = min(best, need[((position + 1) & rowMask) * states + target])
                                    }
                                case .unit(let classes, let limited):
                                    guard position < count,
                                        let unit = Self.unit(text, at: position, classes: classes)
                                    else { break }
                                    let next = need[((position + unit.length) & rowMask) * states + target]
                                    if next != infinity {
                                        best = min(best, limited ? next + unit.cost : next)
                                    }
                                }
                            }
                            need[base + state] = best
                            if best != infinity { rowIsDead = false }
                        }
                        if !keepAllRows {
                            // Edges advance at most 3 bytes: 3 dead rows in a row kill every earlier one.
                            deadRows = rowIsDead ? deadRows + 1 : 0
                            if deadRows == 3 {
                                need[0] = infinity
                                return body(need, false)
                            }
                        }
                    }
                    return body(need, true)
                }
            }
        }
    }

    /// Walks the preferred accepting path forwards and collects the captured values.
    private func extract(_ text: UnsafeBufferPointer<UInt8>, need: UnsafeMutableBufferPointer<Int32>) -> [String: String]? {
        let states = stateCount
        var begins = [Int](repeating: -1, count: captures.count)
        var ends = [Int](repeating: -1, count: captures.count)
        var position = 0
        var state = 0
        var budget: Int32 = 0
        while !(state == Int(accept) && position == text.count) {
            var moved = false
            for edge in edges[Int(edgeStart[state])..<Int(edgeStart[state + 1])] {
                let target = Int(edge.target)
                var nextPosition = position
                var nextBudget = budget
                switch edge.step {
                case .epsilon:
                    break
                case .setBudget(let newBudget):
                    nextBudget = newBudget
                case .byte(let byte):
                    guard position < text.count, text[position] == byte else { continue }
                    nextPosition += 1
                case .unit(let classes, let limited):
                    guard position < text.count,
                        let unit = Self.unit(text, at: position, classes: classes)
                    else { continue }
                    nextPosition += unit.length
                    if limited { nextBudget -= unit.cost }
                }
                guard nextBudget >= 0, need[nextPosition * states + target] <= nextBudget else { continue }
                position = nextPosition
                budget = nextBudget
                state = target
                moved = true
                break
            }
            guard moved else { return nil }  // unreachable: need[] guaranteed a way forward
            let marker = Int(markers[state])
            if marker > 0 {
                begins[marker - 1] = position
            } else if marker < 0 {
                ends[-marker - 1] = position
            }
        }
        var values: [String: String] = [:]
        var fromPrefixed = Set<String>()
        for (index, capture) in captures.enumerated() {
            let begin = begins[index]
            let end = ends[index]
            guard begin >= 0, end >= begin else { continue }
            let name = capture.name
            if values[name] != nil, !(fromPrefixed.contains(name) && !capture.hasPrefix) { continue }
            values[name] = String(decoding: UnsafeBufferPointer(rebasing: text[begin..<end]), as: UTF8.self)
            if capture.hasPrefix { fromPrefixed.insert(name) } else { fromPrefixed.remove(name) }
        }
        return values
    }
}
