import Testing

@testable import HeraldHub

/// A template, a candidate string, and whether the string must match.
struct URITemplateMatchCase: Sendable, CustomTestStringConvertible {
    let template: String
    let string: String
    let matches: Bool

    init(_ template: String, _ string: String, _ matches: Bool) {
        self.template = template
        self.string = string
        self.matches = matches
    }

    var testDescription: String { "\(template) \(matches ? "~" : "!~") \(string)" }
}

/// RFC 6570 section 3 expansions (variables: var="value", hello="Hello World!", path="/foo/bar",
/// empty="", list=["red","green","blue"], keys=[semi:";", dot:".", comma:","], x=1024, y=768):
/// every expansion must match its template.
let rfcExpansions: [URITemplateMatchCase] = [
    // Level 1
    .init("{var}", "value", true),
    .init("{hello}", "Hello%20World%21", true),
    // Level 2
    .init("{+var}", "value", true),
    .init("{+hello}", "Hello%20World!", true),
    .init("{+path}/here", "/foo/bar/here", true),
    .init("here?ref={+path}", "here?ref=/foo/bar", true),
    .init("X{#var}", "X#value", true),
    .init("X{#hello}", "X#Hello%20World!", true),
    // Level 3
    .init("map?{x,y}", "map?1024,768", true),
    .init("{x,hello,y}", "1024,Hello%20World%21,768", true),
    .init("{+x,hello,y}", "1024,Hello%20World!,768", true),
    .init("{+path,x}/here", "/foo/bar,1024/here", true),
    .init("{#x,hello,y}", "#1024,Hello%20World!,768", true),
    .init("{#path,x}/here", "#/foo/bar,1024/here", true),
    .init("X{.var}", "X.value", true),
    .init("X{.x,y}", "X.1024.768", true),
    .init("{/var}", "/value", true),
    .init("{/var,x}/here", "/value/1024/here", true),
    .init("{;x,y}", ";x=1024;y=768", true),
    .init("{;x,y,empty}", ";x=1024;y=768;empty", true),
    .init("{?x,y}", "?x=1024&y=768", true),
    .init("{?x,y,empty}", "?x=1024&y=768&empty=", true),
    .init("?fixed=yes{&x}", "?fixed=yes&x=1024", true),
    .init("{&x,y,empty}", "&x=1024&y=768&empty=", true),
    // Level 4
    .init("{var:3}", "val", true),
    .init("{var:30}", "value", true),
    .init("{list}", "red,green,blue", true),
    .init("{list*}", "red,green,blue", true),
    .init("{keys}", "semi,%3B,dot,.,comma,%2C", true),
    .init("{keys*}", "semi=%3B,dot=.,comma=%2C", true),
    .init("{+path:6}/here", "/foo/b/here", true),
    .init("{+list}", "red,green,blue", true),
    .init("{+list*}", "red,green,blue", true),
    .init("{+keys}", "semi,;,dot,.,comma,,", true),
    .init("{+keys*}", "semi=;,dot=.,comma=,", true),
    .init("{#path:6}/here", "#/foo/b/here", true),
    .init("{#list}", "#red,green,blue", true),
    .init("{#list*}", "#red,green,blue", true),
    .init("{#keys}", "#semi,;,dot,.,comma,,", true),
    .init("{#keys*}", "#semi=;,dot=.,comma=,", true),
    .init("X{.var:3}", "X.val", true),
    .init("X{.list}", "X.red,green,blue", true),
    .init("X{.list*}", "X.red.green.blue", true),
    .init("X{.keys}", "X.semi,%3B,dot,.,comma,%2C", true),
    .init("X{.keys*}", "X.semi=%3B.dot=..comma=%2C", true),
    .init("{/var:1,var}", "/v/value", true),
    .init("{/list}", "/red,green,blue", true),
    .init("{/list*}", "/red/green/blue", true),
    .init("{/list*,path:4}", "/red/green/blue/%2Ffoo", true),
    .init("{/keys}", "/semi,%3B,dot,.,comma,%2C", true),
    .init("{/keys*}", "/semi=%3B/dot=./comma=%2C", true),
    .init("{;hello:5}", ";hello=Hello", true),
    .init("{;list}", ";list=red,green,blue", true),
    .init("{;list*}", ";list=red;list=green;list=blue", true),
    .init("{;keys}", ";keys=semi,%3B,dot,.,comma,%2C", true),
    .init("{;keys*}", ";semi=%3B;dot=.;comma=%2C", true),
    .init("{?var:3}", "?var=val", true),
    .init("{?list}", "?list=red,green,blue", true),
    .init("{?list*}", "?list=red&list=green&list=blue", true),
    .init("{?keys}", "?keys=semi,%3B,dot,.,comma,%2C", true),
    .init("{?keys*}", "?semi=%3B&dot=.&comma=%2C", true),
    .init("{&var:3}", "&var=val", true),
    .init("{&list}", "&list=red,green,blue", true),
    .init("{&list*}", "&list=red&list=green&list=blue", true),
    .init("{&keys}", "&keys=semi,%3B,dot,.,comma,%2C", true),
    .init("{&keys*}", "&semi=%3B&dot=.&comma=%2C", true),
    // Undefined and empty variables
    .init("{undef}", "", true),
    .init("{+undef}", "", true),
    .init("{#undef}", "", true),
    .init("X{.undef}", "X", true),
    .init("{/undef}", "", true),
    .init("{;undef}", "", true),
    .init("{?undef}", "", true),
    .init("{&undef}", "", true),
    .init("{empty}", "", true),
    .init("{#empty}", "#", true),
    .init("X{.empty}", "X.", true),
    .init("{/empty}", "/", true),
    .init("{;empty}", ";empty", true),
    .init("{?empty}", "?empty=", true),
    .init("{x,undef,y}", "1024,768", true),
    .init("{?x,undef,y}", "?x=1024&y=768", true),
    .init("{/undef,var}", "/value", true),
]

