public import PostgresNIO
public import Whizbang

/// A SQL function of the caller's through which the store appends, so that the caller's checks and bookkeeping and
/// the append run as one statement: one round trip, one transaction, and no wait for the client while the store's
/// append lock is held.
///
/// Pass it to ``PostgresEventStore/append(_:through:)``. The store calls
/// `function(<arguments>, <the append arrays>)`, binding ``arguments`` first and then the arrays of
/// ``appendParameters``. The function makes its checks and writes, then returns the rows of the store's append
/// function (``PostgresEventStore/appendFunction``) called with those arrays in the order of ``appendArguments``,
/// one row per append. When a check refuses, it returns one row whose status is ``refusedStatus`` instead, having
/// written nothing (raising an error rolls everything back too, and reaches the caller as the store's error).
///
/// A function that appends nothing for an empty batch need not call the store's function, which takes the append
/// lock even then.
///
/// A call made with `fenced: true` binds one more value, the object id of the `events` table the store opened, and
/// its function declares ``fencedAppendParameters`` and calls ``PostgresEventStore/fencedAppendFunction`` with
/// ``fencedAppendArguments`` instead. Its appends are then refused, with nothing written, when the store's tables
/// were dropped or replaced since it opened them (while its listening connection was lost: a replacing restore,
/// another store started on the emptied schema); the call fails as `closed` and the store closes, as its own
/// appends do. Without it, such an append would go into tables the store never read. A fenced function whose other
/// writes depend on what the caller read from the store's tables calls the fenced function even when it appends
/// nothing: with no appends it only checks the tables, without the append lock.
///
/// ```sql
/// CREATE FUNCTION app.guarded_append(p_token bigint, <PostgresAppendCall.appendParameters>)
/// RETURNS <PostgresAppendCall.returnType> LANGUAGE plpgsql AS $$
/// BEGIN
///     IF NOT EXISTS (SELECT 1 FROM app.tokens WHERE token = p_token FOR KEY SHARE) THEN
///         RETURN QUERY SELECT -1, 0::bigint, 0::bigint, false;
///         RETURN;
///     END IF;
///     RETURN QUERY SELECT * FROM <store.appendFunction>(<PostgresAppendCall.appendArguments>);
/// END $$;
/// ```
public struct PostgresAppendCall: Sendable {
    /// The function's name, schema-qualified and quoted as SQL needs it (`"app"."guarded_append"`); it is written
    /// into the statement as given.
    public var function: String
    /// The caller's arguments, bound before the append arrays.
    public var arguments: PostgresBindings

    /// A procedure that calls ``function`` and commits in the same exchange, made with
    /// ``committingProcedure(named:calling:parameters:arguments:fenced:)``, or `nil`.
    ///
    /// The function's rows cannot acknowledge the appends by themselves: run alone, the statement commits after its
    /// rows have been sent, and that commit may still fail (a deferred constraint, a server stopped at that moment).
    /// So the store runs the function between `BEGIN` and `COMMIT`, two more round trips. With a procedure, and no
    /// inline read models (whose fold must join the transaction), it calls the procedure alone instead: the
    /// procedure's `COMMIT` runs before the call answers, so a commit that fails fails the call.
    public var procedure: String?

    /// Whether the function takes the object id of the store's tables before the append arrays
    /// (``fencedAppendParameters``) and passes it on to ``PostgresEventStore/fencedAppendFunction``, so that the
    /// appends are refused when the tables are no longer the ones the store opened. Default `false`.
    public var fenced: Bool

    /// Creates a call of `function` with the caller's `arguments`, and the `procedure` that calls it and commits.
    ///
    /// - Parameters:
    ///   - function: the function, as ``function`` names it.
    ///   - arguments: the caller's arguments, bound before the append arrays.
    ///   - procedure: the procedure that calls the function and commits, or `nil`.
    ///   - fenced: whether the function takes the store's tables' object id and calls the fenced append function
    ///     (``fenced``).
    public init(function: String, arguments: PostgresBindings, procedure: String? = nil, fenced: Bool = false) {
        self.function = function
        self.arguments = arguments
        self.procedure = procedure
        self.fenced = fenced
    }

