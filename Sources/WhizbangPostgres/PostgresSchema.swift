/// The tables and the append function of a store, and their forward migrations.
///
/// Everything lives in one PostgreSQL schema (``PostgresEventStore/Configuration/schema``, default `whizbang`):
/// - `schema_version(version, applied_at)`: one row per migration applied.
/// - `streams(stream_key bigint, stream_id text UNIQUE, version bigint)`: each stream's compact key and its version.
/// - `events(position bigint PRIMARY KEY, stream_key, version, event_id uuid UNIQUE, event_type text, data bytea,
///   metadata bytea, recorded_at timestamptz, schema_version integer)`: the global log, unique on
///   `(stream_key, version)`. `schema_version` (since schema version 2) is the version of the event type's shape the
///   data is written in; the migration gives every event stored before it 1.
/// - `checkpoints(consumer text PRIMARY KEY, position bigint)`.
/// - `snapshots(stream_id text PRIMARY KEY, version bigint, state_type text, data bytea, saved_at timestamptz)`.
/// - `read_models(name text PRIMARY KEY, state, served_generation, served_version, served_position,
///   building_generation, building_version, building_position, next_generation, failure)` (since schema version 3):
///   where each read model stands, see ``PostgresReadModels``.
/// - `read_model_rows(model, generation, key text COLLATE "C", index_value text COLLATE "C", position, body bytea)`
///   (since 3): the rows of every generation of every read model, primary key `(model, generation, key)`, indexed
///   on `(model, generation, index_value, key)`.
/// - the function `append_batch(...)`, which decides and writes a whole group commit in one round trip, the
///   procedure `append_batch_committed(...)` (since 5), which calls it and commits, and their fenced forms
///   `append_batch_fenced(...)` and `append_batch_fenced_committed(...)` (since 6), through which the store appends.
///
/// A schema that the first migration creates (it creates one only when it is missing) carries the comment
/// ``createdSchemaComment``: the proof that the schema is the store's, which
/// ``PostgresEventStore/dropSchema(configuration:)`` asks before it drops one.
///
/// `psql` shows the log with
/// `SELECT e.position, s.stream_id, e.version, e.event_type, convert_from(e.data, 'UTF8') FROM whizbang.events e
/// JOIN whizbang.streams s USING (stream_key) ORDER BY e.position;`.
enum PostgresSchema {
    /// The first key of every advisory lock a store takes: "Whiz" in ASCII.
    static let lockClass: Int32 = 0x5768_697A
    /// The first key of the advisory lock that says a store runs on a schema: each running store holds it in shared
    /// mode, on its listening connection, for as long as that connection lasts; dropping or replacing the store's
    /// tables takes it exclusively, and so refuses while a store runs (`refuseIfInUse`). (`lockClass + 1` is the
    /// migration lock.)
    static let useLockClass: Int32 = lockClass + 2
    /// The first key of the advisory lock a store with `Configuration.holdsWriterLock` holds exclusively, on its
    /// listening connection, for as long as that connection lasts.
    static let writerLockClass: Int32 = lockClass + 3
    /// The comment the first migration puts on a schema it creates. A schema without it was made by someone else
    /// (an operator, for the store; `public`), or by a store before the comment was introduced, and is not dropped.
    static let createdSchemaComment = "Created by a Whizbang event store, which drops it with the store"