/// Mercure-style selectors and hand-written vectors per operator, modifier and edge case.
let matchingVectors: [URITemplateMatchCase] = [
    // Mercure-style topic selectors
    .init("https://example.com/books/{id}", "https://example.com/books/1", true),
    .init("https://example.com/books/{id}", "https://example.com/books/abc-DEF_1.2~3", true),
    .init("https://example.com/books/{id}", "https://example.com/books/%F0%9F%93%9A", true),
    .init("https://example.com/books/{id}", "https://example.com/books/", true),
    .init("https://example.com/books/{id}", "https://example.com/books/1/reviews", false),
    .init("https://example.com/books/{id}", "https://example.com/authors/1", false),
    .init("https://example.com/books/{id}", "https://example.com/books", false),
    .init("https://example.com/books/{id}", "http://example.com/books/1", false),
    .init("https://example.com/books/{id}", "https://example.com/books/1?x=y", false),
    .init("https://example.com/books/{id}", "https://example.com/books/1#top", false),
    .init("https://example.com/books/{id}", "https://example.com/books/a b", false),
    .init("https://example.com/books/{id}", "https://example.com/books/caf\u{E9}", false),
    .init("https://example.com/books/{id}", "xhttps://example.com/books/1", false),
    .init("https://example.com/books/{id}", "", false),
    .init("https://example.com/books/{id}/reviews/{rid}", "https://example.com/books/1/reviews/22", true),
    .init("https://example.com/books/{id}/reviews/{rid}", "https://example.com/books/1/reviews", false),
    .init("https://example.com/books/{id}/reviews/{rid}", "https://example.com/books/1/comments/22", false),
    .init("https://example.com/books{/id}", "https://example.com/books", true),
    .init("https://example.com/books{/id}", "https://example.com/books/1", true),
    .init("https://example.com/books{/id}", "https://example.com/books/1/2", false),
    .init("https://example.com/books{/id}", "https://example.com/books1", false),
    .init("https://example.com/{+path}", "https://example.com/a/b/c?x=1#y", true),
    .init("https://example.com/{+path}", "https://example.com/a b", false),
    .init("https://example.com/books/{id}{?lang}", "https://example.com/books/1", true),
    .init("https://example.com/books/{id}{?lang}", "https://example.com/books/1?lang=fr", true),
    .init("https://example.com/books/{id}{?lang}", "https://example.com/books/1?other=fr", false),
    .init("https://example.com/{id}?lang=fr", "https://example.com/1?lang=fr", true),
    .init("https://example.com/{id}?lang=fr", "https://example.com/1?lang=de", false),
    .init("urn:example:{type}:{id}", "urn:example:book:1", true),
    .init("urn:example:{type}:{id}", "urn:example:book:1:2", false),
    .init("https://example.com/caf\u{E9}/{id}", "https://example.com/caf\u{E9}/1", true),
    .init("https://example.com/caf\u{E9}/{id}", "https://example.com/cafe/1", false),
    // Simple expansion
    .init("{x}", "abc", true),
    .init("{x}", "a%20b", true),
    .init("{x}", "~-._", true),
    .init("{x}", "%7E%7e", true),
    .init("{x}", "a/b", false),
    .init("{x}", "a:b", false),
    .init("{x}", "a%2", false),
    .init("{x}", "a%zz", false),
    .init("{x}", "%", false),
    .init("{x}", "%7G", false),
    .init("{x}", "a b", false),
    .init("{x}", "a{b", false),
    .init("{x,y}", "1,2", true),
    .init("{x,y}", "1", true),
    .init("{x,y}", ",", true),
    .init("{x,y}", "1;2", false),
    // Reserved expansion
    .init("{+x}", ":/?#[]@!$&'()*+,;=", true),
    .init("{+x}", "%41-._~", true),
    .init("{+x}", "a b", false),
    .init("{+x}", "a\"b", false),
    .init("{+x}", "<a>", false),
    .init("{+x}", "a{b}", false),
    // Fragment expansion
    .init("X{#x}", "X", true),
    .init("X{#x}", "X#", true),
    .init("X{#x}", "X#a/b?c", true),
    .init("X{#x}", "Xa", false),
    .init("X{#x}", "X#a b", false),
    // Label expansion
    .init("X{.x}", "X.a", true),
    .init("X{.x}", "Xa", false),
    .init("X{.x}", "X.a/b", false),
    .init("X{.x,y}", "X.a.b", true),
    // Path segment expansion
    .init("{/x}", "/a", true),
    .init("{/x}", "a", false),
    .init("{/x}", "/a/b", false),
    .init("{/x,y}", "/a/b", true),
    .init("{/x,y}", "/a/b/c", false),
    // Path-style parameters
    .init("{;x}", ";x=1", true),
    .init("{;x}", ";x", true),
    .init("{;x}", ";y=1", false),
    .init("{;x}", "x=1", false),
    .init("{;x}", ";x=1;x=2", false),
    .init("{;x,y}", ";y=2", true),
    .init("{;x,y}", ";x;y", true),
    // Form-style query
    .init("{?x}", "?x=1", true),
    .init("{?x}", "?x=", true),
    .init("{?x}", "?x", false),
    .init("{?x}", "?y=1", false),
    .init("{?x}", "&x=1", false),
    .init("{?x}", "?x=1&x=2", false),
    .init("{?x}", "?x=a/b", false),
    .init("{?x,y}", "?x=1&y=2", true),
    .init("{?x,y}", "?x=1", true),
    .init("{?x,y}", "?y=2", true),
    .init("{?x,y}", "?y=2&x=1", false),
    .init("{?x,y}", "?x=1?y=2", false),
    .init("{?x,y}", "?x=1&", false),
    .init("{?x,y}", "?", false),
    // Form-style query continuation
    .init("?a=b{&x}", "?a=b&x=1", true),
    .init("?a=b{&x}", "?a=b", true),
    .init("?a=b{&x}", "?a=b?x=1", false),
    .init("?a=b{&x,y}", "?a=b&x=1&y=2", true),
    // Prefix modifier
    .init("{x:3}", "abc", true),
    .init("{x:3}", "ab", true),
    .init("{x:3}", "", true),
    .init("{x:3}", "abcd", false),
    .init("{x:3}", "%41bc", true),
    .init("{x:3}", "%41bcd", false),
    .init("{x:3}", "%C3%A9ab", true),
    .init("{x:3}", "%C3%A9abc", false),
    .init("{x:1}", "%E2%82%AC", true),
    .init("{x:1}", "%E2%82%ACa", false),
    .init("{x:5}", "a,b", false),
    .init("{+x:2}", "/a", true),
    .init("{+x:2}", "/ab", false),
    .init("{#x:2}", "#/a", true),
    .init("{#x:2}", "#/ab", false),
    .init("{.x:2}", ".ab", true),
    .init("{.x:2}", ".abc", false),
    .init("{/x:2}", "/ab", true),
    .init("{/x:2}", "/abc", false),
    .init("{;x:2}", ";x=ab", true),
    .init("{;x:2}", ";x=abc", false),
    .init("{?x:2}", "?x=ab", true),
    .init("{?x:2}", "?x=abc", false),
    .init("{&x:2}", "&x=ab", true),
    .init("{&x:2}", "&x=abc", false),
    .init("{x:9999}", String(repeating: "a", count: 9999), true),
    .init("{x:9999}", String(repeating: "a", count: 10000), false),
    .init("{x:2}{y:2}", "abcd", true),
    .init("{x:2}{y:2}", "abcde", false),
    // Explode modifier
    .init("{x*}", "a,b,c", true),
    .init("{x*}", "a=1,b=2", true),
    .init("{x*}", "a;b", false),
    .init("{/x*}", "/a/b/c", true),
    .init("{/x*}", "/a", true),
    .init("{/x*}", "", true),
    .init("{/x*}", "a/b", false),
    .init("{.x*}", ".a.b", true),
    .init("{.x*}", ".a/b", false),
    .init("{;x*}", ";x=1;x=2", true),
    .init("{;x*}", ";a=1;b", true),
    .init("{;x*}", ";=1", false),
    .init("{?x*}", "?x=1&x=2", true),
    .init("{?x*}", "?a=1&b=2", true),
    .init("{?x*}", "?a&b", false),
    .init("{?x*}", "?a=1?b=2", false),
    .init("{&x*}", "&a=1&b=2", true),
    .init("{&x*}", "?a=1&b=2", false),
    .init("{#x*}", "#a,b", true),
    .init("{+x*}", "a/b,c", true),
    .init("{/x*}{?q*}", "/a/b?c=1&d=2", true),
    .init("{/x*}{?q*}", "/a/b?c=1/d", false),
    // Literals around expressions, including overlaps and pct-encoding across the boundary
    .init("a{x}b", "ab", true),
    .init("a{x}b", "a%41b", true),
    .init("a{x}b", "a%4b", false),
    .init("{x}1", "%411", true),
    .init("{x}1", "%41", false),
    .init("ab{x}ba", "abba", true),
    .init("ab{x}ba", "aba", false),
    .init("ab{x}ba", "abxyba", true),
    .init("{x}-{y}", "a-b-c", true),  // "-" is unreserved: x = "a-b"
    .init("{x}/{y}", "a/b/c", false),
    .init("{x}-{y}", "a-b", true),
    .init("{x}.{y}", "a.b.c", true),
    // Literal-only templates
    .init("", "", true),
    .init("", "a", false),
    .init("https://example.com/", "https://example.com/", true),
    .init("https://example.com/", "https://example.com", false),
]

