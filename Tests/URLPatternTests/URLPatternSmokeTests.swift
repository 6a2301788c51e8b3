import Testing
import URLPattern

@Suite struct URLPatternSmokeTests {
    @Test func mercureExample() throws {
        let pattern = try URLPattern("https://example.com/books/:id")
        #expect(pattern.test("https://example.com/books/1"))
        #expect(!pattern.test("https://example.com/books/1/2"))
        #expect(!pattern.test("https://example.org/books/1"))
        #expect(!pattern.test("chat-room-1"))
        let match = try #require(pattern.exec("https://example.com/books/42"))
        #expect(match[.pathname]["id"] == "42")
    }
}
