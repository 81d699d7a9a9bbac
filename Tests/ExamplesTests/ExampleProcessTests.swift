import Foundation
import ProcessTesting
import Testing

/// Runs each built example as a process: it must finish with exit status 0 and print what it demonstrates.
@Suite(.timeLimit(.minutes(5)))
struct ExampleProcessTests {
    @Test func shoppingCart() async throws {
        let output = try await runExample("ShoppingCartExample")
        #expect(output.contains("cart-alice checked out at version 4: 3 × apple, total $1.20"))
        #expect(output.contains("rejected checkOut on cart-carol: emptyCart"))
        #expect(output.contains("rejected remove(product: \"pear\") on cart-bob: alreadyCheckedOut"))
        #expect(output.contains("apple    5 units  $2.00"))
        #expect(output.contains("cheese   1 units  $5.20"))
        #expect(!output.contains("bread "), "removed before checkout, so never sold")
    }

    @Test func inventory() async throws {
        let output = try await runExample("InventoryExample")
        #expect(output.contains("order-1: confirmed"))
        #expect(output.contains("order-2: rejected (gadget: 5 wanted, 1 available)"))
        #expect(output.contains("widget: 6 available, held: 4 for order-1"))
        #expect(output.contains("gadget: 1 available, held: 1 for order-1"))
        let conversation = output.split(separator: "\n").drop { !$0.hasPrefix("order-2, step by step") }.dropFirst()
        #expect(
            conversation.map { $0.split(separator: " ").dropFirst().joined(separator: " ") } == [
                "OrderPlaced on order-2", "StockReserved on stock-widget", "StockReleased on stock-widget",
                "OrderRejected on order-2",
            ])
    }

    @Test func library() async throws {
        let output = try await runExample("LibraryExample")
        #expect(output.contains("ivanhoe not lent to ada: loanLimitReached(limit: 2)"))
        #expect(output.contains("ada holds book-dune, book-emma"))
        #expect(output.contains("notices to ada: book-dune@4"))
        #expect(output.contains("on loan at the end: book-emma, book-ulysses"))
    }

    /// Runs `name`, built next to the test bundle, and returns its standard output.
    private func runExample(_ name: String) async throws -> String {
        let output = try await ProcessOutput.run(try executable(name).path, [])
        #expect(
            output.status == 0,
            "\(name) exited with \(output.status):\n\(output.standardOutput)\(output.standardError)")
        return output.standardOutput
    }

    /// The example's binary: on Linux the test runner is `<build>/debug/<package>PackageTests.xctest`, elsewhere a
    /// bundle deeper down, so look in a few parent directories.
    private func executable(_ name: String) throws -> URL {
        #if os(Linux)
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        #else
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        #endif
        var directory = testBinary.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw ExampleNotBuilt(name: name, directory: testBinary.deletingLastPathComponent().path)
    }
}

struct ExampleNotBuilt: Error, CustomStringConvertible {
    var name: String
    var directory: String
    var description: String { "\(name) is not built next to the tests in \(directory); run `swift build` first" }
}