@Suite struct URITemplateMatchingTests {
    @Test(arguments: rfcExpansions)
    func rfcExpansionsMatch(_ vector: URITemplateMatchCase) throws {
        let template = try URITemplate(vector.template)
        #expect(template.matches(vector.string) == vector.matches)
        #expect((template.match(vector.string) != nil) == vector.matches)
    }

    @Test(arguments: matchingVectors)
    func vectors(_ vector: URITemplateMatchCase) throws {
        let template = try URITemplate(vector.template)
        #expect(template.matches(vector.string) == vector.matches)
        // `match` must agree with `matches`.
        #expect((template.match(vector.string) != nil) == vector.matches)
    }

    @Test func variableNamesAndLiteralness() throws {
        let template = try URITemplate("https://example.com/{a}/{b,a}{?c*}")
        #expect(template.variableNames == ["a", "b", "c"])
        #expect(!template.isLiteral)
        #expect(try URITemplate("https://example.com/").isLiteral)
        #expect(try URITemplate("").variableNames.isEmpty)
        #expect(template.description == "https://example.com/{a}/{b,a}{?c*}")
    }

    @Test func equalityFollowsText() throws {
        let a = try URITemplate("https://example.com/{id}")
        let b = try URITemplate("https://example.com/{id}")
        let c = try URITemplate("https://example.com/{+id}")
        #expect(a == b)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
    }
}

