import Foundation
import PostgresNIO
import PostgresTesting
import Testing
import Whizbang
import WhizbangPostgres

/// Appends through a function of the caller's: its checks and writes and the appends as one statement.
@Suite(
    "PostgresEventStore appends through a caller's function",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresAppendCallTests {
    /// Creates, in the store's schema, a table of tokens, a table of notes and `guarded(p_token, p_note, ...)`: it
    /// refuses unless the token is stored, writes the note, appends, and raises after appending when the note is
    /// `raise`.
    private static func prepare(_ store: PostgresEventStore, token: Int64?) async throws {
        let schema = "\"\(store.configuration.schema)\""
        _ = try await store.headPosition()  // the schema exists once the store is ready
        var statements = [
            "CREATE TABLE \(schema).tokens (token bigint PRIMARY KEY)",
            "CREATE TABLE \(schema).notes (note text NOT NULL)",
            """
            CREATE FUNCTION \(schema).guarded(p_token bigint, p_note text, \(PostgresAppendCall.appendParameters))
            RETURNS \(PostgresAppendCall.returnType) LANGUAGE plpgsql AS $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM \(schema).tokens t WHERE t.token = p_token FOR KEY SHARE) THEN
                    RETURN QUERY SELECT \(PostgresAppendCall.refusedStatus), 0::bigint, 0::bigint, false;
                    RETURN;
                END IF;
                INSERT INTO \(schema).notes VALUES (p_note);
                RETURN QUERY SELECT * FROM \(store.appendFunction)(\(PostgresAppendCall.appendArguments));
                IF p_note = 'raise' THEN
                    RAISE EXCEPTION 'the function refuses after appending';
                END IF;
            END $$
            """,
        ]
        if let token { statements.append("INSERT INTO \(schema).tokens VALUES (\(token))") }
        for statement in statements { try await PostgresTestServer.execute(statement, configuration: store.configuration) }
    }

    private static func call(_ store: PostgresEventStore, token: Int64, note: String) -> PostgresAppendCall {
        var arguments = PostgresBindings()
        arguments.append(token)
        arguments.append(note)
        return PostgresAppendCall(function: "\"\(store.configuration.schema)\".guarded", arguments: arguments)
    }

    private static func notes(_ store: PostgresEventStore) async throws -> [String] {
        let schema = "\"\(store.configuration.schema)\""
        return try await store.withConnection { connection, logger in
            try await connection.query("SELECT note FROM \(unescaped: schema).notes ORDER BY note", logger: logger)
                .collect().map { try $0.decode(String.self) }
        }
    }

    private static func event(_ type: String = "Deposited", amount: Int = 1) -> EventData {
        EventData(eventType: type, data: Data(#"{"amount":\#(amount)}"#.utf8))
    }

    @Test("the function's writes and the appends commit together; each append is decided on its own, in order")
    func appendsAndWritesCommitTogether() async throws {
        try await PostgresTestServer.withStore { store in
            try await Self.prepare(store, token: 7)
            let outcome = try await store.append(
                [
                    PostgresStoreAppend([Self.event()], to: "a", expectedVersion: .noStream),
                    PostgresStoreAppend([Self.event()], to: "b", expectedVersion: .exact(5)),
                    PostgresStoreAppend([Self.event(), Self.event()], to: "c", expectedVersion: .noStream),
                ],
                through: Self.call(store, token: 7, note: "written"))
            guard case .appended(let results) = outcome else {
                Issue.record("the call was refused: \(outcome)")
                return
            }
            #expect(try results[0].get().positions == 1..<2)
            #expect(throws: EventStoreError.self) { try results[1].get() }
            if case .failure(let error) = results[1] { #expect(error.code == .wrongExpectedVersion) }
            #expect(try results[2].get().positions == 2..<4)
            #expect(try results[2].get().streamVersion == 2)
            #expect(try await Self.notes(store) == ["written"])
            #expect(try await store.headPosition() == 3)
            #expect(try await store.readStream("c", from: 1, direction: .forwards, limit: 10).count == 2)
        }
    }

    @Test("a function that refuses writes nothing and the call says so")
    func aRefusalWritesNothing() async throws {
        try await PostgresTestServer.withStore { store in
            try await Self.prepare(store, token: nil)
            let outcome = try await store.append(
                [PostgresStoreAppend([Self.event()], to: "a", expectedVersion: .noStream)],
                through: Self.call(store, token: 7, note: "refused"))
            guard case .refused = outcome else {
                Issue.record("the call was not refused: \(outcome)")
                return
            }
            #expect(try await Self.notes(store).isEmpty)
            #expect(try await store.headPosition() == 0)
        }
    }

    @Test("an error the function raises after appending rolls back the appends and its own writes")
    func aRaisedErrorRollsEverythingBack() async throws {
        try await PostgresTestServer.withStore { store in
            try await Self.prepare(store, token: 7)
            let error = await #expect(throws: EventStoreError.self) {
                try await store.append(
                    [PostgresStoreAppend([Self.event()], to: "a", expectedVersion: .noStream)],
                    through: Self.call(store, token: 7, note: "raise"))
            }
            #expect(error?.message.contains("the function refuses after appending") == true)
            #expect(try await Self.notes(store).isEmpty)
            #expect(try await store.headPosition() == 0)
            // The store goes on: the next call appends at position 1.
            let next = try await store.append(
                [PostgresStoreAppend([Self.event()], to: "a", expectedVersion: .noStream)],
                through: Self.call(store, token: 7, note: "after"))
            guard case .appended(let results) = next else {
                Issue.record("the call was refused: \(next)")
                return
            }
            #expect(try results[0].get().positions == 1..<2)
        }
    }

    @Test("an invalid append fails the call before anything is sent")
    func anInvalidAppendSendsNothing() async throws {
        try await PostgresTestServer.withStore { store in
            try await Self.prepare(store, token: 7)
            let error = await #expect(throws: EventStoreError.self) {
                try await store.append(
                    [
                        PostgresStoreAppend([Self.event()], to: "a", expectedVersion: .noStream),
                        PostgresStoreAppend([Self.event("")], to: "b", expectedVersion: .noStream),
                    ],
                    through: Self.call(store, token: 7, note: "sent"))
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.streamID == "b")
            #expect(try await Self.notes(store).isEmpty)
            #expect(try await store.headPosition() == 0)
        }
    }

    @Test("with an inline read model the call folds what it appended, or writes nothing when the model refuses")
    func inlineReadModelsFoldInTheSameTransaction() async throws {
        var configuration = try PostgresTestServer.configuration()
        configuration.readModels = [DepositTotals()]
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            let reader = ReadModel(DepositTotals(), in: store)
            try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            try await Self.prepare(store, token: 7)
            _ = try await store.append(
                [PostgresStoreAppend([Self.event(amount: 5), Self.event(amount: 2)], to: "a", expectedVersion: .noStream)],
                through: Self.call(store, token: 7, note: "folded"))
            #expect(try await reader.row("a") == .init(deposits: 2, total: 7))
            let refused = await #expect(throws: EventStoreError.self) {
                try await store.append(
                    [PostgresStoreAppend([Self.event("Poison")], to: "b", expectedVersion: .noStream)],
                    through: Self.call(store, token: 7, note: "poisoned"))
            }
            #expect(refused?.code == .inlineProjectionFailed)
            #expect(try await Self.notes(store) == ["folded"])
            #expect(try await store.headPosition() == 2)
        }
    }

    /// Before, a row with a negative version or position trapped in the conversion to the result's unsigned values:
    /// the process ended.
    @Test("a function that returns values no append can have fails the call with storageFailure")
    func rowsNoAppendCanHaveFailTheCall() async throws {
        try await PostgresTestServer.withStore { store in
            let schema = "\"\(store.configuration.schema)\""
            _ = try await store.headPosition()
            try await PostgresTestServer.execute(
                """
                CREATE FUNCTION \(schema).lying(\(PostgresAppendCall.appendParameters))
                RETURNS \(PostgresAppendCall.returnType) LANGUAGE plpgsql AS $$
                BEGIN
                    RETURN QUERY SELECT 0, -1::bigint, -1::bigint, true;
                END $$
                """, configuration: store.configuration)
            await expectError(.storageFailure) {
                _ = try await store.append(
                    [PostgresStoreAppend([Self.event()], to: "a", expectedVersion: .noStream)],
                    through: PostgresAppendCall(function: "\(schema).lying", arguments: PostgresBindings()))
            }
        }
    }
}
