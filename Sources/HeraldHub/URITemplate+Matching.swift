// Matching strings against a URI template.
//
// A template is compiled into a small nondeterministic automaton whose states are numbered so that
// every ε-edge goes to a higher-numbered state; only consuming edges (1 or 3 bytes) go backwards.
// Matching fills a dynamic-programming table from the end of the string towards its start:
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

/// What one position of the string can be consumed as, computed once per match (bit flags).
enum URITemplateUnit {
    /// Usable in a value of `{var}`, `{.var}`, `{/var}`, `{;var}`, `{?var}`, `{&var}`.
    static let unreservedValue: UInt8 = 1
    /// Usable in a value of `{+var}`, `{#var}`.
    static let reservedValue: UInt8 = 2
    /// A `%XX` triplet (3 bytes) rather than a single byte.
    static let triplet: UInt8 = 4
    /// Spends one unit of a prefix budget (everything except pct-encoded UTF-8 continuation bytes).
    static let costly: UInt8 = 8

    /// Classifies every position of `text` (0 when no value character starts there).
    static func classify(_ text: UnsafeBufferPointer<UInt8>, into info: UnsafeMutableBufferPointer<UInt8>) {
        let count = text.count
        URITemplateCharacterClass.table.withUnsafeBufferPointer { table in
            var position = 0
            while position < count {
                let byte = text[position]
                var flags: UInt8 = 0
                if byte == UInt8(ascii: "%") {
                    if position + 2 < count,
                        table[Int(text[position + 1])] & URITemplateCharacterClass.hexDigit != 0,
                        table[Int(text[position + 2])] & URITemplateCharacterClass.hexDigit != 0
                    {
                        // %80–%BF encode UTF-8 continuation bytes: part of the previous character.
                        let high = text[position + 1]
                        let isContinuation =
                            high == UInt8(ascii: "8") || high == UInt8(ascii: "9")
                            || high | 0x20 == UInt8(ascii: "a") || high | 0x20 == UInt8(ascii: "b")
                        flags = unreservedValue | reservedValue | triplet | (isContinuation ? 0 : costly)
                    }
                } else {
                    let classes = table[Int(byte)]
                    if classes & URITemplateCharacterClass.unreserved != 0 {
                        flags = unreservedValue | reservedValue | costly
                    } else if classes & URITemplateCharacterClass.reserved != 0 {
                        flags = reservedValue | costly
                    }
                }
                info[position] = flags
                position += 1
            }
        }
    }
}

/// A compiled URI template: a small automaton and what its states mean.
///
/// States are numbered so that every ε-edge goes to a higher-numbered state; consuming edges
/// (one byte, or one value character of 1 or 3 bytes) may go anywhere, which makes loops.
struct URITemplateProgram: Sendable {
    /// One edge of the automaton.
    struct Edge: Sendable {
        enum Kind: UInt8, Sendable {
            /// Consumes nothing; keeps the budget.
            case epsilon
            /// Consumes nothing; sets the budget to `budget` (entering a `{var:N}` value).
            case setBudget
            /// Consumes the byte `argument`.
            case byte
            /// Consumes a value character allowed by the `URITemplateUnit` mask `argument`.
            case unit
            /// Like `unit`, spending budget.
            case limitedUnit
        }

        var kind: Kind
        var argument: UInt8
        var budget: Int32
        var target: Int32

        static func epsilon(_ target: Int32) -> Edge { Edge(kind: .epsilon, argument: 0, budget: 0, target: target) }
        static func setBudget(_ budget: Int, _ target: Int32) -> Edge {
            Edge(kind: .setBudget, argument: 0, budget: Int32(budget), target: target)
        }
        static func byte(_ byte: UInt8, _ target: Int32) -> Edge {
            Edge(kind: .byte, argument: byte, budget: 0, target: target)
        }
        static func unit(_ mask: UInt8, limited: Bool, _ target: Int32) -> Edge {
            Edge(kind: limited ? .limitedUnit : .unit, argument: mask, budget: 0, target: target)
        }
    }