// MARK: - Extraction

struct URITemplateExtractionCase: Sendable, CustomTestStringConvertible {
    let template: String
    let string: String
    let values: [String: String]?

    init(_ template: String, _ string: String, _ values: [String: String]?) {
        self.template = template
        self.string = string
        self.values = values
    }

    var testDescription: String { "\(template) on \(string)" }
}

let extractionVectors: [URITemplateExtractionCase] = [
    .init("https://example.com/books/{id}", "https://example.com/books/42", ["id": "42"]),
    .init("https://example.com/books/{id}", "https://example.com/books/", ["id": ""]),
    .init("https://example.com/books/{id}", "https://example.com/books/42/reviews", nil),
    .init("https://example.com/books{/id}", "https://example.com/books", [:]),
    .init("https://example.com/books{/id}", "https://example.com/books/7", ["id": "7"]),
    .init("https://example.com/{+path}", "https://example.com/a/b?c", ["path": "a/b?c"]),
    .init("{x,y}", "1024,768", ["x": "1024", "y": "768"]),
    .init("{x,y}", "1024", ["x": "1024"]),
    .init("{x:1,y}", "abc", ["y": "abc"]),
    .init("{x:2}{y}", "abcd", ["x": "ab", "y": "cd"]),
    .init("{a}{b}", "xyz", ["a": "xyz", "b": ""]),
    .init("{?x,y}", "?y=768", ["y": "768"]),
    .init("{?x,y}", "?x=1&y=2", ["x": "1", "y": "2"]),
    .init("{;x,y,empty}", ";x=1024;y=768;empty", ["x": "1024", "y": "768", "empty": ""]),
    .init("{?x,y,empty}", "?x=1024&y=768&empty=", ["x": "1024", "y": "768", "empty": ""]),
    .init("{&x}", "&x=%20", ["x": "%20"]),
    .init("https://example.com/dictionary/{term:1}/{term}", "https://example.com/dictionary/c/cat", ["term": "cat"]),
    .init("{/var:1,var}", "/v/value", ["var": "value"]),
    .init("{x}/{x}", "a/b", ["x": "a"]),
    .init(
        "{/id*}{?fields,token}",
        "/person/albums?fields=id,name,picture&token=12345",
        ["id": "person/albums", "fields": "id,name,picture", "token": "12345"]
    ),
    .init("{?q*}", "?a=1&b=2", ["q": "a=1&b=2"]),
    .init("{;q*}", ";a=1;b", ["q": "a=1;b"]),
    .init("{keys*}", "semi=%3B,dot=.", ["keys": "semi=%3B,dot=."]),
    .init("{+path}/here", "/foo/bar/here", ["path": "/foo/bar"]),
    .init("{name}", "caf%C3%A9", ["name": "caf%C3%A9"]),
    .init("X{#frag}", "X#a/b", ["frag": "a/b"]),
    .init("X{#frag}", "X", [:]),
    .init("X{.ext}", "X.json", ["ext": "json"]),
    .init("{list}", "red,green,blue", ["list": "red,green,blue"]),
    .init("a{x}b", "ab", ["x": ""]),
    .init("a{x}b{y}c", "a1b2c", ["x": "1", "y": "2"]),
    .init("{x}.{y}", "a.b.c", ["x": "a.b", "y": "c"]),
    .init("https://example.com/", "https://example.com/", [:]),
    .init("https://example.com/", "https://example.com/x", nil),
]