    /// The SQL that creates (or replaces) a procedure `name` that calls `function` with the caller's `parameters`
    /// and the append arrays, commits, and answers with the function's rows as four arrays, one element per row:
    /// what ``procedure`` names.
    ///
    /// - Parameters:
    ///   - name: the procedure's name, schema-qualified and quoted as SQL needs it.
    ///   - function: the function it calls, as ``function`` names it.
    ///   - parameters: the caller's parameters, declared as for the function (`p_token bigint, p_owner text`), or
    ///     empty; the append arrays' ``appendParameters`` follow them.
    ///   - arguments: the caller's parameters' names, in order, as the procedure passes them on (`p_token, p_owner`).
    ///   - fenced: whether the function is a fenced call's (``fenced``): the procedure then declares and passes on
    ///     ``fencedAppendParameters`` instead of ``appendParameters``.
    public static func committingProcedure(
        named name: String, calling function: String, parameters: String, arguments: String, fenced: Bool = false
    ) -> String {
        let leading = parameters.isEmpty ? "" : parameters + ", "
        let passed = arguments.isEmpty ? "" : arguments + ", "
        return """
            CREATE OR REPLACE PROCEDURE \(name)(
                \(leading)\(fenced ? fencedAppendParameters : appendParameters),
                INOUT r_statuses integer[] DEFAULT NULL, INOUT r_stream_versions bigint[] DEFAULT NULL,
                INOUT r_first_positions bigint[] DEFAULT NULL, INOUT r_inserted boolean[] DEFAULT NULL)
            LANGUAGE plpgsql AS $procedure$
            BEGIN
                SELECT array_agg(a.status ORDER BY a.n), array_agg(a.stream_version ORDER BY a.n),
                    array_agg(a.first_position ORDER BY a.n), array_agg(a.inserted ORDER BY a.n)
                INTO r_statuses, r_stream_versions, r_first_positions, r_inserted
                FROM \(function)(\(passed)\(fenced ? fencedAppendArguments : appendArguments))
                    WITH ORDINALITY AS a(status, stream_version, first_position, inserted, n);
                COMMIT;
            END $procedure$
            """
    }

    /// The append arrays' parameters, to declare after the caller's own: one element per append in `p_stream_ids`,
    /// `p_expected` (the expected version: `-1` any, `-2` no stream, `-3` stream exists, `n >= 0` exactly `n`) and
    /// `p_counts` (its number of events); one per event, in order, in the others.
    public static let appendParameters =
        "p_stream_ids text[], p_expected bigint[], p_counts integer[], p_event_ids uuid[], p_event_types text[], "
        + "p_data bytea[], p_metadata bytea[], p_schema_versions integer[]"

    /// The arguments with which the function calls the store's append function: the parameters of
    /// ``appendParameters``, in order.
    public static let appendArguments =
        "p_stream_ids, p_expected, p_counts, p_event_ids, p_event_types, p_data, p_metadata, p_schema_versions"

    /// The parameters of a fenced call's function (``fenced``), to declare after the caller's own: the object id of
    /// the store's tables (`p_tables oid`), then ``appendParameters``.
    public static let fencedAppendParameters = "p_tables oid, " + appendParameters

    /// The arguments with which a fenced call's function calls ``PostgresEventStore/fencedAppendFunction``: the
    /// parameters of ``fencedAppendParameters``, in order.
    public static let fencedAppendArguments = "p_tables, " + appendArguments

    /// What the function returns: the store's append function's rows, or one refusal row.
    public static let returnType =
        "TABLE (status integer, stream_version bigint, first_position bigint, inserted boolean)"

    /// The status of the one row by which the function says its check refused the append.
    public static let refusedStatus: Int32 = -1

    /// What ``PostgresEventStore/append(_:through:)`` did.
    public enum Outcome: Sendable {
        /// The statement committed; one result per append, in order, each decided on its own as in a group commit.
        case appended([Result<AppendResult, EventStoreError>])
        /// The function's check refused: nothing was written.
        case refused
    }
}

