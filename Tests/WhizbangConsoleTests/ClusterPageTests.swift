import Foundation
import HTTPTypes
import Testing
import Whizbang
import WhizbangConsole

@Suite("Console: the cluster's nodes and partition owners", .timeLimit(.minutes(5)))
struct ClusterPageTests {
    static let status = ClusterStatus(
        nodes: [
            .init(nodeID: "node-a", member: "node-a/1f2e", secondsSinceHeartbeat: 0.4, stopped: false),
            .init(nodeID: "node-<b>", member: "node-<b>/9c", secondsSinceHeartbeat: 31.25, stopped: true),
            .init(nodeID: "node-c", member: "node-c/77", secondsSinceHeartbeat: 12, stopped: false, secondsOfLease: 10),
            .init(nodeID: "node-d", member: "node-d/78", secondsSinceHeartbeat: 12, stopped: false),
            .init(nodeID: "node-e", member: "node-e/79", secondsSinceHeartbeat: 12, stopped: false, secondsOfLease: 60),
            .init(nodeID: "node-f", member: "node-f/80", secondsSinceHeartbeat: 90, stopped: true, secondsOfLease: 60),
        ],
        partitions: [
            .init(partition: 0, owner: "node-a/1f2e", epoch: 3, secondsOfLeaseLeft: 8.5),
            .init(partition: 1, owner: "node-a/1f2e", epoch: 5, secondsOfLeaseLeft: 8.5),
            .init(partition: 2, owner: "node-<b>/9c", epoch: 2, secondsOfLeaseLeft: -20),
            .init(partition: 3, owner: nil, epoch: 0, secondsOfLeaseLeft: 0),
        ])

    @Test func thePageListsNodesOwnersAndPartitionsEscaped() async throws {
        let fixture = try ConsoleFixture { $0.clusterStatus = { Self.status } }
        try await fixture.seed()
        let page = try await fixture.request("/cluster")
        #expect(page.status == .ok)
        #expect(page.body.contains("<td>node-a</td><td>node-a/1f2e</td><td>0.4 s ago</td><td>running</td>"))
        #expect(page.body.contains("<td>node-&lt;b&gt;</td>"))
        #expect(!page.body.contains("node-<b>"))
        #expect(page.body.contains("<td>node-a/1f2e</td><td>2</td><td>2</td><td>3–5</td>"))
        #expect(page.body.contains("<td>2</td><td>node-&lt;b&gt;/9c</td><td>2</td><td>expired</td>"))
        #expect(page.body.contains("<td>(none)</td><td>1</td><td>0</td><td>0–0</td>"))
        let api = try ConsoleFixture.json(try await fixture.request("/api/cluster").body)
        // Before, a node past its lease that had not stopped read "running", as a live one does.
        #expect(page.body.contains("<td>node-c/77</td><td>12.0 s ago</td><td>silent for longer than its lease</td>"))
        #expect(page.body.contains("<td>node-d/78</td><td>12.0 s ago</td><td>running</td>"))
        #expect(page.body.contains("<td>node-e/79</td><td>12.0 s ago</td><td>running</td>"))
        #expect(page.body.contains("<td>node-f/80</td><td>90.0 s ago</td><td>stopped</td>"))
        let nodes = (api["nodes"] as? [[String: Any]]) ?? []
        #expect(nodes.count == 6)
        #expect(nodes.first { $0["nodeID"] as? String == "node-c" }?["secondsOfLease"] as? Double == 10)
        #expect((api["partitions"] as? [[String: Any]])?.first?["epoch"] as? Int == 3)
        #expect(try await fixture.request("/").body.contains("<a href=\"/cluster\">"))
    }

    @Test func aStoreWithoutAClusterOrAConsoleWithoutAReaderGives404() async throws {
        let noTables = try ConsoleFixture { $0.clusterStatus = { nil } }
        let missing = try await noTables.request("/cluster")
        #expect(missing.status == .notFound)
        #expect(missing.body.contains("no cluster runs on this store"))
        let unconfigured = try ConsoleFixture()
        try await unconfigured.seed()
        #expect(try await unconfigured.request("/api/cluster").status == .notFound)
        #expect(!(try await unconfigured.request("/").body.contains("/cluster")))
    }
}