@Test(arguments: extractionVectors)
func uriTemplateExtraction(_ vector: URITemplateExtractionCase) throws {
    let template = try URITemplate(vector.template)
    #expect(template.match(vector.string) == vector.values)
}

// MARK: - Parsing

struct URITemplateErrorCase: Sendable, CustomTestStringConvertible {
    let template: String
    let reasonContains: String

    init(_ template: String, _ reasonContains: String) {
        self.template = template
        self.reasonContains = reasonContains
    }

    var testDescription: String { template }
}

let malformedTemplates: [URITemplateErrorCase] = [
    .init("{", "unclosed '{'"),
    .init("https://example.com/{id", "unclosed '{'"),
    .init("}", "unexpected '}'"),
    .init("https://example.com/id}", "unexpected '}'"),
    .init("{a}}", "unexpected '}'"),
    .init("{}", "empty expression"),
    .init("a{}b", "empty expression"),
    .init("{a{b}}", "nested '{'"),
    .init("{{a}", "nested '{'"),
    .init("{a b}", "invalid variable name"),
    .init("{ a}", "invalid variable name"),
    .init("{a-b}", "invalid variable name"),
    .init("{..a}", "invalid variable name"),
    .init("{a.}", "invalid variable name"),
    .init("{a..b}", "invalid variable name"),
    .init("{%zz}", "invalid variable name"),
    .init("{a%2}", "invalid variable name"),
    .init("{caf\u{E9}}", "invalid variable name"),
    .init("{a/b}", "invalid variable name"),
    .init("{a,}", "empty variable name"),
    .init("{a,,b}", "empty variable name"),
    .init("{?a,}", "empty variable name"),
    .init("{+}", "without variable"),
    .init("{?}", "without variable"),
    .init("{a:0}", "invalid modifier"),
    .init("{a:10000}", "invalid modifier"),
    .init("{a:}", "invalid modifier"),
    .init("{a:1a}", "invalid modifier"),
    .init("{a:01}", "invalid modifier"),
    .init("{a:-1}", "invalid modifier"),
    .init("{a*:3}", "invalid modifier"),
    .init("{a:3*}", "invalid modifier"),
    .init("{a**}", "invalid modifier"),
    .init("{=a}", "reserved operator '='"),
    .init("{,a}", "reserved operator ','"),
    .init("{!a}", "reserved operator '!'"),
    .init("{@a}", "reserved operator '@'"),
    .init("{|a}", "reserved operator '|'"),
]