    /// A variable occurrence whose value is captured between two marker states.
    struct Capture: Sendable {
        var name: String
        var hasPrefix: Bool
    }

    static let unreachable = Int32.max

    /// Edges of state `s` are `edges[edgeStart[s]..<edgeStart[s + 1]]`, in order of preference.
    private(set) var edgeStart: [Int32] = []
    private(set) var edges: [Edge] = []
    /// Per state: 0, `k + 1` when reaching it starts capture k, `-(k + 1)` when it ends capture k.
    private(set) var markers: [Int32] = []
    private(set) var captures: [Capture] = []
    private(set) var accept: Int32 = 0
    /// Bytes every match must start with, and end with: a cheap early rejection.
    private(set) var leadingLiteral: [UInt8] = []
    private(set) var trailingLiteral: [UInt8] = []
    /// Whether the template has no expression (it then matches exactly `leadingLiteral`).
    private(set) var isLiteral = true

    var stateCount: Int { markers.count }
}

// MARK: - Compilation

extension URITemplateProgram {
    /// Compiles `parts`. The leading and trailing literals get no states: they are compared
    /// directly (see `window(of:)`), so the automaton only covers what lies between them.
    init(compiling parts: [URITemplate.Part]) {
        if parts.allSatisfy({ if case .literal = $0 { true } else { false } }) {
            self.init()
            if case .literal(let bytes)? = parts.first { leadingLiteral = bytes }
            return
        }
        var inner = parts[...]
        var leading: [UInt8] = []
        var trailing: [UInt8] = []
        if case .literal(let bytes)? = inner.first {
            leading = bytes
            inner = inner.dropFirst()
        }
        if case .literal(let bytes)? = inner.last {
            trailing = bytes
            inner = inner.dropLast()
        }
        var builder = Builder()
        var current = builder.newState()
        for part in inner {
            switch part {
            case .literal(let bytes):
                current = builder.addLiteral(bytes, from: current)
            case .expression(let op, let variables):
                current = builder.addExpression(op, variables, from: current)
            }
        }
        self = builder.finish(accept: current)
        leadingLiteral = leading
        trailingLiteral = trailing
        isLiteral = false
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

        mutating func add(_ from: Int32, _ edge: Edge) {
            switch edge.kind {
            case .epsilon, .setBudget:
                precondition(edge.target > from, "ε-edges must go forward")
            case .byte, .unit, .limitedUnit:
                break
            }
            outgoing[Int(from)].append(edge)
        }

        /// Adds states consuming `bytes` one by one; returns the state after the last byte.
        mutating func addLiteral(_ bytes: some Sequence<UInt8>, from start: Int32) -> Int32 {
            var current = start
            for byte in bytes {
                let next = newState()
                add(current, .byte(byte, next))
                current = next
            }
            return current
        }

        /// Adds an expression after `start`; returns its exit state.
        ///
        /// B(i) means "nothing written yet, variable i next": it tries variable i, else skips to
        /// B(i+1). C(i) means "something written": variable i then needs the separator first.
        /// The operator's first character leads from `start` to B(0) (which is `start` itself
        /// when there is none), and C(n) is the exit. With every variable undefined the expression
        /// expands to nothing: `start` → exit, the least preferred way.
        mutating func addExpression(
            _ op: URITemplate.Operator,
            _ variables: [URITemplate.Variable],
            from start: Int32
        ) -> Int32 {
            var before: Int32?  // B(i), nil once unreachable or useless
            if let first = op.first {
                let state = newState()
                add(start, .byte(first, state))
                before = state
            } else {
                before = start
            }
            var after: Int32?  // C(i), nil before any variable could be written
            for (index, variable) in variables.enumerated() {
                let (entry, exit) = addVariable(variable, op)
                if let before { add(before, .epsilon(entry)) }
                if let after { add(after, .byte(op.separator, entry)) }
                let nextAfter = newState()
                add(exit, .epsilon(nextAfter))
                if let after { add(after, .epsilon(nextAfter)) }
                if let current = before, index + 1 < variables.count {
                    let nextBefore = newState()
                    add(current, .epsilon(nextBefore))
                    before = nextBefore
                } else {
                    before = nil  // after the last variable, B leads nowhere
                }
                after = nextAfter
            }
            guard let exit = after else { preconditionFailure("expressions have at least one variable") }
            add(start, .epsilon(exit))
            return exit
        }

        /// Adds one variable's expansion (without the separator before it); returns entry and exit.
        mutating func addVariable(
            _ variable: URITemplate.Variable,
            _ op: URITemplate.Operator
        ) -> (entry: Int32, exit: Int32) {
            let capture = newCapture(variable)
            let mask = op.allowsReserved ? URITemplateUnit.reservedValue : URITemplateUnit.unreservedValue
            if variable.explode {
                return op.isNamed
                    ? addNamedExplode(capture, op, mask)
                    : addUnnamedExplode(capture, op, mask)
            }
            guard op.isNamed else {
                let begin = newState(marker: capture)
                return (begin, addValue(variable, mask, capture, from: begin))
            }
            // name "=" value, or for ";" a bare name when the value is empty.
            let entry = newState()
            let nameEnd = addLiteral(variable.name.utf8, from: entry)
            let begin = newState(marker: capture)
            add(nameEnd, .byte(UInt8(ascii: "="), begin))
            let valueEnd = addValue(variable, mask, capture, from: begin)
            guard op == .pathParameter else { return (entry, valueEnd) }
            let bareBegin = newState(marker: capture)
            let bareEnd = newState(marker: -capture)
            add(nameEnd, .epsilon(bareBegin))
            add(bareBegin, .epsilon(bareEnd))
            let exit = newState()
            add(valueEnd, .epsilon(exit))
            add(bareEnd, .epsilon(exit))
            return (entry, exit)
        }

        /// A value after the capture's begin state: characters of `mask`, at most `maxLength` of
        /// them, or (without a prefix) a comma-separated list. Returns the end-marker state.
        mutating func addValue(
            _ variable: URITemplate.Variable,
            _ mask: UInt8,
            _ capture: Int32,
            from begin: Int32
        ) -> Int32 {
            let loop = newState()
            let end = newState(marker: -capture)
            if let maxLength = variable.maxLength {
                add(begin, .setBudget(maxLength, loop))
                add(loop, .unit(mask, limited: true, loop))
                add(loop, .epsilon(end))
            } else {
                add(begin, .epsilon(loop))
                add(loop, .unit(mask, limited: false, loop))
                add(loop, .epsilon(end))
                if mask == URITemplateUnit.unreservedValue {
                    // List items; with reserved expansion "," is already a value character.
                    add(loop, .byte(UInt8(ascii: ","), loop))
                }
            }
            return end
        }

        /// `{/list*}`-style: items (`value` or `key=value`) joined by the operator's separator.
        mutating func addUnnamedExplode(
            _ capture: Int32,
            _ op: URITemplate.Operator,
            _ mask: UInt8
        ) -> (entry: Int32, exit: Int32) {
            let begin = newState(marker: capture)
            let key = newState()
            let value = newState()
            let itemEnd = newState()
            let end = newState(marker: -capture)
            add(begin, .epsilon(key))
            add(key, .unit(mask, limited: false, key))
            if mask == URITemplateUnit.unreservedValue {
                add(key, .byte(UInt8(ascii: "="), value))  // "=" is a value character otherwise
            }
            add(key, .epsilon(itemEnd))
            add(value, .unit(mask, limited: false, value))
            add(value, .epsilon(itemEnd))
            add(itemEnd, .byte(op.separator, key))
            add(itemEnd, .epsilon(end))
            return (begin, end)
        }

        /// `{?list*}`-style: `key=value` items (a bare `key` for ";") joined by the separator.
        /// Keys are not checked against the variable name, so associative arrays match too.
        mutating func addNamedExplode(
            _ capture: Int32,
            _ op: URITemplate.Operator,
            _ mask: UInt8
        ) -> (entry: Int32, exit: Int32) {
            let begin = newState(marker: capture)
            let keyStart = newState()
            let key = newState()
            let value = newState()
            let itemEnd = newState()
            let end = newState(marker: -capture)
            add(begin, .epsilon(keyStart))
            add(keyStart, .unit(URITemplateUnit.unreservedValue, limited: false, key))
            add(key, .unit(URITemplateUnit.unreservedValue, limited: false, key))
            add(key, .byte(UInt8(ascii: "="), value))
            if op == .pathParameter {
                add(key, .epsilon(itemEnd))
            }
            add(value, .unit(mask, limited: false, value))
            add(value, .epsilon(itemEnd))
            add(itemEnd, .byte(op.separator, keyStart))
            add(itemEnd, .epsilon(end))
            return (begin, end)
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
        guard let window = window(of: text) else { return false }
        // Consuming edges advance at most 3 bytes, so 4 rows of the table suffice.
        return withNeedTable(window, keepAllRows: false) { need, _, complete in
            complete && need[0] == 0  // row 0, first state, starting budget 0
        }
    }

    /// The captured variable values along the preferred accepting path, or nil if `text` is rejected.
    func match(_ text: UnsafeBufferPointer<UInt8>) -> [String: String]? {
        if isLiteral { return text.elementsEqual(leadingLiteral) ? [:] : nil }
        guard let window = window(of: text) else { return nil }
        return withNeedTable(window, keepAllRows: true) { need, units, complete in
            guard complete, need[0] == 0 else { return nil }
            return extract(window, units: units, need: need)
        }
    }

    /// The part of `text` between the template's leading and trailing literals, or nil when
    /// `text` does not start and end with them.
    ///
    /// Those literals have no states, so the cost of a match does not grow with the (often
    /// long) literal prefix of a topic selector.
    private func window(of text: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8>? {
        let leading = leadingLiteral.count
        let trailing = trailingLiteral.count
        guard text.count >= leading + trailing,
            text.prefix(leading).elementsEqual(leadingLiteral),
            text.suffix(trailing).elementsEqual(trailingLiteral)
        else { return nil }
        return UnsafeBufferPointer(rebasing: text[leading..<(text.count - trailing)])
    }

    /// The state the window starts in (the leading literal has no states).
    private var firstState: Int { 0 }
    /// The accepting state at the end of the window (the trailing literal has no states).
    private var lastState: Int { Int(accept) }

    /// Fills `need[position][state - firstState]` — the least prefix budget with which the rest of
    /// `text` can be matched from `state`, or `unreachable` — from the end of `text` backwards.
    ///
    /// With `keepAllRows` row p holds position p; otherwise rows are reused modulo 4 and the
    /// computation stops early (passing `complete == false`) once nothing earlier can match.
    private func withNeedTable<Result>(
        _ text: UnsafeBufferPointer<UInt8>,
        keepAllRows: Bool,
        _ body: (
            _ need: UnsafeMutableBufferPointer<Int32>, _ units: UnsafeBufferPointer<UInt8>, _ complete: Bool
        ) -> Result
    ) -> Result {
        let lowest = firstState
        let highest = lastState
        let states = highest - lowest + 1
        let count = text.count
        let rowMask = keepAllRows ? Int.max : 3
        let infinity = Self.unreachable
        // Temporary allocations live on the stack when small (the common case for topics).
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { unitStorage in
            URITemplateUnit.classify(text, into: unitStorage)
            let units = UnsafeBufferPointer(unitStorage)
            let tableSize = (keepAllRows ? count + 1 : 4) * states
            return withUnsafeTemporaryAllocation(of: Int32.self, capacity: tableSize) { need in
                need.initialize(repeating: infinity)
                return edges.withUnsafeBufferPointer { edges in
                    edgeStart.withUnsafeBufferPointer { edgeStart in
                        var deadRows = 0
                        var position = count
                        while position >= 0 {
                            // Row offsets, shifted so that `row + target` indexes state `target`.
                            let base = (position & rowMask) * states - lowest
                            let next1 = ((position + 1) & rowMask) * states - lowest
                            let unit = position < count ? units[position] : 0
                            let unitLength = unit & URITemplateUnit.triplet != 0 ? 3 : 1
                            let unitRow = ((position + unitLength) & rowMask) * states - lowest
                            let unitCost: Int32 = unit & URITemplateUnit.costly != 0 ? 1 : 0
                            let byte = position < count ? Int(text[position]) : -1
                            // The accepting state has no edges within the window.
                            need[base + highest] = position == count ? 0 : infinity
                            var rowIsDead = position != count
                            var state = highest - 1
                            while state >= lowest {
                                var best = infinity
                                var index = Int(edgeStart[state])
                                let endIndex = Int(edgeStart[state + 1])
                                while index < endIndex {
                                    let edge = edges[index]
                                    let target = Int(edge.target)
                                    var candidate = infinity
                                    switch edge.kind {
                                    case .epsilon:
                                        candidate = need[base + target]
                                    case .setBudget:
                                        if need[base + target] <= edge.budget { candidate = 0 }
                                    case .byte:
                                        if Int(edge.argument) == byte { candidate = need[next1 + target] }
                                    case .unit:
                                        if unit & edge.argument != 0 { candidate = need[unitRow + target] }
                                    case .limitedUnit:
                                        if unit & edge.argument != 0 {
                                            let rest = need[unitRow + target]
                                            if rest != infinity { candidate = rest + unitCost }
                                        }
                                    }
                                    if candidate < best { best = candidate }
                                    index += 1
                                }
                                need[base + state] = best
                                if best != infinity { rowIsDead = false }
                                state -= 1
                            }
                            if !keepAllRows {
                                // Edges advance at most 3 bytes: 3 dead rows in a row kill every earlier one.
                                deadRows = rowIsDead ? deadRows + 1 : 0
                                if deadRows == 3 { return body(need, units, false) }
                            }
                            position -= 1
                        }
                        return body(need, units, true)
                    }
                }
            }
        }
    }

    /// Walks forwards along the preferred accepting path and collects the captured values.
    ///
    /// At each step the first edge (in preference order) that keeps a full match possible is
    /// taken, as told by `need`; this always reaches the accepting state at the end of `text`.
    private func extract(
        _ text: UnsafeBufferPointer<UInt8>,
        units: UnsafeBufferPointer<UInt8>,
        need: UnsafeMutableBufferPointer<Int32>
    ) -> [String: String]? {
        let lowest = firstState
        let highest = lastState
        let states = highest - lowest + 1
        var begins = [Int](repeating: -1, count: captures.count)
        var ends = [Int](repeating: -1, count: captures.count)
        var position = 0
        var state = lowest
        var budget: Int32 = 0
        while !(state == highest && position == text.count) {
            var moved = false
            for edge in edges[Int(edgeStart[state])..<Int(edgeStart[state + 1])] where state != highest {
                var nextPosition = position
                var nextBudget = budget
                switch edge.kind {
                case .epsilon:
                    break
                case .setBudget:
                    nextBudget = edge.budget
                case .byte:
                    guard position < text.count, text[position] == edge.argument else { continue }
                    nextPosition += 1
                case .unit, .limitedUnit:
                    guard position < text.count, units[position] & edge.argument != 0 else { continue }
                    let unit = units[position]
                    nextPosition += unit & URITemplateUnit.triplet != 0 ? 3 : 1
                    if edge.kind == .limitedUnit, unit & URITemplateUnit.costly != 0 { nextBudget -= 1 }
                }
                let rest = need[nextPosition * states + Int(edge.target) - lowest]
                guard nextBudget >= 0, rest <= nextBudget else { continue }
                position = nextPosition
                budget = nextBudget
                state = Int(edge.target)
                moved = true
                break
            }
            guard moved else { return nil }  // cannot happen: `need` promised a way forward
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
            // Keep the first value, unless it was cut by a prefix and this one is whole.
            if values[name] != nil, !(fromPrefixed.contains(name) && !capture.hasPrefix) { continue }
            values[name] = String(decoding: UnsafeBufferPointer(rebasing: text[begin..<end]), as: UTF8.self)
            if capture.hasPrefix { fromPrefixed.insert(name) } else { fromPrefixed.remove(name) }
        }
        return values
    }
}