    /// The migrations, in order; migration `n` (1-based) brings the schema to version `n`. Each is a list of single
    /// statements in which `{schema}` stands for the quoted schema name, `{name}` for the name itself and
    /// `{channel}` for the notification channel. Append new ones; never change a published one.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE {schema}.streams (
                stream_key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                stream_id text NOT NULL UNIQUE,
                version bigint NOT NULL
            )
            """,
            """
            CREATE TABLE {schema}.events (
                position bigint PRIMARY KEY,
                stream_key bigint NOT NULL REFERENCES {schema}.streams (stream_key),
                version bigint NOT NULL,
                event_id uuid NOT NULL,
                event_type text NOT NULL,
                data bytea NOT NULL,
                metadata bytea NOT NULL,
                recorded_at timestamptz NOT NULL,
                CONSTRAINT events_by_stream UNIQUE (stream_key, version),
                CONSTRAINT events_by_id UNIQUE (event_id)
            )
            """,
            """
            CREATE TABLE {schema}.checkpoints (
                consumer text PRIMARY KEY,
                position bigint NOT NULL
            )
            """,
            """
            CREATE TABLE {schema}.snapshots (
                stream_id text PRIMARY KEY,
                version bigint NOT NULL,
                state_type text NOT NULL,
                data bytea NOT NULL,
                saved_at timestamptz NOT NULL
            )
            """,
            appendFunction(schemaVersions: false),
        ],
        // 2: each event's schema version. PostgreSQL adds a column with a constant default without rewriting the
        // table, so every event stored before reads 1 at once; the append function takes the versions as one more
        // array (the old one is dropped first, as its argument list differs).
        [
            "ALTER TABLE {schema}.events ADD COLUMN schema_version integer NOT NULL DEFAULT 1",
            "DROP FUNCTION {schema}.append_batch(text[], bigint[], integer[], uuid[], text[], bytea[], bytea[])",
            appendFunction(schemaVersions: true),
        ],
        // 3: read models. Rows of every read model and generation in one table, keys and indexed values compared
        // as bytes; one state row per read model. The append function also says which appends it inserted (and
        // which only matched a retry), so that inline read models fold each event once.
        [
            """
            CREATE TABLE {schema}.read_models (
                name text PRIMARY KEY,
                state text NOT NULL,
                served_generation bigint,
                served_version integer,
                served_position bigint NOT NULL DEFAULT 0,
                building_generation bigint,
                building_version integer,
                building_position bigint NOT NULL DEFAULT 0,
                next_generation bigint NOT NULL DEFAULT 1,
                failure text
            )
            """,
            """
            CREATE TABLE {schema}.read_model_rows (
                model text NOT NULL,
                generation bigint NOT NULL,
                key text COLLATE "C" NOT NULL,
                index_value text COLLATE "C",
                position bigint NOT NULL,
                body bytea NOT NULL,
                PRIMARY KEY (model, generation, key)
            )
            """,
            "CREATE INDEX read_model_rows_by_index ON {schema}.read_model_rows (model, generation, index_value, key)",
            """
            DROP FUNCTION {schema}.append_batch(
                text[], bigint[], integer[], uuid[], text[], bytea[], bytea[], integer[])
            """,
            appendFunction(schemaVersions: true, reportsInserted: true),
        ],
        // 4: the same append function with a set-based path for the common batch (distinct streams, new event ids):
        // one statement per table instead of a subtransaction and three statements per append, so that the append
        // lock is held for less time. Same arguments, same results.
        [
            appendFunction(schemaVersions: true, reportsInserted: true, setBased: true),
        ],
        // 5: the append function called and committed in one exchange (see ``committedAppendProcedure``).
        [
            committedAppendProcedure,
        ],
        // 6: appends fenced by the tables the store opened (see ``fencedAppendFunction``), and their procedure.
        [
            fencedAppendFunction(readingTheCatalogAfresh: false),
            fencedCommittedAppendProcedure,
        ],
        // 7: the fence reads the catalog as it is once it holds the append lock (see ``fencedAppendFunction``).
        [
            fencedAppendFunction(readingTheCatalogAfresh: true),
        ],
    ]

    /// The SQLSTATE with which ``fencedAppendFunction`` refuses an append made for tables that are no longer the
    /// schema's.
    static let replacedTablesState = "WB001"

    /// A function that appends as `append_batch` does, only when the schema's `events` table is still the one whose
    /// object id the caller passes first (`p_tables`, read when the store opened): the store's appends go through it.
    ///
    /// A store says it runs on its schema with a lock on its listening connection, which keeps drops and replacing
    /// restores out; but while that connection is lost the store holds no lock, and its other connections go on
    /// appending. Tables dropped and made again meanwhile (a replacing restore, another store started on the emptied
    /// schema) are new objects under the old names: without this check the store would write into a log it never
    /// read. The function takes the append lock first, which a drop or a restore of the store's tables also takes
    /// before it drops anything (`PostgresEventStore.dropOwnObjects`) and holds until it commits: once the function
    /// has the lock, no drop is under way, and none starts before the append commits. Tables other than the
    /// caller's, or none, are then refused with ``replacedTablesState``, before anything is written.
    ///
    /// With `readingTheCatalogAfresh` (migration 7) it then locks `events` by name before it compares. A session
    /// reads the catalog's changes only at certain points (the start of its transaction, taking a table's lock), not
    /// after a wait for an advisory lock: the version of migration 6 could find, after waiting for a replacement to
    /// commit, the table it had last seen, the one the store opened, pass, and insert into the new one (the insert
    /// locks the table by name, and so reads the change). Taking `events`' lock by name reads the catalog as it is,
    /// and the lock keeps the table as it is until the append commits. A drop takes the append lock before the
    /// table's, as this function does, so the two cannot wait for each other.
    ///
    /// Called with nothing to append (a caller's batch that only records results decided on the store's tables), the
    /// version of migration 7 only checks the tables, under a share lock of `events`, without the append lock: it
    /// waits for no other append, only for a drop in progress.
    static func fencedAppendFunction(readingTheCatalogAfresh: Bool) -> String {
        let create = readingTheCatalogAfresh ? "CREATE OR REPLACE FUNCTION" : "CREATE FUNCTION"
        let lockByName =
            readingTheCatalogAfresh
            ? """

                IF to_regclass('{schema}.events') IS NOT NULL THEN
                    IF cardinality(p_stream_ids) = 0 THEN
                        LOCK TABLE {schema}.events IN ACCESS SHARE MODE;
                    ELSE
                        PERFORM pg_advisory_xact_lock(\(lockClass), hashtext('{name}'));
                        LOCK TABLE {schema}.events IN ROW EXCLUSIVE MODE;
                    END IF;
                END IF;
            """ : """

                PERFORM pg_advisory_xact_lock(\(lockClass), hashtext('{name}'));
            """
        let append =
            readingTheCatalogAfresh
            ? """
                IF cardinality(p_stream_ids) > 0 THEN
                    RETURN QUERY SELECT * FROM {schema}.append_batch(\(PostgresAppendCall.appendArguments));
                END IF;
            """ : """
                RETURN QUERY SELECT * FROM {schema}.append_batch(\(PostgresAppendCall.appendArguments));
            """
        return """
            \(create) {schema}.append_batch_fenced(p_tables oid, \(PostgresAppendCall.appendParameters))
            RETURNS \(PostgresAppendCall.returnType)
            LANGUAGE plpgsql
            AS $function$
            BEGIN\(lockByName)
                IF to_regclass('{schema}.events')::oid IS DISTINCT FROM p_tables THEN
                    RAISE EXCEPTION USING ERRCODE = '\(replacedTablesState)',
                        MESSAGE = 'the tables of schema {name} are no longer the ones this store opened (dropped, '
                            || 'renamed or replaced since); nothing was written';
                END IF;
            \(append)
            END
            $function$
            """
    }

    /// ``fencedAppendFunction`` called and committed in one exchange, as ``committedAppendProcedure`` does for
    /// `append_batch`.
    static let fencedCommittedAppendProcedure = PostgresAppendCall.committingProcedure(
        named: "{schema}.append_batch_fenced_committed", calling: "{schema}.append_batch_fenced",
        parameters: "p_tables oid", arguments: "p_tables")

    /// A procedure that runs the append function (``appendFunction(schemaVersions:reportsInserted:setBased:)``) on
    /// its arguments, commits, and answers with the function's rows as four arrays, one element per append
    /// (`PostgresAppendCall.committingProcedure(named:calling:parameters:arguments:fenced:)`, whose text for these
    /// arguments must not change: migration 5 is published). A group commit without inline read models calls it
    /// alone, outside a transaction block: one round trip where `BEGIN`, the function and `COMMIT` took three.
    static let committedAppendProcedure = PostgresAppendCall.committingProcedure(
        named: "{schema}.append_batch_committed", calling: "{schema}.append_batch", parameters: "", arguments: "")

    /// The schema version this code writes.
    static var currentVersion: Int32 { Int32(migrations.count) }

    /// Decides and writes every append of one group commit, in order, and returns one row per append.
    ///
    /// Status 0 is success (`stream_version` is the stream's new version and `first_position` the first event's
    /// position, or where the next event would go for an empty append or a retry of nothing new — see below), 1 a
    /// wrong expected version (`stream_version` is the actual version), 2 an event id stored at another place.
    /// Each append runs in a block with an exception handler, which PostgreSQL runs as a subtransaction: the
    /// savepoint of the group commit, so that one failing append is undone alone.
    ///
    /// Expected versions arrive as one bigint each: -1 any, -2 no stream, -3 stream exists, n >= 0 exactly n.
    ///
    /// Global order without gaps: the function first takes a transaction-level advisory lock of the store, which
    /// PostgreSQL releases only after the transaction's commit is visible to every new snapshot. It then reads the
    /// head and numbers the new events from it. So transactions that append to one store commit one after another,
    /// in position order, and a reader that sees position n + 1 also sees n: a later commit never fills a gap.
    /// A failed append does not advance the head, so the next append of the batch takes its positions.
    ///
    /// - Parameters:
    ///   - schemaVersions: whether the function takes each event's schema version (`p_schema_versions`) and
    ///     writes it to `events.schema_version`: false for migration 1, whose text must never change, true from 2 on.
    ///   - reportsInserted: whether each result row also has `inserted`, true when the append wrote its events
    ///     (false for a retry that matched events already stored): from 3 on.
    ///   - setBased: whether the function first tries ``setBasedAppend`` (from 4 on), replacing the function of 3.
    static func appendFunction(schemaVersions: Bool, reportsInserted: Bool = false, setBased: Bool = false) -> String {
        let create = setBased ? "CREATE OR REPLACE FUNCTION" : "CREATE FUNCTION"
        let setBasedDeclarations = setBased ? setBasedDeclarations : ""
        let setBasedPath = setBased ? setBasedAppend : ""
        let parameter = schemaVersions ? ", p_schema_versions integer[]" : ""
        let insertedColumn = reportsInserted ? ", inserted boolean" : ""
        let insertedValue = reportsInserted ? "\n            inserted := v_inserted;" : ""
        let column = schemaVersions ? ", schema_version" : ""
        let value = schemaVersions ? ", p_schema_versions[v_offset + n]" : ""
        return """
        \(create) {schema}.append_batch(
            p_stream_ids text[], p_expected bigint[], p_counts integer[],
            p_event_ids uuid[], p_event_types text[], p_data bytea[], p_metadata bytea[]\(parameter))
        RETURNS TABLE (status integer, stream_version bigint, first_position bigint\(insertedColumn))
        LANGUAGE plpgsql
        AS $function$
        DECLARE
            v_start bigint;
            v_head bigint;
            v_offset integer := 0;
            v_count integer;
            v_expected bigint;
            v_key bigint;
            v_current bigint;
            v_stored_key bigint;
            v_stored_version bigint;
            v_from bigint;
            v_matched integer;
            v_first bigint;
            v_ok boolean;
            v_inserted boolean;
            v_action text;
            v_constraint text;
            v_row record;
            v_now timestamptz := now();\(setBasedDeclarations)
        BEGIN
            -- Held until the transaction commits: appends to this store are numbered and committed one at a time.
            PERFORM pg_advisory_xact_lock(\(lockClass), hashtext('{name}'));
            SELECT coalesce(max(e.position), 0) INTO v_head FROM {schema}.events e;
            v_start := v_head;\(setBasedPath)
            FOR i IN 1 .. coalesce(array_length(p_stream_ids, 1), 0) LOOP
                v_count := p_counts[i];
                v_expected := p_expected[i];
                v_inserted := false;
                v_current := 0;
                status := 0;
                stream_version := 0;
                first_position := 0;
                BEGIN
                    SELECT s.stream_key, s.version INTO v_key, v_current
                    FROM {schema}.streams s WHERE s.stream_id = p_stream_ids[i];
                    IF NOT FOUND THEN
                        v_key := NULL;
                        v_current := 0;
                    END IF;
                    IF v_expected = -1 OR v_expected = -3 THEN
                        IF v_expected = -3 AND v_current = 0 THEN
                            v_action := 'conflict';
                        ELSIF v_count = 0 THEN
                            v_action := 'empty';
                        ELSE
                            v_stored_key := NULL;
                            IF v_key IS NOT NULL THEN
                                SELECT e.stream_key, e.version INTO v_stored_key, v_stored_version
                                FROM {schema}.events e WHERE e.event_id = p_event_ids[v_offset + 1];
                            END IF;
                            IF v_stored_key IS NULL THEN
                                v_action := 'insert';
                            ELSIF v_stored_key <> v_key THEN
                                v_action := 'duplicate';
                            ELSE
                                v_action := 'match';
                                v_from := v_stored_version;
                            END IF;
                        END IF;
                    ELSE
                        v_expected := greatest(v_expected, 0);
                        IF v_current = v_expected THEN
                            v_action := CASE WHEN v_count = 0 THEN 'empty' ELSE 'insert' END;
                        ELSIF v_current > v_expected AND v_count > 0 AND v_key IS NOT NULL THEN
                            v_action := 'match';
                            v_from := v_expected + 1;
                        ELSE
                            v_action := 'conflict';
                        END IF;
                    END IF;

                    IF v_action = 'match' THEN
                        -- A retry: the events must be stored from v_from on, in order, contiguous in the log.
                        v_matched := 0;
                        v_first := 0;
                        v_ok := true;
                        FOR v_row IN
                            SELECT e.version, e.position, e.event_id FROM {schema}.events e
                            WHERE e.stream_key = v_key AND e.version >= v_from ORDER BY e.version LIMIT v_count
                        LOOP
                            IF v_row.version <> v_from + v_matched
                                OR v_row.event_id <> p_event_ids[v_offset + v_matched + 1]
                                OR (v_matched > 0 AND v_row.position <> v_first + v_matched)
                            THEN
                                v_ok := false;
                                EXIT;
                            END IF;
                            IF v_matched = 0 THEN
                                v_first := v_row.position;
                            END IF;
                            v_matched := v_matched + 1;
                        END LOOP;
                        IF v_ok AND v_matched = v_count THEN
                            stream_version := v_from + v_count - 1;
                            first_position := v_first;
                        ELSE
                            v_action := 'conflict';
                        END IF;
                    ELSIF v_action = 'empty' THEN
                        stream_version := v_current;
                        first_position := v_head + 1;
                    ELSIF v_action = 'insert' THEN
                        IF v_key IS NULL THEN
                            INSERT INTO {schema}.streams (stream_id, version) VALUES (p_stream_ids[i], v_count)
                            RETURNING stream_key INTO v_key;
                        ELSE
                            UPDATE {schema}.streams SET version = v_current + v_count WHERE stream_key = v_key;
                        END IF;
                        INSERT INTO {schema}.events
                            (position, stream_key, version, event_id, event_type, data, metadata, recorded_at\(column))
                        SELECT v_head + n, v_key, v_current + n, p_event_ids[v_offset + n],
                            p_event_types[v_offset + n], p_data[v_offset + n], p_metadata[v_offset + n], v_now\(value)
                        FROM generate_series(1, v_count) AS n;
                        stream_version := v_current + v_count;
                        first_position := v_head + 1;
                        -- Last in the block: an error above leaves it false, and the head where it was.
                        v_inserted := true;
                    END IF;
                    IF v_action = 'conflict' THEN
                        status := 1;
                        stream_version := v_current;
                    ELSIF v_action = 'duplicate' THEN
                        status := 2;
                        stream_version := v_current;
                    END IF;
                EXCEPTION WHEN unique_violation THEN
                    GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                    IF v_constraint <> 'events_by_id' THEN
                        RAISE;
                    END IF;
                    status := 2;
                    stream_version := v_current;
                    first_position := 0;
                END;
                IF v_inserted THEN
                    v_head := v_head + v_count;
                END IF;
                v_offset := v_offset + v_count;\(insertedValue)
                RETURN NEXT;
            END LOOP;
            IF v_head > v_start THEN
                PERFORM pg_notify('{channel}', v_head::text);
            END IF;
        END
        $function$
        """
    }

    /// The variables of ``setBasedAppend``.
    static let setBasedDeclarations = """

            v_n integer := coalesce(array_length(p_stream_ids, 1), 0);
            v_keys bigint[];
            v_versions bigint[];
            v_statuses integer[] := '{}';
            v_stream_versions bigint[] := '{}';
            v_first_positions bigint[] := '{}';
            v_inserts boolean[] := '{}';
            v_new_ids text[] := '{}';
            v_new_versions bigint[] := '{}';
            v_old_keys bigint[] := '{}';
            v_old_versions bigint[] := '{}';
            v_event_indexes integer[] := '{}';
            v_event_appends integer[] := '{}';
            v_event_positions bigint[] := '{}';
            v_event_versions bigint[] := '{}';
            v_set_based boolean := true;
    """

    /// The common batch in one statement per table: when its streams are distinct and none of its appends can be a
    /// retry of events already stored (an exact expected version below the stream's), each append is decided from
    /// its stream's version alone, as the loop after it would decide it, and the batch is written in one
    /// subtransaction. When an event id of the batch is stored already (a retry with another expected version, or
    /// a duplicate) that subtransaction fails on the unique index and is undone. In those cases the function goes
    /// on to the loop, which decides and writes one append at a time.
    static let setBasedAppend = """

            IF v_n > 0 AND (SELECT count(DISTINCT a) FROM unnest(p_stream_ids) AS a) = v_n THEN
                SELECT array_agg(coalesce(s.stream_key, 0) ORDER BY a.i), array_agg(coalesce(s.version, 0) ORDER BY a.i)
                INTO v_keys, v_versions
                FROM unnest(p_stream_ids) WITH ORDINALITY AS a(id, i)
                LEFT JOIN {schema}.streams s ON s.stream_id = a.id;
                FOR i IN 1 .. v_n LOOP
                    v_count := p_counts[i];
                    v_expected := p_expected[i];
                    v_current := v_versions[i];
                    IF v_expected = -1 OR v_expected = -3 THEN
                        v_action := CASE WHEN v_expected = -3 AND v_current = 0 THEN 'conflict'
                            WHEN v_count = 0 THEN 'empty' ELSE 'insert' END;
                    ELSIF v_current = greatest(v_expected, 0) THEN
                        v_action := CASE WHEN v_count = 0 THEN 'empty' ELSE 'insert' END;
                    ELSIF v_current > v_expected AND v_count > 0 AND v_keys[i] <> 0 THEN
                        -- Perhaps a retry of events already stored: the loop matches them.
                        v_set_based := false;
                        EXIT;
                    ELSE
                        v_action := 'conflict';
                    END IF;
                    IF v_action = 'insert' THEN
                        IF v_keys[i] = 0 THEN
                            v_new_ids := v_new_ids || p_stream_ids[i];
                            v_new_versions := v_new_versions || (v_current + v_count);
                        ELSE
                            v_old_keys := v_old_keys || v_keys[i];
                            v_old_versions := v_old_versions || (v_current + v_count);
                        END IF;
                        FOR n IN 1 .. v_count LOOP
                            v_event_indexes := v_event_indexes || (v_offset + n);
                            v_event_appends := v_event_appends || i;
                            v_event_positions := v_event_positions || (v_head + n);
                            v_event_versions := v_event_versions || (v_current + n);
                        END LOOP;
                        v_statuses := v_statuses || 0;
                        v_stream_versions := v_stream_versions || (v_current + v_count);
                        v_first_positions := v_first_positions || (v_head + 1);
                        v_inserts := v_inserts || true;
                        v_head := v_head + v_count;
                    ELSIF v_action = 'empty' THEN
                        v_statuses := v_statuses || 0;
                        v_stream_versions := v_stream_versions || v_current;
                        v_first_positions := v_first_positions || (v_head + 1);
                        v_inserts := v_inserts || false;
                    ELSE
                        v_statuses := v_statuses || 1;
                        v_stream_versions := v_stream_versions || v_current;
                        v_first_positions := v_first_positions || 0::bigint;
                        v_inserts := v_inserts || false;
                    END IF;
                    v_offset := v_offset + v_count;
                END LOOP;
                IF v_set_based THEN
                    -- One subtransaction for the batch: an event id stored before (a retry, or a duplicate) undoes
                    -- these writes and leaves the batch to the loop.
                    BEGIN
                        IF cardinality(v_new_ids) > 0 THEN
                            INSERT INTO {schema}.streams (stream_id, version)
                            SELECT u.id, u.version FROM unnest(v_new_ids, v_new_versions) AS u(id, version);
                            SELECT array_agg(coalesce(s.stream_key, 0) ORDER BY a.i) INTO v_keys
                            FROM unnest(p_stream_ids) WITH ORDINALITY AS a(id, i)
                            LEFT JOIN {schema}.streams s ON s.stream_id = a.id;
                        END IF;
                        UPDATE {schema}.streams s SET version = u.version
                        FROM unnest(v_old_keys, v_old_versions) AS u(key, version)
                        WHERE s.stream_key = u.key;
                        INSERT INTO {schema}.events
                            (position, stream_key, version, event_id, event_type, data, metadata, recorded_at,
                             schema_version)
                        SELECT u.position, v_keys[u.append], u.version, e.id, e.type, e.data, e.metadata, v_now,
                            e.schema_version
                        FROM unnest(v_event_indexes, v_event_appends, v_event_positions, v_event_versions)
                            AS u(n, append, position, version)
                        JOIN unnest(p_event_ids, p_event_types, p_data, p_metadata, p_schema_versions)
                            WITH ORDINALITY AS e(id, type, data, metadata, schema_version, n) ON e.n = u.n;
                    EXCEPTION WHEN unique_violation THEN
                        v_set_based := false;
                    END;
                END IF;
                IF v_set_based THEN
                    RETURN QUERY SELECT * FROM unnest(v_statuses, v_stream_versions, v_first_positions, v_inserts);
                    IF v_head > v_start THEN
                        PERFORM pg_notify('{channel}', v_head::text);
                    END IF;
                    RETURN;
                END IF;
                v_head := v_start;
                v_offset := 0;
            END IF;
    """
}
