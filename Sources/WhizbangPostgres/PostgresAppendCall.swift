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

    /// Creates a call of `function` with the caller's `arguments`.
    public init(function: String, arguments: PostgresBindings) {
        self.function = function
        self.arguments = arguments
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

    /// Appends through a function of the caller's, as one statement in one transaction: the function's checks and
    /// writes and the appends commit together, or nothing does.
    ///
    /// Every append is validated first, as ``append(_:to:expectedVersion:)`` does; when one is invalid, nothing is
    /// sent. The appends are numbered in the same global order as every other append of the store, and wake its
    /// waiters and other processes' subscribers. The call is bounded as every call is: leasing a connection by
    /// ``Configuration/connectTimeout``, the statement by ``Configuration/requestTimeout``. The statement runs in an
    /// explicit transaction, and the outcome is returned once its `COMMIT` has succeeded; with inline read models
    /// (``Configuration/readModels``) their fold runs in the same transaction.
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
        for append in appends { _ = try validate(append.events, streamID: append.streamID) }
        if readModels.hasInline {
            return try await withTransaction { transaction in try await transaction.append(appends, through: call) }
        }
        try await waitUntilReady()
        try lifecycle.beginOperation()
        defer { lifecycle.endOperation() }
        let logger = configuration.logger
        let head = HeadTracker()
        do {
            // A transaction of its own, so the outcome is reported only once `COMMIT` has answered (see
            // `PostgresWriter`: a statement run alone reports its rows before its commit).
            let outcome = try await runner.withConnection { connection in
                try await connection.withStoreTransaction(logger: logger) {
                    try await PostgresStoreTransaction.run(appends, through: call, on: connection, logger: logger, head: head)
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