@Test(arguments: malformedTemplates)
func malformedTemplateThrows(_ vector: URITemplateErrorCase) {
    let error = #expect(throws: TopicSelectorError.self) { try URITemplate(vector.template) }
    #expect(error?.reason.contains(vector.reasonContains) == true, "reason: \(error?.reason ?? "none")")
}

@Test func errorReasonsGiveTheOffset() {
    #expect(throws: TopicSelectorError(reason: "unclosed '{' at offset 3")) { try URITemplate("abc{def") }
    #expect(throws: TopicSelectorError(reason: "unexpected '}' at offset 1")) { try URITemplate("a}b") }
    #expect(throws: TopicSelectorError(reason: "empty expression '{}' at offset 2")) { try URITemplate("ab{}") }
}

@Test(arguments: [
    "", "plain", "{a_b}", "{a.b}", "{A1}", "{%41b}", "{_}", "{a:1}", "{a:9999}", "{a*}",
    "{+a,b:3,c*}", "{x}{y}", "{.a}", "{/a.b}", "{#a}", "{;a}", "{?a}", "{&a}",
    "https://example.com/caf\u{E9}/{id}",
])
func validTemplatesParse(_ text: String) throws {
    let template = try URITemplate(text)
    #expect(template.rawValue == text)
}

// MARK: - Hostile input

