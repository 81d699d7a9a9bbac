import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import Whizbang
import WhizbangConsole

/// A console over an in-memory store with a few streams, and a way to send it requests without a network port.
struct ConsoleFixture {
    static let fixedNow = Date(timeIntervalSince1970: 2_000_000_000)

    let store = InMemoryEventStore()
    let console: StoreConsole<InMemoryEventStore>

    init(configure: (inout ConsoleConfiguration) -> Void = { _ in }) throws {
        var configuration = ConsoleConfiguration()
        configuration.projections = ["ledger"]
        configuration.maximumReadyLag = 2
        configure(&configuration)
        console = try StoreConsole(store: store, configuration: configuration, now: { Self.fixedNow })
    }

    /// Appends `count` events of type `type` with the given payload to `stream`.
    func append(_ stream: StreamID, count: Int = 1, type: String = "Deposited", payload: String = "{\"amount\":5}")
        async throws
    {
        let metadata = Data(#"{"correlationID":"c-1","causationID":"m-0","messageID":"m-1"}"#.utf8)
        let events = (0..<count).map { _ in EventData(eventType: type, data: Data(payload.utf8), metadata: metadata) }
        _ = try await store.append(events, to: stream, expectedVersion: .any)
    }

    /// The usual content: account-1 (3 events), account-2 (1), order-1 (1); positions 1 to 5.
    func seed() async throws {
        try await append("account-1", count: 2)
        try await append("account-2")
        try await append("order-1", type: "Placed")
        try await append("account-1")
        await console.refresh()
    }

    /// Sends one request through the router and returns status, headers and body.
    func request(
        _ uri: String,
        method: HTTPRequest.Method = .get,
        headers: HTTPFields = [:],
        body: String? = nil
    ) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: String) {
        let application = Application(router: console.makeRouter())
        return try await application.test(.router) { client in
            try await client.execute(
                uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }
            ) { response in
                (response.status, response.headers, String(buffer: response.body))
            }
        }
    }

    /// Decodes a JSON body into a dictionary.
    static func json(_ body: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
    }
}
