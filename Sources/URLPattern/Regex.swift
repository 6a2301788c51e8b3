/// The regular expressions URL patterns compile to: the standard's generated expressions plus
/// what users write in regexp groups (classes, ranges, `\d \w \s`, quantifiers, alternation,
/// non-capturing groups, `^ $`), as JavaScript reads them with the `v` flag. They run on a
/// Thompson NFA (a Pike VM), in O(input length × program size): no backtracking, whatever the
/// expression. Backreferences, lookaround, named groups, `\b` and Unicode properties are refused.
indirect enum RegexNode: Sendable {
    case scalar(Unicode.Scalar)
    case set(ScalarSet)
    case concat([RegexNode])
    case alternation([RegexNode])
    case repetition(RegexNode, min: Int, max: Int?, greedy: Bool)
    /// A group; `capture` is the capture index for capturing groups.
    case group(RegexNode, capture: Int?)
    case lineStart
    case lineEnd

    static let empty = RegexNode.concat([])

    static func literal(_ text: some Sequence<Unicode.Scalar>) -> RegexNode {
        .concat(text.map { .scalar($0) })
    }
}

/// A set of scalars: inclusive ranges, possibly negated.
struct ScalarSet: Sendable, Hashable {
    var ranges: [ClosedRange<UInt32>]
    var negated: Bool

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        var found = false
        for range in ranges where range.contains(value) {
            found = true
            break
        }
        return found != negated
    }

    static func of(_ ranges: [ClosedRange<UInt32>], negated: Bool = false) -> ScalarSet {
        ScalarSet(ranges: ranges, negated: negated)
    }

    static let digits = ScalarSet.of([0x30...0x39])
    static let word = ScalarSet.of([0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
    static let space = ScalarSet.of([
        0x09...0x0D, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A, 0x2028...0x2029,
        0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000, 0xFEFF...0xFEFF,
    ])
    /// `.` without the `s` flag: anything but a line terminator.
    static let dot = ScalarSet.of([0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029], negated: true)
}

/// Parses the text of a regexp group (JavaScript syntax, `v`-flag rules, the supported subset).
struct RegexParser {
    private let input: [Unicode.Scalar]
    private var position = 0

    /// Parses `text`; its groups must all be non-capturing (the tokenizer already required
    /// every nested `(` to be followed by `?`).
    static func parse(_ text: String) throws(URLPatternError) -> RegexNode {
        var parser = RegexParser(input: Array(text.unicodeScalars))
        let node = try parser.parseAlternation()
        if parser.position < parser.input.count {
            throw parser.error("unexpected '\(parser.input[parser.position])'")
        }
        return node
    }

    private init(input: [Unicode.Scalar]) {
        self.input = input
    }

    private func error(_ what: String) -> URLPatternError {
        URLPatternError(reason: "regexp group: \(what)")
    }

    private var current: Unicode.Scalar? { position < input.count ? input[position] : nil }

    private mutating func parseAlternation() throws(URLPatternError) -> RegexNode {
        var branches = [try parseConcat()]
        while current == "|" {
            position += 1
            branches.append(try parseConcat())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func parseConcat() throws(URLPatternError) -> RegexNode {
        var items: [RegexNode] = []
        while let scalar = current, scalar != "|", scalar != ")" {
            let atom = try parseAtom()
            items.append(try parseQuantifier(atom))
        }
        return items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func parseAtom() throws(URLPatternError) -> RegexNode {
        let scalar = input[position]
        position += 1
        switch scalar {
        case "(":
            guard current == "?" else { throw error("capturing groups are not allowed inside a regexp group") }
            position += 1
            guard current == ":" else {
                switch current {
                case "=", "!": throw error("lookahead is not supported")
                case "<":
                    if position + 1 < input.count, input[position + 1] == "=" || input[position + 1] == "!" {
                        throw error("lookbehind is not supported")
                    }
                    throw error("named groups are not supported")
                default: throw error("modifiers '(?…)' are not supported")
                }
            }
            position += 1
            let inner = try parseAlternation()
            guard current == ")" else { throw error("unbalanced '('") }
            position += 1
            return .group(inner, capture: nil)
        case "[": return .set(try parseClass())
        case ".": return .set(.dot)
        case "^": return .lineStart
        case "$": return .lineEnd
        case "\\": return try parseEscape(inClass: false)
        case "*", "+", "?": throw error("nothing to repeat")
        case "{", "}", "]", ")", "|":
            throw error("lone '\(scalar)'")
        default: return .scalar(scalar)
        }
    }

    private mutating func parseQuantifier(_ atom: RegexNode) throws(URLPatternError) -> RegexNode {
        guard let scalar = current else { return atom }
        var min = 0
        var max: Int?
        switch scalar {
        case "*": position += 1
        case "+":
            position += 1
            min = 1
        case "?":
            position += 1
            max = 1
        case "{":
            position += 1
            min = try parseNumber()
            max = min
            if current == "," {
                position += 1
                max = current == "}" ? nil : try parseNumber()
            }
            guard current == "}" else { throw error("malformed '{…}' quantifier") }
            position += 1
            if let max, max < min { throw error("numbers out of order in '{…}' quantifier") }
        default: return atom
        }
        switch atom {
        case .lineStart, .lineEnd: throw error("nothing to repeat")
        default: break
        }
        var greedy = true
        if current == "?" {
            position += 1
            greedy = false
        }
        return .repetition(atom, min: min, max: max, greedy: greedy)
    }

    private mutating func parseNumber() throws(URLPatternError) -> Int {
        var value = 0
        var digits = 0
        while let scalar = current, let digit = scalar.properties.numericType == .decimal ? Int(String(scalar)) : nil,
            scalar.isASCII
        {
            value = Swift.min(value * 10 + digit, 100_000)
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw error("malformed '{…}' quantifier") }
        return value
    }

    private mutating func parseClass() throws(URLPatternError) -> ScalarSet {
        var negated = false
        if current == "^" {
            negated = true
            position += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        while true {
            guard let scalar = current else { throw error("unterminated '['") }
            if scalar == "]" {
                position += 1
                break
            }
            if scalar == "[" { throw error("nested classes and set operations are not supported") }
            let low = try parseClassAtom()
            if current == "-", position + 1 < input.count, input[position + 1] != "]" {
                position += 1
                let high = try parseClassAtom()
                guard case .single(let lowScalar) = low, case .single(let highScalar) = high else {
                    throw error("a class range needs single characters")
                }
                guard lowScalar.value <= highScalar.value else { throw error("class range out of order") }
                ranges.append(lowScalar.value...highScalar.value)
            } else {
                switch low {
                case .single(let single): ranges.append(single.value...single.value)
                case .set(let set):
                    if set.negated {
                        ranges.append(contentsOf: Self.complement(set.ranges))
                    } else {
                        ranges.append(contentsOf: set.ranges)
                    }
                }
            }
        }
        return .of(ranges, negated: negated)
    }

    private enum ClassAtom {
        case single(Unicode.Scalar)
        case set(ScalarSet)
    }

    private mutating func parseClassAtom() throws(URLPatternError) -> ClassAtom {
        guard let scalar = current else { throw error("unterminated '['") }
        position += 1
        if scalar == "\\" {
            switch try parseEscape(inClass: true) {
            case .scalar(let single): return .single(single)
            case .set(let set): return .set(set)
            default: throw error("unsupported escape in a class")
            }
        }
        // `v`-flag reserved double punctuators and syntax characters in classes.
        if "()[{}/|".unicodeScalars.contains(scalar) {
            throw error("'\(scalar)' must be escaped in a class")
        }
        return .single(scalar)
    }

    private static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        var result: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in sorted {
            if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
            next = Swift.max(next, range.upperBound &+ 1)
        }
        if next <= 0x10FFFF { result.append(next...0x10FFFF) }
        return result
    }

    private mutating func parseEscape(inClass: Bool) throws(URLPatternError) -> RegexNode {
        guard let scalar = current else { throw error("'\\' at the end") }
        position += 1
        switch scalar {
        case "d": return .set(.digits)
        case "D": return .set(ScalarSet(ranges: ScalarSet.digits.ranges, negated: true))
        case "w": return .set(.word)
        case "W": return .set(ScalarSet(ranges: ScalarSet.word.ranges, negated: true))
        case "s": return .set(.space)
        case "S": return .set(ScalarSet(ranges: ScalarSet.space.ranges, negated: true))
        case "t": return .scalar("\t")
        case "n": return .scalar("\n")
        case "r": return .scalar("\r")
        case "f": return .scalar("\u{0C}")
        case "v": return .scalar("\u{0B}")
        case "0":
            if let next = current, ("0"..."9").contains(next) { throw error("octal escapes are not allowed") }
            return .scalar("\u{0}")
        case "b":
            if inClass { return .scalar("\u{08}") }
            throw error("word boundaries are not supported")
        case "B": throw error("word boundaries are not supported")
        case "1"..."9": throw error("backreferences are not supported")
        case "k": throw error("backreferences are not supported")
        case "p", "P": throw error("Unicode property escapes are not supported")
        case "c":
            guard let letter = current, letter.isASCII, letter.properties.isAlphabetic else {
                throw error("malformed '\\c' escape")
            }
            position += 1
            return .scalar(Unicode.Scalar(letter.value % 32)!)
        case "x":
            let value = try parseHex(count: 2)
            return .scalar(Unicode.Scalar(value)!)
        case "u":
            if current == "{" {
                position += 1
                var value: UInt32 = 0
                var digits = 0
                while let next = current, next != "}" {
                    guard let digit = next.hexValue else { throw error("malformed '\\u{…}' escape") }
                    value = value * 16 + digit
                    digits += 1
                    position += 1
                    if value > 0x10FFFF { throw error("'\\u{…}' out of range") }
                }
                guard current == "}", digits > 0, let result = Unicode.Scalar(value) else {
                    throw error("malformed '\\u{…}' escape")
                }
                position += 1
                return .scalar(result)
            }
            let value = try parseHex(count: 4)
            guard let result = Unicode.Scalar(value) else { throw error("surrogate escapes are not supported") }
            return .scalar(result)
        default:
            // With the `u`/`v` flags only syntax characters (and `/`, `-` in classes) may be escaped.
            if "^$\\.*+?()[]{}|/".unicodeScalars.contains(scalar) || (inClass && scalar == "-") {
                return .scalar(scalar)
            }
            throw error("invalid escape '\\\(scalar)'")
        }
    }

    private mutating func parseHex(count: Int) throws(URLPatternError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<count {
            guard let scalar = current, let digit = scalar.hexValue else { throw error("malformed hex escape") }
            value = value * 16 + digit
            position += 1
        }
        return value
    }
}

extension Unicode.Scalar {
    var hexValue: UInt32? {
        switch self {
        case "0"..."9": value - 0x30
        case "a"..."f": value - 0x61 + 10
        case "A"..."F": value - 0x41 + 10
        default: nil
        }
    }
}

/// One instruction of a compiled expression.
enum Instruction: Sendable, Hashable {
    case scalar(Unicode.Scalar)
    case set(Int)
    /// Try `first`, then `second` (priority order, for capture semantics).
    case split(Int, Int)
    case jump(Int)
    case save(Int)
    case lineStart
    case lineEnd
    case match
}

/// A compiled anchored expression (`^…$`): a literal prefix compared directly, then a program.
struct RegexProgram: Sendable, Hashable {
    let prefix: [Unicode.Scalar]
    let instructions: [Instruction]
    let sets: [ScalarSet]
    let captureCount: Int

    /// Instructions run per input scalar at most (the fixed prefix excluded).
    var stateCount: Int { instructions.count - 1 }

    /// Compiles `node`, anchored at both ends; throws when it needs more than `limit` instructions.
    init(_ node: RegexNode, captureCount: Int, limit: Int) throws(URLPatternError) {
        var items: [RegexNode]
        if case .concat(let list) = node { items = list } else { items = [node] }
        var prefix: [Unicode.Scalar] = []
        while let first = items.first, case .scalar(let scalar) = first {
            prefix.append(scalar)
            items.removeFirst()
        }
        var compiler = RegexCompiler(limit: limit)
        try compiler.emit(.concat(items))
        try compiler.append(.match)
        self.prefix = prefix
        self.instructions = compiler.instructions
        self.sets = compiler.sets
        self.captureCount = captureCount
    }

    /// Whether the whole of `text` matches.
    func matches(_ text: String) -> Bool {
        var scalars = Array(text.unicodeScalars)
        return matches(&scalars)
    }

    func matches(_ input: inout [Unicode.Scalar]) -> Bool {
        guard input.count >= prefix.count else { return false }
        for index in prefix.indices where input[index] != prefix[index] { return false }
        if instructions.count == 1 { return input.count == prefix.count }  // only `match`
        var current = ThreadList(capacity: instructions.count)
        var next = ThreadList(capacity: instructions.count)
        var stack: [Int] = []
        let count = input.count
        var position = prefix.count
        addThread(&current, pc: 0, position: position, count: count, stack: &stack)
        while !current.isEmpty {
            let scalar: Unicode.Scalar? = position < count ? input[position] : nil
            next.clear()
            for index in 0..<current.count {
                let pc = current.dense[index]
                switch instructions[pc] {
                case .match:
                    if position == count { return true }
                case .scalar(let expected):
                    if let scalar, scalar == expected {
                        addThread(&next, pc: pc + 1, position: position + 1, count: count, stack: &stack)
                    }
                case .set(let set):
                    if let scalar, sets[set].contains(scalar) {
                        addThread(&next, pc: pc + 1, position: position + 1, count: count, stack: &stack)
                    }
                default: break
                }
            }
            guard position < count else { return false }
            position += 1
            swap(&current, &next)
        }
        return false
    }

    private func addThread(_ list: inout ThreadList, pc start: Int, position: Int, count: Int, stack: inout [Int]) {
        stack.append(start)
        while let pc = stack.popLast() {
            guard list.insert(pc) else { continue }
            switch instructions[pc] {
            case .jump(let target): stack.append(target)
            case .split(let first, let second):
                stack.append(second)
                stack.append(first)
            case .save: stack.append(pc + 1)
            case .lineStart: if position == 0 { stack.append(pc + 1) }
            case .lineEnd: if position == count { stack.append(pc + 1) }
            default: break
            }
        }
    }

    /// The capture groups' values when the whole of `text` matches (nil for a group that did
    /// not participate), with the leftmost-priority semantics of a backtracking engine.
    func captures(_ text: String) -> [String?]? {
        let input = Array(text.unicodeScalars)
        guard input.count >= prefix.count else { return nil }
        for index in prefix.indices where input[index] != prefix[index] { return nil }
        let slots = captureCount * 2
        var current: [(pc: Int, saved: [Int])] = []
        var next: [(pc: Int, saved: [Int])] = []
        var seen = [Int](repeating: -1, count: instructions.count)
        var generation = 0
        var matched: [Int]?
        let count = input.count
        var position = prefix.count

        func add(_ list: inout [(pc: Int, saved: [Int])], _ pc: Int, _ saved: [Int], _ position: Int) {
            guard seen[pc] != generation else { return }
            seen[pc] = generation
            switch instructions[pc] {
            case .jump(let target): add(&list, target, saved, position)
            case .split(let first, let second):
                add(&list, first, saved, position)
                add(&list, second, saved, position)
            case .save(let slot):
                var copy = saved
                copy[slot] = position
                add(&list, pc + 1, copy, position)
            case .lineStart: if position == 0 { add(&list, pc + 1, saved, position) }
            case .lineEnd: if position == count { add(&list, pc + 1, saved, position) }
            default: list.append((pc, saved))
            }
        }

        add(&current, 0, [Int](repeating: -1, count: slots), position)
        while !current.isEmpty {
            generation += 1
            next.removeAll(keepingCapacity: true)
            let scalar: Unicode.Scalar? = position < count ? input[position] : nil
            threads: for thread in current {
                switch instructions[thread.pc] {
                case .match:
                    if position == count {
                        matched = thread.saved
                        break threads  // lower-priority threads are cut
                    }
                case .scalar(let expected):
                    if let scalar, scalar == expected { add(&next, thread.pc + 1, thread.saved, position + 1) }
                case .set(let set):
                    if let scalar, sets[set].contains(scalar) { add(&next, thread.pc + 1, thread.saved, position + 1) }
                default: break
                }
            }
            guard position < count else { break }
            position += 1
            swap(&current, &next)
        }
        guard let matched else { return nil }
        return (0..<captureCount).map { group in
            let start = matched[2 * group]
            let end = matched[2 * group + 1]
            guard start >= 0, end >= start else { return nil }
            var result = String.UnicodeScalarView()
            result.append(contentsOf: input[start..<end])
            return String(result)
        }
    }
}

/// A sparse set of program counters (Briggs–Torczon), cleared in O(1).
struct ThreadList {
    var dense: [Int]
    var sparse: [Int]
    var count = 0

    init(capacity: Int) {
        dense = [Int](repeating: 0, count: capacity)
        sparse = [Int](repeating: 0, count: capacity)
    }

    var isEmpty: Bool { count == 0 }

    mutating func clear() { count = 0 }

    /// Adds `pc`; false when it was there already.
    mutating func insert(_ pc: Int) -> Bool {
        let index = sparse[pc]
        if index < count, dense[index] == pc { return false }
        sparse[pc] = count
        dense[count] = pc
        count += 1
        return true
    }
}

struct RegexCompiler {
    let limit: Int
    var instructions: [Instruction] = []
    var sets: [ScalarSet] = []

    init(limit: Int) {
        self.limit = limit
    }

    mutating func append(_ instruction: Instruction) throws(URLPatternError) {
        if instructions.count >= limit {
            throw URLPatternError(reason: "pattern too complex (more than \(limit) matching states)")
        }
        instructions.append(instruction)
    }

    mutating func emit(_ node: RegexNode) throws(URLPatternError) {
        switch node {
        case .scalar(let scalar): try append(.scalar(scalar))
        case .set(let set):
            let index: Int
            if let existing = sets.firstIndex(of: set) {
                index = existing
            } else {
                index = sets.count
                sets.append(set)
            }
            try append(.set(index))
        case .concat(let items):
            for item in items { try emit(item) }
        case .alternation(let branches):
            var jumps: [Int] = []
            for (index, branch) in branches.enumerated() {
                if index < branches.count - 1 {
                    let split = instructions.count
                    try append(.split(split + 1, -1))
                    try emit(branch)
                    jumps.append(instructions.count)
                    try append(.jump(-1))
                    instructions[split] = .split(split + 1, instructions.count)
                } else {
                    try emit(branch)
                }
            }
            for jump in jumps { instructions[jump] = .jump(instructions.count) }
        case .group(let inner, let capture):
            if let capture { try append(.save(2 * capture)) }
            try emit(inner)
            if let capture { try append(.save(2 * capture + 1)) }
        case .lineStart: try append(.lineStart)
        case .lineEnd: try append(.lineEnd)
        case .repetition(let inner, let min, let max, let greedy):
            for _ in 0..<min { try emit(inner) }
            if let max {
                // (max - min) optional copies, nested: x(x(x)?)?)?
                var pendingSplits: [Int] = []
                for _ in min..<max {
                    pendingSplits.append(instructions.count)
                    try append(.split(-1, -1))
                    try emit(inner)
                }
                let end = instructions.count
                for split in pendingSplits {
                    instructions[split] = greedy ? .split(split + 1, end) : .split(end, split + 1)
                }
            } else {
                let loop = instructions.count
                try append(.split(-1, -1))
                try emit(inner)
                try append(.jump(loop))
                let end = instructions.count
                instructions[loop] = greedy ? .split(loop + 1, end) : .split(end, loop + 1)
            }
        }
    }
}
