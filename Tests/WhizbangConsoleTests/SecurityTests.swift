import Foundation
import HTTPTypes
import Testing
import Whizbang
import WhizbangConsole

@Suite("Console security", .timeLimit(.minutes(5)))
struct SecurityTests {
    static let token = "0123456789abcdef-token"

    @Test(arguments: [
        "0.0.0.0", "::", "192.168.1.10", "example.com", "127.example.invalid", "127.0.0.1.example.invalid",
        "127.0.0", "127.0.0.256", "127.0.0.01", "127..0.1",
    ])
    func anAddressOtherThanLoopbackWithoutATokenRefusesToStart(host: String) throws {
        let error = #expect(throws: ConsoleError.self) {
            _ = try ConsoleFixture { $0.host = host }
        }
        #expect(error?.code == .insecureAddress)
        #expect(error?.message.contains("access token") == true)
    }

    @Test(arguments: ["127.0.0.1", "127.1.2.3", "127.255.255.255", "localhost", "LocalHost", "::1", "[::1]"])
    func loopbackNeedsNoToken(host: String) throws {
        _ = try ConsoleFixture { $0.host = host }
    }

    @Test func anAddressOtherThanLoopbackStartsWithAToken() throws {
        _ = try ConsoleFixture {
            $0.host = "0.0.0.0"
            $0.accessToken = Self.token
        }
    }

    @Test(arguments: ["", "short", "has spaces in it, long enough"])
    func aWeakTokenIsRefused(token: String) throws {
        let error = #expect(throws: ConsoleError.self) {
            _ = try ConsoleFixture { $0.accessToken = token }
        }
        #expect(error?.code == .invalidConfiguration)
    }

    @Test func aRequestWithoutTheTokenGets401() async throws {
        let fixture = try ConsoleFixture { $0.accessToken = Self.token }
        try await fixture.seed()
        for uri in ["/api/overview", "/metrics", "/health/ready", "/api/live?updates=1"] {
            #expect(try await fixture.request(uri).status == .unauthorized, "\(uri)")
        }
        let wrong = try await fixture.request("/api/overview", headers: [.authorization: "Bearer wrong-token-0123456"])
        #expect(wrong.status == .unauthorized)
        let page = try await fixture.request("/")
        #expect(page.status == .seeOther)
        #expect(page.headers[.location] == "/login")
        #expect(try await fixture.request("/health/live").status == .ok)
    }

    /// The scheme's name is case-insensitive (RFC 9110, 11.1): `bearer TOKEN` was refused with 401.
    @Test(arguments: ["Bearer", "bearer", "BEARER"])
    func theBearerTokenLetsARequestThrough(scheme: String) async throws {
        let fixture = try ConsoleFixture { $0.accessToken = Self.token }
        try await fixture.seed()
        let response = try await fixture.request("/api/overview", headers: [.authorization: "\(scheme) \(Self.token)"])
        #expect(response.status == .ok)
    }

    @Test func signingInSetsAnHttpOnlyCookieThatLetsPagesThrough() async throws {
        let fixture = try ConsoleFixture { $0.accessToken = Self.token }
        try await fixture.seed()
        let refused = try await fixture.request(
            "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: "token=nope")
        #expect(refused.status == .unauthorized)
        #expect(refused.headers[.setCookie] == nil)
        let signedIn = try await fixture.request(
            "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
            body: "token=\(Self.token)")
        #expect(signedIn.status == .seeOther)
        let cookie = try #require(signedIn.headers[.setCookie])
        #expect(cookie.contains("HttpOnly"))
        #expect(cookie.contains("SameSite=Strict"))
        let value = try #require(cookie.split(separator: ";").first)
        let page = try await fixture.request("/", headers: [.cookie: String(value)])
        #expect(page.status == .ok)
    }

    @Test("an error Hummingbird renders, such as 413 for a sign-in body over the limit, still carries the headers")
    func anErrorResponseCarriesTheSecurityHeaders() async throws {
        let fixture = try ConsoleFixture { $0.accessToken = Self.token }
        let response = try await fixture.request(
            "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
            body: "token=" + String(repeating: "a", count: 5_000))
        #expect(response.status == .contentTooLarge)
        #expect(response.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
        #expect(response.headers[.xContentTypeOptions] == "nosniff")
        #expect(response.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
        #expect(response.headers[.cacheControl] == "no-store")
    }
}
