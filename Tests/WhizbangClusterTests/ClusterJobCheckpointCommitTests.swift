import Foundation
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// A job's checkpoint counts as moved only once its transaction has committed: an update run as a statement on its
/// own commits after PostgresNIO has reported it, so a commit that then failed (a deferred constraint, a server
/// stopped at that moment) would have told the runner its checkpoint moved when it had not. A deferred constraint
/// trigger here makes the commit of one checkpoint fail every time.
@Suite("Cluster job checkpoints whose commit fails", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterJobCheckpointCommitTests {
    @Test("a checkpoint move whose commit fails throws, and the stored checkpoint stays where it was")
    func aMoveWhoseCommitFailsThrows() async throws {
        try await ClusterTestDatabase.withStore { store in
            let job = TypedTally()
            let runner = try await ClusterJobEventTypesTests().claimedRunner(job, store)
            let jobs = "\"\(store.configuration.schema)_cluster\".jobs"
            _ = try await ClusterTestDatabase.query(
                """
                CREATE FUNCTION "\(store.configuration.schema)_cluster".refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.checkpoint = 5 THEN RAISE EXCEPTION 'refused at commit'; END IF;
                    RETURN NULL;
                END $$
                """, configuration: store.configuration)
            _ = try await ClusterTestDatabase.query(
                """
                CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER UPDATE ON \(jobs) DEFERRABLE INITIALLY DEFERRED
                    FOR EACH ROW EXECUTE FUNCTION "\(store.configuration.schema)_cluster".refuse()
                """, configuration: store.configuration)

            await #expect(throws: (any Error).self) { _ = try await runner.commitCheckpoint(epoch: 1, from: 0, to: 5) }
            #expect(try await ClusterTestDatabase.jobCheckpoint(job.name, store: store) == "0")
            // The runner goes on from the checkpoint that is stored.
            #expect(try await runner.commitCheckpoint(epoch: 1, from: 0, to: 6))
            #expect(try await ClusterTestDatabase.jobCheckpoint(job.name, store: store) == "6")
        }
    }

    /// Before, a move whose commit landed but whose answer was lost made the runner's next move (from the checkpoint
    /// it last knew) a fence rejection: a false warning, a `fenced` row in the job log, and the job dropped until the
    /// next heartbeat.
    @Test("a move from behind a checkpoint that this owner already moved is no fence rejection, and never goes back")
    func aMoveFromBehindTheStoredCheckpointIsNoRejection() async throws {
        try await ClusterTestDatabase.withStore { store in
            let job = TypedTally()
            let runner = try await ClusterJobEventTypesTests().claimedRunner(job, store)
            #expect(try await runner.commitCheckpoint(epoch: 1, from: 0, to: 5))
            // The runner did not learn of that move, and moves again from 0.
            #expect(try await runner.commitCheckpoint(epoch: 1, from: 0, to: 7))
            #expect(try await ClusterTestDatabase.jobCheckpoint(job.name, store: store) == "7")
            #expect(try await runner.commitCheckpoint(epoch: 1, from: 0, to: 3))
            #expect(try await ClusterTestDatabase.jobCheckpoint(job.name, store: store) == "7")
            // Another epoch is still refused.
            #expect(try await !runner.commitCheckpoint(epoch: 2, from: 7, to: 9))
        }
    }
}
