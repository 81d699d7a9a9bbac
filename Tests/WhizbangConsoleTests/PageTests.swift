import Foundation
import HTTPTypes
import Testing
import Whizbang
@testable import WhizbangConsole

@Suite("Console pages", .timeLimit(.minutes(5)))
struct PageTests {
    @Test func aPayloadWithAScriptRendersAsText() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.append(
            "<script>alert('stream')</script>", type: "<img src=x onerror=alert(2)>",
            payload: "{\"note\":\"<script>alert(1)</script>\"}")
        try await fixture.append("plain", payload: "<script>alert(1)</script>")
        await fixture.console.refresh()
        for uri in ["/events/1", "/events/2", "/log", "/streams", "/stream?id=%3Cscript%3Ealert('stream')%3C%2Fscript%3E"] {
            let page = try await fixture.request(uri)
            #expect(page.status == .ok, "\(uri)")
            #expect(!page.body.contains("<script>alert"), "\(uri) holds a live script")
            #expect(!page.body.contains("<img"), "\(uri) holds a live image")
            // The only script element is the console's own.
            #expect(page.body.components(separatedBy: "<script").count == 2, "\(uri)")
        }
        let event = try await fixture.request("/events/2")
        #expect(event.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
    }

    @Test func everyPageCarriesAStrictContentSecurityPolicy() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        for uri in ["/", "/streams", "/stream?id=account-1", "/log", "/events/1", "/projections", "/nowhere"] {
            let page = try await fixture.request(uri)
            let policy = try #require(page.headers[.contentSecurityPolicy], "\(uri)")
            #expect(policy.contains("default-src 'none'"))
            #expect(policy.contains("script-src 'self'"))
            #expect(!policy.contains("unsafe-inline"))
            #expect(page.headers[.xContentTypeOptions] == "nosniff")
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(!page.body.contains("http://") || uri == "/", "\(uri) loads from elsewhere")
            #expect(!page.body.contains("https://"))
        }
    }

    @Test func pagesShowWhatTheAPIReturns() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let overview = try await fixture.request("/")
        #expect(overview.body.contains("<dd id=\"head-position\">5</dd>"))
        let stream = try await fixture.request("/stream?id=account-1")
        let first = try #require(stream.body.range(of: "<a href=\"/events/1\">"))
        let second = try #require(stream.body.range(of: "<a href=\"/events/2\">"))
        let third = try #require(stream.body.range(of: "<a href=\"/events/5\">"))
        #expect(first.lowerBound < second.lowerBound && second.lowerBound < third.lowerBound)
        let streams = try await fixture.request("/streams?prefix=order")
        #expect(streams.body.contains("/stream?id=order-1"))
        #expect(!streams.body.contains("account-1"))
    }

    @Test(arguments: ["/log?after=99", "/stream?id=nobody", "/events/99", "/no/such/page"])
    func aPagePastTheEndGivesThe404Page(uri: String) async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let page = try await fixture.request(uri)
        #expect(page.status == .notFound)
        #expect(page.body.contains("<h1>404 Not Found</h1>"))
        #expect(page.body.contains("id=\"error-message\""))
    }

    @Test func assetsAreServedFromTheModule() async throws {
        let fixture = try ConsoleFixture()
        let script = try await fixture.request("/assets/console.js")
        #expect(script.status == .ok)
        #expect(script.body.contains("EventSource"))
        #expect(!script.body.contains("innerHTML"))
        let stylesheet = try await fixture.request("/assets/console.css")
        #expect(stylesheet.headers[.contentType]?.hasPrefix("text/css") == true)
    }

    @Test func escapingCoversTheFiveSpecialCharacters() {
        #expect(HTMLText.escape("<a href=\"x\" title='y'>&</a>")
            == "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;")
        #expect(HTMLText.percentEncoded("a b/c&d=é") == "a%20b%2Fc%26d%3D%C3%A9")
    }

    @Test func controlCharactersBecomeReplacementMarks() {
        // Markup may not hold control characters, not even as references (XML 1.0 forbids them; the run report is
        // parsed as XML). Line feeds and tabs are text.
        #expect(HTMLText.escape("a\u{0}b\u{1B}[31mc\rd\u{7F}e\nf\tg") == "a\u{FFFD}b\u{FFFD}[31mc\u{FFFD}d\u{FFFD}e\nf\tg")
    }
}