extension PostgresEventStore {
    /// The store's append function, schema-qualified, for a ``PostgresAppendCall`` function to call.
    public var appendFunction: String { "\"\(configuration.schema)\".append_batch" }

    /// The store's fenced append function, schema-qualified, for the function of a fenced ``PostgresAppendCall`` to
    /// call with ``PostgresAppendCall/fencedAppendArguments``: it takes the store's append lock, refuses (SQLSTATE
    /// `WB001`, nothing written) when the schema's `events` table is not the one whose object id it is given, and
    /// otherwise appends as ``appendFunction`` does.
    public var fencedAppendFunction: String { "\"\(configuration.schema)\".append_batch_fenced" }

    /// Appends through a function of the caller's, as one statement in one transaction: the function's checks and
    /// writes and the appends commit together, or nothing does.
    ///
    /// Every append is validated first, as ``append(_:to:expectedVersion:)`` does; when one is invalid, nothing is
    /// sent. The appends are numbered in the same global order as every other append of the store, and wake its
    /// waiters and other processes' subscribers. The call is bounded as every call is: leasing a connection by
    /// ``Configuration/connectTimeout``, the statement by ``Configuration/requestTimeout``. The outcome is returned
    /// only once the appends have committed: the call's ``PostgresAppendCall/procedure`` commits before it answers;
    /// without one, the function runs in an explicit transaction whose `COMMIT` has answered. With inline read
    /// models (``Configuration/readModels``) the function always runs in a transaction, and their fold with it.
    ///
    /// - Returns: ``PostgresAppendCall/Outcome/appended(_:)`` with one result per append, or
    ///   ``PostgresAppendCall/Outcome/refused`` when the function's check refused.
    /// - Throws: the validation error of the first invalid append; otherwise an `EventStoreError` — `readOnly`,
    ///   `closed`, `unavailable` (retryable; the statement may have committed), `inlineProjectionFailed` (nothing
    ///   was written), `storageFailure` when the function returns rows that do not fit, or the server's error
    ///   (among them an error the function raised) mapped as for the store's other calls.
    public func append(_ appends: [PostgresStoreAppend], through call: PostgresAppendCall) async throws
        -> PostgresAppendCall.Outcome
    {
        try refuseWriteIfReadOnly("an append")
        var bytes = 0
        for append in appends { bytes += try validate(append.events, streamID: append.streamID) }
        try Self.validateAppendBytes(bytes, streamID: appends.count == 1 ? appends.first?.streamID : nil)
        if readModels.hasInline {
            // The positions come from the call's rows, not from a body that could roll its appends back: believed.
            return try await withTransaction(restoringSession: true, believingHead: true) { transaction in
                try await transaction.append(appends, through: call)
            }
        }
        try await waitUntilReady()
        try lifecycle.beginOperation()
        defer {
            lifecycle.endOperation()
            // A fenced call that found the store's tables replaced closes the store, once it has failed.
            tables.closeIfReplaced()
        }
        let logger = configuration.logger
        let head = HeadTracker()
        let tables = tables
        do {
            // Committed before the outcome is reported: by the call's procedure, or in a transaction of its own
            // whose `COMMIT` has answered (a statement run alone reports its rows before its commit).
            let outcome = try await runner.withConnection { connection in
                if call.procedure != nil {
                    return try await PostgresStoreTransaction.run(
                        appends, through: call, on: connection, tables: tables, logger: logger, head: head,
                        committing: true)
                }
                return try await connection.withStoreTransaction(logger: logger) {
                    try await PostgresStoreTransaction.run(
                        appends, through: call, on: connection, tables: tables, logger: logger, head: head)
                }
            }
            if head.value > 0 { signal.advance(to: head.value) }
            return outcome
        } catch let error as EventStoreError {
            throw error
        } catch {
            if Task.isCancelled && !lifecycle.isClosed { throw CancellationError() }
            throw runner.failure(error, closed: lifecycle.isClosed)
        }
    }
}