/// Each of these would take astronomically long with a backtracking matcher; the time limit turns
/// an accidental exponential regression into a failure rather than a hang.
@Suite(.timeLimit(.minutes(1))) struct URITemplateHostileInputTests {
    static func adjacent(_ count: Int, _ make: (Int) -> String) -> String {
        (0..<count).map(make).joined()
    }

    @Test func manyAdjacentVariablesAgainstLongNonMatchingString() throws {
        let template = try URITemplate(Self.adjacent(40) { "{v\($0)}" })
        // The offending byte comes first, so every later position is still viable.
        #expect(!template.matches("/" + String(repeating: "a", count: 5000)))
        #expect(template.match("/" + String(repeating: "a", count: 5000)) == nil)
        // The offending byte comes last.
        #expect(!template.matches(String(repeating: "a", count: 5000) + "/"))
        // And in the middle.
        let middle = String(repeating: "a", count: 2500) + " " + String(repeating: "a", count: 2500)
        #expect(!template.matches(middle))
    }

    @Test func manyAdjacentVariablesAgainstLongMatchingString() throws {
        let template = try URITemplate(Self.adjacent(40) { "{v\($0)}" })
        let string = String(repeating: "a", count: 5000)
        #expect(template.matches(string))
        let values = try #require(template.match(string))
        #expect(values["v0"]?.count == 5000)
    }

    @Test func manyVariablesBetweenLiterals() throws {
        let template = try URITemplate("x" + Self.adjacent(40) { "{v\($0)}" } + "y")
        #expect(!template.matches("x" + String(repeating: "a", count: 5000) + "z"))
        #expect(template.matches("x" + String(repeating: "a", count: 5000) + "y"))
    }

    @Test func manyPrefixedVariables() throws {
        let template = try URITemplate(Self.adjacent(30) { "{v\($0):3}" })
        #expect(template.matches(String(repeating: "a", count: 90)))
        #expect(!template.matches(String(repeating: "a", count: 91)))
        #expect(!template.matches(String(repeating: "%41", count: 91)))
        let values = try #require(template.match(String(repeating: "a", count: 90)))
        #expect(values.count == 30)
        #expect(values.values.allSatisfy { $0 == "aaa" })
    }

    @Test func manyExplodedLists() throws {
        let template = try URITemplate(Self.adjacent(20) { "{v\($0)*}" })
        let list = String(repeating: "a,", count: 2000)
        #expect(!template.matches(list + "!"))
        #expect(template.matches(list + "a"))
    }

    @Test func manyReservedExpansions() throws {
        let template = try URITemplate(Self.adjacent(30) { "{+v\($0)}" })
        let reserved = String(repeating: ":/?#[]@!$&'()*+,;=a", count: 200)
        #expect(!template.matches(reserved + " "))
        #expect(!template.matches(" " + reserved))
        #expect(template.matches(reserved))
    }

    @Test func manyQueryVariables() throws {
        let names = (0..<30).map { "v\($0)" }
        let template = try URITemplate("{?" + names.joined(separator: ",") + "}")
        let query = "?" + names.map { "\($0)=\(String(repeating: "b", count: 100))" }.joined(separator: "&")
        #expect(template.matches(query))
        #expect(!template.matches(query + "&v0=1"))
    }
}
