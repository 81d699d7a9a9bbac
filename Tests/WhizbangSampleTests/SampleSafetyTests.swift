import Foundation
import ProcessTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension SampleProcessSuites {
    /// The sample never destroys what is not its own, and its import and export are all or nothing: each refusal leaves
    /// the user's files byte for byte as they were.
    @Suite("WhizbangSample keeps the user's data safe, run as a process", .serialized)
    struct SampleSafetyTests {
        /// Makes a small ledger at `path` with the sample.
        enum Found: String, CaseIterable, CustomStringConvertible {
            case nonEmptyDirectory, textFile, otherApplicationsDatabase, storeTheSampleDidNotCreate, readOnlyLedger
            case symbolicLinkToALedger
            var description: String { rawValue }
        }

        @Test("run refuses what it did not create, changes nothing, and exits 2", arguments: Found.allCases)
        func runRefuses(found: Found) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let target = directory.appendingPathComponent("target")
                switch found {
                case .nonEmptyDirectory:
                    try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
                    try Data("precious\n".utf8).write(to: target.appendingPathComponent("notes.txt"))
                case .textFile:
                    try Data("a shopping list\n".utf8).write(to: target)
                case .otherApplicationsDatabase:
                    let made = try await SampleProcess.tool(
                        "sqlite3", [target.path, "PRAGMA application_id = 42; CREATE TABLE t (x); INSERT INTO t VALUES (1);"])
                    try #require(made.status == 0, "\(made.standardError)")
                case .storeTheSampleDidNotCreate:
                    try await SampleProcess.makeLedger(target.path)
                    let unmarked = try await SampleProcess.tool(
                        "sqlite3", [target.path, "DELETE FROM checkpoints WHERE consumer = 'whizbang-sample.ledger';"])
                    try #require(unmarked.status == 0, "\(unmarked.standardError)")
                case .readOnlyLedger:
                    try await SampleProcess.makeLedger(target.path)
                    try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: target.path)
                case .symbolicLinkToALedger:
                    // Removing the link would leave the ledger it names; replacing what it names is not asked for.
                    let ledger = directory.appendingPathComponent("ledger.sqlite")
                    try await SampleProcess.makeLedger(ledger.path)
                    try FileManager.default.createSymbolicLink(at: target, withDestinationURL: ledger)
                }
                let before = try ImportFixture.snapshot(directory)
                let output = try await SampleProcess.run([
                    "run", "--database", target.path, "--accounts", "10", "--commands", "10", "--quiet",
                ])
                #expect(output.status == 2, "\(output.standardOutput)\(output.standardError)")
                #expect(output.standardError.hasPrefix("error: \(target.path) "), "\(output.standardError)")
                #expect(output.standardError.contains("--database"), "\(output.standardError)")
                #expect(output.standardError.split(separator: "\n").count == 1, "\(output.standardError)")
                #expect(try ImportFixture.snapshot(directory) == before)
            }
        }

        @Test("run refuses a store it did not create without checkpointing its WAL into it")
        func runRefusesAStoreWithAWALUnchanged() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let store = directory.appendingPathComponent("store.sqlite").path
                try await SampleProcess.makeLedger(store)
                // Someone's program takes the sample's mark away and dies before its WAL is checkpointed.
                let changed = try await Python.run(
                    "import sqlite3, sys, os\n"
                        + "c = sqlite3.connect(sys.argv[1])\n"
                        + "c.execute(\"DELETE FROM checkpoints WHERE consumer = 'whizbang-sample.ledger'\")\n"
                        + "c.commit()\n"
                        + "os._exit(0)\n",
                    [store])
                try #require(changed.status == 0, "\(changed.standardError)")
                let file = try Data(contentsOf: URL(fileURLWithPath: store))
                let wal = try Data(contentsOf: URL(fileURLWithPath: store + "-wal"))
                try #require(!wal.isEmpty)
                let refused = try await SampleProcess.run([
                    "run", "--database", store, "--accounts", "10", "--commands", "10", "--quiet",
                ])
                #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: store)) == file)
                #expect(try Data(contentsOf: URL(fileURLWithPath: store + "-wal")) == wal)
            }
        }

        @Test("run refuses to start over on a ledger that another process has open, and loses none of it")
        func runRefusesALedgerInUse() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 300)
                let before = try await SampleProcess.run(["inspect", "--database", ledger])
                try #require(before.status == 0, "\(before.standardError)")
                // Another process reads the ledger and keeps its connection open, as a second run or `serve` does.
                let holder = try await Python.start(
                    "import sqlite3, sys\n"
                        + "c = sqlite3.connect(sys.argv[1])\n"
                        + "c.execute('SELECT count(*) FROM events').fetchall()\n"
                        + "print('open', flush=True)\n" + Python.untilTerminated,
                    [ledger])
                #expect(await holder.nextOutputLine() == "open")
                let refused = try await SampleProcess.run([
                    "run", "--database", ledger, "--accounts", "10", "--commands", "10", "--quiet",
                ])
                holder.signal(SIGTERM)
                _ = try await holder.exitStatus()
                #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                // Said in the run's words: which ledger, why (another connection has it open), and that the ledger
                // is as it was. Before, the store's reason alone spoke of "the restore", which the user never asked
                // for.
                #expect(
                    refused.standardError.hasPrefix("error: cannot start a new ledger at \(ledger) (run puts it"),
                    "\(refused.standardError)")
                #expect(refused.standardError.contains("another connection has open"), "\(refused.standardError)")
                #expect(refused.standardError.contains("is as it was"), "\(refused.standardError)")
                #expect(refused.standardError.split(separator: "\n").count == 1, "\(refused.standardError)")
                let after = try await SampleProcess.run(["inspect", "--database", ledger])
                #expect(after.standardOutput == before.standardOutput)
            }
        }

        /// A fresh run replaces the old ledger by renaming a new one over it, and then locks the new file, which the
        /// old file's lock did not cover: another run that takes the new ledger in between (two fresh runs at once)
        /// made this one say both that it "changed nothing" and that the old ledger "had been replaced". strace holds
        /// the run before it locks the new file while another process takes that lock, as that other run does.
        @Test(
            "a fresh run whose new ledger another run takes before it locks it says what it changed, and only that",
            .enabled(
                if: ProcessInfo.processInfo.environment["CI"] == "true"
                    || FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"),
                "needs strace"))
        func freshRunLosingItsNewLedger() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 100)
                var old = stat()
                try #require(stat(ledger, &old) == 0)
                // Takes the lock of the file renamed over the ledger as soon as the store's restore has let it go
                // (it holds it until its own connections are closed), and says which file. The kernel wakes it at each
                // name made or moved into the ledger's directory (inotify), and its blocking `flock` when the lock is
                // free; within 60 s in all.
                let other = try await Python.start(
                    """
                    import ctypes, fcntl, os, select, signal, sys, time
                    path = sys.argv[1]
                    libc = ctypes.CDLL(None, use_errno=True)
                    watcher = libc.inotify_init1(os.O_CLOEXEC)
                    IN_MOVED_TO, IN_CREATE = 0x80, 0x100
                    if watcher < 0 or libc.inotify_add_watch(
                            watcher, os.path.dirname(path).encode(), IN_MOVED_TO | IN_CREATE) < 0:
                        raise OSError(ctypes.get_errno(), 'inotify')
                    old = os.stat(path).st_ino
                    print('ready', flush=True)
                    deadline = time.monotonic() + 60
                    while os.stat(path).st_ino == old:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or not select.select([watcher], [], [], remaining)[0]:
                            sys.exit('the ledger was not replaced within 60 s')
                        os.read(watcher, 4096)
                    f = open(path, 'rb')
                    signal.signal(signal.SIGALRM, lambda *_: sys.exit('the new ledger stayed locked past 60 s'))
                    signal.alarm(max(1, int(deadline - time.monotonic()) + 1))
                    fcntl.flock(f, fcntl.LOCK_EX)
                    signal.alarm(0)
                    print(os.fstat(f.fileno()).st_ino, flush=True)

                    """ + Python.untilTerminated,
                    [ledger])
                #expect(await other.nextOutputLine() == "ready")
                // The run locks the ledger's file twice, the old one before it replaces it, then the new one; it is
                // held for 1.5 s before each. (strace counts calls per thread, and the two are made by any.)
                let run = try await SampleProcess.run(
                    URL(fileURLWithPath: "/usr/bin/strace"),
                    [
                        "-f", "-qq", "-o", "/dev/null", "-P", ledger, "-e", "trace=flock",
                        "-e", "inject=flock:delay_enter=1500000",
                        try SampleProcess.executable.path, "run", "--database", ledger, "--accounts", "10",
                        "--commands", "10", "--quiet",
                    ])
                let locked = await other.nextOutputLine()
                other.signal(SIGTERM)
                _ = try await other.exitStatus()
                var now = stat()
                try #require(stat(ledger, &now) == 0)
                // As said: the old ledger was replaced, and the other process holds the new one.
                #expect(now.st_ino != old.st_ino)
                #expect(locked == "\(now.st_ino)")
                #expect(run.status == 1, "\(run.standardOutput)\(run.standardError)")
                #expect(run.standardError.split(separator: "\n").count == 1, "\(run.standardError)")
                #expect(run.standardError.contains("being written by another run"), "\(run.standardError)")
                #expect(run.standardError.contains("replaced the old ledger"), "\(run.standardError)")
                #expect(!run.standardError.contains("changed nothing"), "\(run.standardError)")
            }
        }

        /// SQLite's read-only connections make a WAL and a shared-memory file beside a database that has none, and
        /// do not remove them on closing: once the user deleted the ledger, `run` and `import` refused its path
        /// because of the two empty files the read-only command had left.
        @Test(
            "a read-only command leaves no WAL or shared-memory file: its path takes a new ledger once it is deleted",
            arguments: ["inspect", "verify", "replay", "export"])
        func readOnlyCommandLeavesNoCompanions(command: String) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let export = directory.appendingPathComponent("ledger.jsonl").path
                try await SampleProcess.makeLedger(ledger, commands: 100)
                try #require(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["ledger.sqlite"])
                let output = try await SampleProcess.run(
                    [command, "--database", ledger] + (command == "export" ? ["--output", export] : []))
                try #require(output.status == 0, "\(output.standardOutput)\(output.standardError)")
                let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
                #expect(files == (command == "export" ? ["ledger.jsonl", "ledger.sqlite"] : ["ledger.sqlite"]))
                try FileManager.default.removeItem(atPath: ledger)
                // An export goes back in by import; after the others, a run makes a new ledger.
                let again = try await SampleProcess.run(
                    command == "export"
                        ? ["import", "--input", export, "--database", ledger]
                        : ["run", "--database", ledger, "--accounts", "10", "--commands", "10", "--quiet"])
                #expect(again.status == 0, "\(again.standardOutput)\(again.standardError)")
            }
        }

        @Test("run and import refuse a deleted ledger's WAL that holds commits, naming it, and leave it as it was")
        func leftoverWALWithCommitsIsRefused() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let export = directory.appendingPathComponent("ledger.jsonl").path
                try await SampleProcess.makeLedger(ledger, commands: 100)
                let exported = try await SampleProcess.run(["export", "--database", ledger, "--output", export])
                try #require(exported.status == 0, "\(exported.standardError)")
                // A program commits to the ledger and dies before its WAL is checkpointed; then the ledger is deleted.
                let changed = try await Python.run(
                    "import sqlite3, sys, os\n"
                        + "c = sqlite3.connect(sys.argv[1])\n"
                        + "c.execute('PRAGMA wal_autocheckpoint=0')\n"
                        + "c.execute(\"INSERT INTO checkpoints VALUES ('someone', 1)\")\n"
                        + "c.commit()\n"
                        + "os._exit(0)\n",
                    [ledger])
                try #require(changed.status == 0, "\(changed.standardError)")
                try FileManager.default.removeItem(atPath: ledger)
                let wal = try Data(contentsOf: URL(fileURLWithPath: ledger + "-wal"))
                try #require(!wal.isEmpty)
                let before = try ImportFixture.snapshot(directory)
                for arguments in [
                    ["run", "--database", ledger, "--accounts", "10", "--commands", "10", "--quiet"],
                    ["import", "--input", export, "--database", ledger],
                ] {
                    let refused = try await SampleProcess.run(arguments)
                    #expect(refused.status == 2, "\(arguments[0]): \(refused.standardOutput)\(refused.standardError)")
                    #expect(refused.standardError.contains("\(ledger)-wal exists"), "\(refused.standardError)")
                    #expect(try ImportFixture.snapshot(directory) == before, "\(arguments[0]) changed files")
                }
            }
        }

        @Test("run refuses an --ack-log it could not append to, or that is not one, before it touches the ledger")
        func runRefusesABadAckLogFirst() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 300)
                let notes = directory.appendingPathComponent("notes.txt")
                try Data("my notes\n".utf8).write(to: notes)
                let folder = directory.appendingPathComponent("folder")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
                let before = try ImportFixture.snapshot(directory)
                for ackLog in [notes.path, folder.path] {
                    let output = try await SampleProcess.run([
                        "run", "--database", ledger, "--accounts", "10", "--commands", "10", "--quiet",
                        "--ack-log", ackLog,
                    ])
                    #expect(output.status == 2, "\(ackLog): \(output.standardOutput)\(output.standardError)")
                    #expect(output.standardError.contains(ackLog), "\(output.standardError)")
                    #expect(try ImportFixture.snapshot(directory) == before, "\(ackLog)")
                }
            }
        }

        /// The check of a new ack log looked only at whether the text before the last `/` was writable, so a path that
        /// could never be opened passed it: a trailing slash (`acks/`), or a name under a regular file
        /// (`notes.txt/acks.log`). The run then replaced the ledger (or, with `--keep`, opened it for writing) and
        /// only then failed to open the ack log.
        @Test(
            "run refuses an --ack-log path that cannot be opened before it touches the ledger, with or without --keep",
            arguments: [false, true])
        func runRefusesAnAckLogItCannotOpenFirst(keep: Bool) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 300)
                let notes = directory.appendingPathComponent("notes.txt")
                try Data("my notes\n".utf8).write(to: notes)
                let before = try ImportFixture.snapshot(directory)
                for ackLog in [directory.appendingPathComponent("acks").path + "/", notes.path + "/acks.log"] {
                    let output = try await SampleProcess.run(
                        [
                            "run", "--database", ledger, "--accounts", "10", "--commands", "10", "--quiet",
                            "--ack-log", ackLog,
                        ] + (keep ? ["--keep"] : []))
                    #expect(output.status == 2, "\(ackLog): \(output.standardOutput)\(output.standardError)")
                    #expect(output.standardError.contains(ackLog), "\(output.standardError)")
                    #expect(output.standardError.split(separator: "\n").count == 1, "\(output.standardError)")
                    #expect(try ImportFixture.snapshot(directory) == before, "\(ackLog)")
                }
            }
        }

        /// A fresh run replaced the ledger file whole, so a table, view, trigger or index a user had added to it went
        /// with the old ledger, and the run exited 0.
        @Test("a fresh run refuses a ledger holding what the sample did not make, names it, and changes nothing")
        func aFreshRunRefusesALedgerHoldingAUsersTable() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 300)
                let added = try await SampleProcess.tool(
                    "sqlite3", [ledger, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');"])
                try #require(added.status == 0, "\(added.standardError)")
                let before = try ImportFixture.snapshot(directory)
                let output = try await SampleProcess.run([
                    "run", "--database", ledger, "--accounts", "10", "--commands", "10", "--quiet",
                ])
                #expect(output.status == 2, "\(output.standardOutput)\(output.standardError)")
                #expect(output.standardError.contains("(table notes)"), "\(output.standardError)")
                #expect(output.standardError.split(separator: "\n").count == 1, "\(output.standardError)")
                #expect(try ImportFixture.snapshot(directory) == before)
            }
        }

        /// A run removes the ledger a killed run or import left under a temporary name beside its own; one that a user
        /// had given a table went, table and all, and the run exited 0.
        @Test("run and import refuse to go on past a killed run's leftover holding a user's table, name it, and change nothing")
        func leftoverHoldingAUsersTableIsRefused() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 300)
                // What a killed run or import leaves: a ledger under the temporary name its mark names, beside the
                // ledger of a run and beside the database of an import.
                let imported = directory.appendingPathComponent("imported.sqlite").path
                var leftovers: [String] = []
                for name in [".ledger.sqlite.restoring-0123abcd", ".imported.sqlite.restoring-4567cdef"] {
                    let leftover = directory.appendingPathComponent(name).path
                    try FileManager.default.copyItem(atPath: ledger, toPath: leftover)
                    let added = try await SampleProcess.tool(
                        "sqlite3",
                        [
                            leftover,
                            "INSERT OR REPLACE INTO whizbang_store (key, value) VALUES ('restored_as', '\(name)'); "
                                + "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');",
                        ])
                    try #require(added.status == 0, "\(added.standardError)")
                    leftovers.append(leftover)
                }
                let input = directory.appendingPathComponent("log.jsonl")
                try ImportFixture.write(ImportFixture.good(streams: 2, perStream: 3), to: input)
                let before = try ImportFixture.snapshot(directory)
                for (arguments, leftover) in zip(
                    [
                        ["run", "--database", ledger, "--accounts", "10", "--commands", "10", "--quiet"],
                        ["import", "--input", input.path, "--database", imported],
                    ], leftovers)
                {
                    let output = try await SampleProcess.run(arguments)
                    #expect(output.status == 2, "\(arguments[0]): \(output.standardOutput)\(output.standardError)")
                    #expect(output.standardError.contains(leftover), "\(arguments[0]): \(output.standardError)")
                    #expect(output.standardError.contains("(table notes)"), "\(arguments[0]): \(output.standardError)")
                    #expect(output.standardError.split(separator: "\n").count == 1, "\(output.standardError)")
                    #expect(try ImportFixture.snapshot(directory) == before, "\(arguments[0])")
                }
            }
        }

        /// The read model a run keeps (`--read-model`) is in the store's own tables: a later fresh run replaces that
        /// ledger as any other.
        @Test("a fresh run replaces a ledger that kept the sample's read model")
        func aFreshRunReplacesALedgerWithItsReadModel() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                for readModel in [["--read-model", "balances"], ["--read-model", "balances"], []] {
                    let output = try await SampleProcess.run(
                        ["run", "--database", ledger, "--accounts", "10", "--commands", "50", "--quiet", "--json"]
                            + readModel)
                    #expect(output.status == 0, "\(readModel): \(output.standardOutput)\(output.standardError)")
                    // Started over each time: the ledger holds this run's events only (10 openings, 50 commands).
                    #expect(try output.json["events"] as? Int == 60, "\(output.standardOutput)")
                }
            }
        }

        /// A new ack log is made before the database is opened, so that a path that cannot be opened is refused
        /// first; a run then refused by its database (here a text file where the ledger would go) removes the empty
        /// ack log it made, and leaves a file that was there before.
        @Test("a run refused by its database removes the new ack log it made, and keeps one that was there")
        func aRefusedRunRemovesOnlyTheAckLogItMade() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let target = directory.appendingPathComponent("target").path
                try Data("a shopping list\n".utf8).write(to: URL(fileURLWithPath: target))
                let empty = directory.appendingPathComponent("empty.acks").path
                try Data().write(to: URL(fileURLWithPath: empty))
                let before = try ImportFixture.snapshot(directory)
                for ackLog in [directory.appendingPathComponent("new.acks").path, empty] {
                    let output = try await SampleProcess.run([
                        "run", "--database", target, "--accounts", "10", "--commands", "10", "--quiet",
                        "--ack-log", ackLog,
                    ])
                    #expect(output.status == 2, "\(ackLog): \(output.standardOutput)\(output.standardError)")
                    #expect(output.standardError.contains("--database"), "\(output.standardError)")
                    #expect(try ImportFixture.snapshot(directory) == before, "\(ackLog)")
                }
            }
        }

        /// The ack log is checked first and opened later (with `--keep`, once the kept ledger's room is checked): the
        /// open followed symbolic links and created what was missing, so a link made in the path meanwhile had the
        /// run append its acknowledgements to another file. The run is stopped (`SIGSTOP`) once it reads the ledger,
        /// past the check, while the link is made.
        @Test(
            "an ack log path that becomes a symbolic link after the check is refused, and the other file is unchanged",
            .enabled(if: FileManager.default.fileExists(atPath: "/proc/self/fd"), "needs /proc")
        )
        func anAckLogReplacedAfterTheCheckIsRefused() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 20_000)
                let ackLog = directory.appendingPathComponent("acks.log").path
                let victim = directory.appendingPathComponent("victim.txt").path
                try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
                let run = try await SampleProcess.child([
                    "run", "--database", ledger, "--keep", "--accounts", "20", "--commands", "20", "--quiet",
                    "--ack-log", ackLog,
                ])
                // The ledger's shared-memory file is opened after the ack log's check, when the ledger is read to
                // check its room, which the ack log's open follows. (The file itself is opened before the check, to
                // be inspected, without it.)
                let descriptors = "/proc/\(run.processIdentifier)/fd"
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline {
                    let open = (try? FileManager.default.contentsOfDirectory(atPath: descriptors)) ?? []
                    let targets = open.compactMap {
                        try? FileManager.default.destinationOfSymbolicLink(atPath: descriptors + "/" + $0)
                    }
                    if targets.contains(where: { $0.hasSuffix("/ledger.sqlite-shm") }) { break }
                    await Task.yield()
                }
                run.signal(SIGSTOP)
                try FileManager.default.createSymbolicLink(atPath: ackLog, withDestinationPath: victim)
                run.signal(SIGCONT)
                let status = try await run.exitStatus()
                let errors = await run.remainingErrorLines().joined(separator: "\n")
                #expect(status == 2, "status \(status): \(errors)")
                #expect(errors.contains("changed after the run checked it"), "\(errors)")
                #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
            }
        }

        /// A recording time that microseconds since 1970 cannot hold (changed by hand: SQLite's largest integer)
        /// trapped the conversion, and the export process died (exit 132) instead of saying which event.
        @Test("an export meets a recording time it cannot write: it fails naming the event, and writes nothing")
        func anExportOfAnUnwritableTimeFails() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 50)
                _ = try await SampleProcess.tool(
                    "sqlite3", [ledger, "UPDATE events SET recorded_at = 9223372036854775807 WHERE position = 3;"])
                let output = directory.appendingPathComponent("events.jsonl").path
                let exported = try await SampleProcess.run(["export", "--database", ledger, "--output", output])
                #expect(exported.status == 1, "status \(exported.status): \(exported.standardError)")
                #expect(exported.standardError.contains("position 3"), "\(exported.standardError)")
                #expect(!FileManager.default.fileExists(atPath: output))
            }
        }

        /// Read as a String, an ack log with CRLF line ends ("\r\n" is one character, which no "\n" matches) was one
        /// torn line, so `verify --ack-log` checked no acknowledgement at all and passed.
        @Test("verify reads an ack log with CRLF line ends, and fails on an acknowledgement the ledger lacks")
        func anAckLogWithCRLFIsChecked() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let ackLog = directory.appendingPathComponent("acks.log").path
                let made = try await SampleProcess.run([
                    "run", "--database", ledger, "--accounts", "10", "--commands", "20", "--quiet", "--ack-log", ackLog,
                ])
                try #require(made.status == 0, "\(made.standardError)")
                let lines = try String(contentsOfFile: ackLog, encoding: .utf8).split(separator: "\n")
                let crlf = directory.appendingPathComponent("crlf.log").path
                try Data(lines.map { $0 + "\r\n" }.joined().utf8).write(to: URL(fileURLWithPath: crlf))
                let verified = try await SampleProcess.run(["verify", "--database", ledger, "--ack-log", crlf])
                #expect(verified.status == 0, "\(verified.standardOutput)\(verified.standardError)")
                // Every line but the first, which names the ledger.
                let acknowledged = lines.count - 1
                #expect(
                    verified.standardOutput.contains("\(acknowledged) acknowledged commands checked"),
                    "\(verified.standardOutput)")
                let unknown = "0190a0b4-1c2d-7e3f-8a4b-5c6d7e8f9a0b account-9\r\n"
                try Data(unknown.utf8).write(to: URL(fileURLWithPath: crlf))
                let refused = try await SampleProcess.run(["verify", "--database", ledger, "--ack-log", crlf])
                #expect(refused.status == 1, "\(refused.standardOutput)\(refused.standardError)")
            }
        }

        /// In a working directory that was removed, a relative `--output` was taken from the root directory: the
        /// whole export was written to a temporary file in `/` (another file system, perhaps) before its naming
        /// failed. Now nothing is made.
        @Test("an export to a relative path in a removed working directory fails before it writes")
        func anExportInARemovedWorkingDirectoryFailsFirst() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 50)
                let gone = directory.appendingPathComponent("gone").path
                let binary = try SampleProcess.executable.path
                let script =
                    "mkdir '\(gone)' && cd '\(gone)' && rmdir '\(gone)' && "
                    + "exec '\(binary)' export --database '\(ledger)' --output events.jsonl"
                let exported = try await SampleProcess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
                #expect(exported.status == 1, "status \(exported.status): \(exported.standardError)")
                #expect(exported.standardError.contains("cannot create a file beside"), "\(exported.standardError)")
            }
        }

        /// The ledger is readable by its owner only; its export, which holds every event and its metadata, was made
        /// readable by everyone (0644).
        @Test("an export and an ack log are made readable by their owner only, as the ledger is")
        func anExportIsAsPrivateAsTheLedger() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let ackLog = directory.appendingPathComponent("acks.log").path
                let made = try await SampleProcess.run([
                    "run", "--database", ledger, "--accounts", "10", "--commands", "50", "--quiet", "--ack-log", ackLog,
                ])
                try #require(made.status == 0, "\(made.standardError)")
                let output = directory.appendingPathComponent("events.jsonl").path
                let exported = try await SampleProcess.run(["export", "--database", ledger, "--output", output])
                try #require(exported.status == 0, "\(exported.standardError)")
                for path in [ledger, ackLog, output] {
                    let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
                    #expect(mode.map { $0 & 0o077 } == 0, "\(path): \(String(mode ?? 0, radix: 8))")
                }
            }
        }

        /// On a file system without hard links (vfat, exFAT: `link` fails with `EPERM`), an export failed ("cannot
        /// write ... Operation not permitted"), and a run with `--report` did its whole work, then lost its report.
        /// The store's restore already named its file there with a rename that never replaces one; now so do they.
        @Test(
            "an export and a report are saved where the file system has no hard links",
            .enabled(
                if: ProcessInfo.processInfo.environment["CI"] == "true"
                    || FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"),
                "needs strace"))
        func savedWithoutHardLinks() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let report = directory.appendingPathComponent("report.html").path
                let withoutLinks = [
                    "-f", "-qq", "-o", "/dev/null", "-e", "trace=link,linkat", "-e", "inject=link,linkat:error=EPERM",
                    try SampleProcess.executable.path,
                ]
                let strace = URL(fileURLWithPath: "/usr/bin/strace")
                let ran = try await SampleProcess.run(
                    strace,
                    withoutLinks + [
                        "run", "--database", ledger, "--accounts", "10", "--commands", "50", "--quiet", "--report",
                        report,
                    ])
                #expect(ran.status == 0, "\(ran.standardError)")
                #expect(try String(contentsOfFile: report, encoding: .utf8).contains("<html"))
                let linked = directory.appendingPathComponent("linked.jsonl").path
                let renamed = directory.appendingPathComponent("renamed.jsonl").path
                let exported = try await SampleProcess.run(["export", "--database", ledger, "--output", linked])
                try #require(exported.status == 0, "\(exported.standardError)")
                let again = try await SampleProcess.run(
                    strace, withoutLinks + ["export", "--database", ledger, "--output", renamed])
                #expect(again.status == 0, "\(again.standardError)")
                #expect(FileManager.default.contents(atPath: renamed) == FileManager.default.contents(atPath: linked))
                // Still never a replacement: the name taken, the export is refused and the file left as it was.
                let refused = try await SampleProcess.run(
                    strace, withoutLinks + ["export", "--database", ledger, "--output", report])
                #expect(refused.status == 2, "\(refused.standardError)")
                #expect(try String(contentsOfFile: report, encoding: .utf8).contains("<html"))
                let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                #expect(!names.contains { $0.hasSuffix(".partial") }, "\(names)")
            }
        }

        @Test("a fresh run refuses an ack log of an earlier run; with --keep it appends to it, and verify passes")
        func aFreshRunRefusesAnEarlierAckLog() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let ackLog = directory.appendingPathComponent("acks.log").path
                let arguments = [
                    "run", "--database", ledger, "--accounts", "10", "--commands", "50", "--quiet", "--ack-log", ackLog,
                ]
                let first = try await SampleProcess.run(arguments)
                try #require(first.status == 0, "\(first.standardError)")
                let before = try ImportFixture.snapshot(directory)
                // Before, the run started the ledger over and appended to the old log: verify then failed.
                let fresh = try await SampleProcess.run(arguments)
                #expect(fresh.status == 2, "\(fresh.standardOutput)\(fresh.standardError)")
                #expect(fresh.standardError.contains("--keep"), "\(fresh.standardError)")
                #expect(try ImportFixture.snapshot(directory) == before)
                let kept = try await SampleProcess.run(arguments + ["--keep"])
                #expect(kept.status == 0, "\(kept.standardError)")
                // --keep on a ledger that is not there makes a new one, which the old acknowledgements do not match.
                let elsewhere = directory.appendingPathComponent("elsewhere.sqlite").path
                let snapshot = try ImportFixture.snapshot(directory)
                let keptElsewhere = try await SampleProcess.run([
                    "run", "--database", elsewhere, "--accounts", "10", "--commands", "50", "--quiet", "--ack-log",
                    ackLog, "--keep",
                ])
                #expect(keptElsewhere.status == 2, "\(keptElsewhere.standardOutput)\(keptElsewhere.standardError)")
                #expect(try ImportFixture.snapshot(directory) == snapshot)
                let verify = try await SampleProcess.run(["verify", "--database", ledger, "--ack-log", ackLog])
                #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
            }
        }

        @Test(
            "run killed at each system call that writes while it creates or replaces the ledger leaves the old ledger or a new one",
            .enabled(
                if: ProcessInfo.processInfo.environment["CI"] == "true"
                    || FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"),
                "needs strace"))
        func runKilledWhileCreating() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let arguments = ["run", "--database", ledger, "--accounts", "5", "--commands", "20", "--quiet"]
                // strace kills the run at the n-th call of one system call (it counts each call apart): through the
                // creation's writes and syncs, at the link that names a new ledger and the unlinks around it, and
                // past; when it replaces a ledger, also at each call on the ledger's own files (`-P`): the checkpoint
                // of the old ledger's WAL, the removal of its WAL and shared-memory files, the rename.
                let anywhere =
                    (1...6).map { ("pwrite64", $0) } + (1...3).map { ("fdatasync", $0) } + (1...2).map { ("fsync", $0) }
                    + (1...6).map { ("unlink", $0) }
                let onTheLedger = (1...3).map { ("pwrite64", $0) } + (1...2).map { ("fdatasync", $0) }
                    + (1...2).map { ("unlink", $0) } + [("rename", 1)]
                for replacing in [false, true] {
                    let kills =
                        anywhere.map { ($0.0, $0.1, false) } + (replacing ? onTheLedger : [("link", 1)]).map { ($0.0, $0.1, true) }
                    for (call, n, onLedger) in kills {
                        let at = "\(replacing ? "replacing" : "creating"), killed at \(call) \(n)\(onLedger ? " on the ledger" : "")"
                        if !replacing {
                            for suffix in ["", "-wal", "-shm", "-journal"] {
                                try? FileManager.default.removeItem(atPath: ledger + suffix)
                            }
                        }
                        // (`-P` matches a rename by its first path only, the temporary file's: the run renames once.)
                        let paths =
                            onLedger && replacing && call != "rename"
                            ? ["-P", ledger, "-P", ledger + "-wal", "-P", ledger + "-shm"] : []
                        let killed = try await SampleProcess.run(
                            URL(fileURLWithPath: "/usr/bin/strace"),
                            ["-f", "-o", "/dev/null"] + paths + [
                                "-e", "trace=\(call)", "-e", "inject=\(call):signal=KILL:when=\(n)",
                                try SampleProcess.executable.path,
                            ] + arguments)
                        // Each kill aimed at the ledger's own files or at its naming must land.
                        if onLedger { #expect([9, 137].contains(killed.status), "\(at): \(killed.standardError)") }
                        if replacing {
                            // The path holds the old ledger or a new one, whole: never nothing, never a mix. Opening
                            // it read-only works as well (no hot journal was left beside it).
                            let verify = try await SampleProcess.run(["verify", "--database", ledger])
                            #expect(verify.status == 0, "\(at) (\(killed.status)): \(verify.standardOutput)\(verify.standardError)")
                            var status = stat()
                            #expect(lstat(ledger + "-journal", &status) != 0, "\(at): a journal was left")
                        }
                        let next = try await SampleProcess.run(arguments)
                        #expect(next.status == 0, "\(at) (\(killed.status)): \(next.standardError)")
                    }
                }
                // What a killed creation leaves under its temporary name is removed by the next run once it holds a
                // commit, which names the file as the creation's own; a kill before that first commit leaves a
                // database without tables that nothing proves is the sample's, and it stays. Read from a copy, so that
                // SQLite may roll back a journal the kill left beside it.
                for name in try FileManager.default.contentsOfDirectory(atPath: directory.path)
                where name.contains(".restoring-") && !name.hasSuffix("-journal") && !name.hasSuffix("-wal")
                    && !name.hasSuffix("-shm")
                {
                    let copy = directory.appendingPathComponent("copy-of-\(name)").path
                    let original = directory.appendingPathComponent(name).path
                    for suffix in ["", "-journal"] where FileManager.default.fileExists(atPath: original + suffix) {
                        try FileManager.default.copyItem(atPath: original + suffix, toPath: copy + suffix)
                    }
                    let tables = try await SampleProcess.tool("sqlite3", [copy, "SELECT count(*) FROM sqlite_schema"])
                    #expect(tables.standardOutput == "0\n", "\(name) was left: \(tables)")
                }
            }
        }

        @Test("run starts over on a ledger it created, removing only that ledger")
        func runStartsOverOnItsOwnLedger() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let neighbour = directory.appendingPathComponent("ledger.sqlite-notes")
                try Data("keep\n".utf8).write(to: neighbour)
                try await SampleProcess.makeLedger(ledger, commands: 300)
                try await SampleProcess.makeLedger(ledger, commands: 200)
                let inspect = try await SampleProcess.run(["inspect", "--database", ledger])
                #expect(inspect.status == 0, "\(inspect.standardError)")
                // 20 opened accounts and at most 200 commands: the first run's events are gone.
                let head = inspect.standardOutput.firstMatch(of: /head +position (\d+)/).flatMap { Int($0.1) }
                #expect(head.map { $0 <= 220 } == true, "\(inspect.standardOutput)")
                #expect(try Data(contentsOf: neighbour) == Data("keep\n".utf8))
            }
        }

        @Test("import refuses each kind of bad line, names it, and leaves no database", arguments: ImportFixture.Bad.allCases)
        func importRefusesBadFiles(bad: ImportFixture.Bad) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                for (streams, perStream) in [(1, 3), (100, 1_000)] {
                    let good = ImportFixture.good(streams: streams, perStream: perStream)
                    let input = directory.appendingPathComponent("bad-\(bad)-\(good.count).jsonl")
                    try ImportFixture.write(good + [bad.line(after: good)], to: input)
                    let database = directory.appendingPathComponent("imported.sqlite")
                    let before = try ImportFixture.snapshot(directory)
                    let output = try await SampleProcess.run(["import", "--input", input.path, "--database", database.path])
                    #expect(output.status != 0, "\(bad) after \(good.count): \(output.standardOutput)")
                    #expect(
                        output.standardError.contains("\(input.path):\(good.count + 1): "),
                        "\(bad) after \(good.count): \(output.standardError)")
                    #expect(!output.standardOutput.contains("imported"), "\(output.standardOutput)")
                    #expect(try ImportFixture.snapshot(directory) == before, "\(bad) after \(good.count) left files")
                }
            }
        }

        /// A file cut short at the end of a line (a full disk, a broken pipe, a copy stopped half-way) is valid in every
        /// line it still has; without the export's end line an import took it for a shorter log.
        @Test("import refuses an export cut short at a line's end, and writes nothing")
        func importRefusesAnExportCutAtALineEnd() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 100)
                let export = directory.appendingPathComponent("full.jsonl")
                let exported = try await SampleProcess.run(["export", "--database", ledger, "--output", export.path])
                try #require(exported.status == 0, "\(exported.standardError)")
                let lines = try String(contentsOf: export, encoding: .utf8).split(separator: "\n").map(String.init)
                // Without the end line; without it and the last event; only the first event.
                for kept in [lines.count - 1, lines.count - 2, 1] {
                    let input = directory.appendingPathComponent("cut-\(kept).jsonl")
                    try ImportFixture.write(Array(lines.prefix(kept)), to: input, endLine: false)
                    let database = directory.appendingPathComponent("imported.sqlite")
                    let before = try ImportFixture.snapshot(directory)
                    let output = try await SampleProcess.run(["import", "--input", input.path, "--database", database.path])
                    #expect(output.status != 0, "\(kept) lines: \(output.standardOutput)")
                    #expect(output.standardError.contains("\(input.path):\(kept + 1): "), "\(output.standardError)")
                    #expect(output.standardError.contains("cut short"), "\(output.standardError)")
                    #expect(try ImportFixture.snapshot(directory) == before, "\(kept) lines: files changed")
                }
            }
        }

        @Test(
            "import refuses an end line that miscounts, is not last, or is not as an export writes it",
            arguments: [
                (#"{"end":{"events":4}}"#, false, "counts 4 events; the file holds 6"),
                (#"{"end":{"events":6}}"#, true, "followed by more lines"),
                (#"{"end":{"events":6},"more":1}"#, false, "not the export's end line"),
                (#"{"end": {"events":6}}"#, false, "not the export's end line"),
            ])
        func importRefusesAWrongEndLine(end: String, followed: Bool, message: String) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let good = ImportFixture.good(streams: 2, perStream: 3)
                let input = directory.appendingPathComponent("input.jsonl")
                let extra = ImportFixture.line(position: 7, stream: "s-9", version: 1, eventID: ImportFixture.eventID(7))
                try ImportFixture.write(good + [end] + (followed ? [extra] : []), to: input, endLine: false)
                let database = directory.appendingPathComponent("imported.sqlite").path
                let output = try await SampleProcess.run(["import", "--input", input.path, "--database", database])
                #expect(output.status != 0, "\(output.standardOutput)")
                #expect(output.standardError.contains("\(input.path):7: "), "\(output.standardError)")
                #expect(output.standardError.contains(message), "\(output.standardError)")
                #expect(!FileManager.default.fileExists(atPath: database))
            }
        }

        /// Foundation's JSONDecoder keeps the first of two fields of one name and drops the other unseen: a line
        /// edited by hand with a field given twice was imported as if the second were not there.
        @Test(
            "import refuses a line that gives a field twice, naming the line and the field, and writes nothing",
            arguments: [
                // Another value, which the decoder dropped; the same value; the name spelt with an escape.
                (#","position":99}"#, "position"),
                (#","streamVersion":1}"#, "streamVersion"),
                (#","\u0065ventType":"Withdrawn"}"#, "eventType"),
            ])
        func importRefusesARepeatedField(tail: String, field: String) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let good = ImportFixture.good(streams: 2, perStream: 3)
                var repeated = ImportFixture.line(
                    position: 7, stream: "s-9", version: 1, eventID: ImportFixture.eventID(7))
                repeated.removeLast()
                let input = directory.appendingPathComponent("input.jsonl")
                try ImportFixture.write(good + [repeated + tail], to: input)
                let database = directory.appendingPathComponent("imported.sqlite").path
                let before = try ImportFixture.snapshot(directory)
                let output = try await SampleProcess.run(["import", "--input", input.path, "--database", database])
                #expect(output.status != 0, "\(output.standardOutput)")
                #expect(output.standardError.contains("\(input.path):7: "), "\(output.standardError)")
                #expect(output.standardError.contains("field '\(field)' is given twice"), "\(output.standardError)")
                #expect(!output.standardOutput.contains("imported"), "\(output.standardOutput)")
                #expect(try ImportFixture.snapshot(directory) == before)
            }
        }

        /// An export with one event's type changed to one the ledger does not know imported with exit status 0;
        /// `verify` then failed ("no decoder is registered for 'Bogus'"), and so would every command that reads the
        /// log. A schema version of a known type that the ledger does not read is the same.
        @Test(
            "import refuses an event of a type the ledger cannot decode, naming the line and the type, writing nothing",
            arguments: [
                ("Bogus", nil, "eventType 'Bogus' is not an event of the ledger"),
                ("Deposited", 3, "eventType 'Deposited' at schemaVersion 3 is not one the ledger reads"),
            ])
        func importRefusesAnEventTheLedgerCannotDecode(
            type: String, schemaVersion: Int?, message: String
        ) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                // The bad event in the middle of the file: nothing before it is written either.
                var lines = ImportFixture.good(streams: 2, perStream: 3)
                lines[3] = ImportFixture.line(
                    position: 4, stream: "s-1", version: 1, eventID: ImportFixture.eventID(4), type: type,
                    schemaVersion: schemaVersion)
                let input = directory.appendingPathComponent("input.jsonl")
                try ImportFixture.write(lines, to: input)
                let database = directory.appendingPathComponent("imported.sqlite").path
                let before = try ImportFixture.snapshot(directory)
                let output = try await SampleProcess.run(["import", "--input", input.path, "--database", database])
                #expect(output.status == 1, "\(output.standardOutput)\(output.standardError)")
                #expect(output.standardError.contains("\(input.path):4: \(message)"), "\(output.standardError)")
                #expect(!output.standardOutput.contains("imported"), "\(output.standardOutput)")
                #expect(try ImportFixture.snapshot(directory) == before)
            }
        }

        @Test("import takes an export made before the end line only with --allow-missing-end-line")
        func importTakesAnOldExportWhenAllowed() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let good = ImportFixture.good(streams: 3, perStream: 4)
                let input = directory.appendingPathComponent("old.jsonl")
                try ImportFixture.write(good, to: input, endLine: false)
                let database = directory.appendingPathComponent("imported.sqlite").path
                let refused = try await SampleProcess.run(["import", "--input", input.path, "--database", database])
                #expect(refused.status != 0)
                #expect(refused.standardError.contains("--allow-missing-end-line"), "\(refused.standardError)")
                #expect(!FileManager.default.fileExists(atPath: database))
                let imported = try await SampleProcess.run([
                    "import", "--input", input.path, "--database", database, "--allow-missing-end-line",
                ])
                #expect(imported.status == 0, "\(imported.standardError)")
                let output = directory.appendingPathComponent("new.jsonl")
                #expect(try await SampleProcess.run(["export", "--database", database, "--output", output.path]).status == 0)
                // The same events, now with the end line.
                let lines = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map(String.init)
                #expect(lines.count == good.count + 1)
                #expect(lines.last == ImportFixture.endLine(events: good.count))
                let ids = lines.dropLast().map { $0.firstMatch(of: /"eventID":"([^"]+)"/).map { String($0.1) } }
                #expect(ids == (1...good.count).map { ImportFixture.eventID($0) })
            }
        }

        @Test("import refuses a target that exists, changing nothing")
        func importRefusesAnExistingTarget() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("good.jsonl")
                try ImportFixture.write(ImportFixture.good(streams: 2, perStream: 5), to: input)
                let target = directory.appendingPathComponent("taken.txt")
                try Data("mine\n".utf8).write(to: target)
                let before = try ImportFixture.snapshot(directory)
                let output = try await SampleProcess.run(["import", "--input", input.path, "--database", target.path])
                #expect(output.status == 2, "\(output.standardError)")
                #expect(output.standardError.contains("already exists"), "\(output.standardError)")
                #expect(try ImportFixture.snapshot(directory) == before)
            }
        }

        /// Two imports to one new path: the one that lost the race said the path "already exists", as if the user had
        /// named a taken one. strace holds the loser at one step (its reading of the file, before it looks at the
        /// target; its naming of the new store, after it wrote it) while the winner runs whole.
        @Test(
            "an import whose new target another import made meanwhile says so, and changes nothing",
            .enabled(
                if: ProcessInfo.processInfo.environment["CI"] == "true"
                    || FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"),
                "needs strace"),
            arguments: ["reading", "naming"])
        func importLosingARaceSaysSo(heldAt step: String) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 100)
                let input = directory.appendingPathComponent("log.jsonl").path
                let exported = try await SampleProcess.run(["export", "--database", ledger, "--output", input])
                try #require(exported.status == 0, "\(exported.standardError)")
                let target = directory.appendingPathComponent("imported.sqlite").path
                let trace = directory.appendingPathComponent("trace.txt").path
                // The input is opened once, after the look at the target; the new store is named by its one link.
                let hold =
                    step == "reading"
                    ? ["-P", input, "-e", "trace=openat,open", "-e", "inject=openat,open:delay_enter=5000000"]
                    : ["-e", "trace=link,linkat", "-e", "inject=link,linkat:delay_enter=5000000"]
                let loser = try await ChildProcess.start(
                    "/usr/bin/strace",
                    ["-f", "-qq", "-o", trace] + hold + [
                        try SampleProcess.executable.path, "import", "--input", input, "--database", target,
                    ])
                // strace writes the call as it holds it.
                try await FileGrowth.wait(
                    for: trace, toContain: step == "reading" ? input : "link", within: .seconds(60))
                let winner = try await SampleProcess.run(["import", "--input", input, "--database", target])
                #expect(winner.status == 0, "\(winner.standardError)")
                let (status, rest) = try await loser.finish()
                let said = rest.joined(separator: "\n")
                #expect(status == 2, "\(said)")
                #expect(said.contains("\(target) was made by another import or run while this import ran"), "\(said)")
                #expect(said.contains("this import changed nothing"), "\(said)")
                #expect(!said.contains("already exists"), "\(said)")
                // Nothing of the loser's is left, and the target is the winner's whole log.
                try FileManager.default.removeItem(atPath: trace)
                let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
                #expect(names == ["imported.sqlite", "ledger.sqlite", "log.jsonl"])
                let again = directory.appendingPathComponent("again.jsonl").path
                let reexported = try await SampleProcess.run(["export", "--database", target, "--output", again])
                #expect(reexported.status == 0, "\(reexported.standardError)")
                try SampleProcess.expectSameExports(input, again)
            }
        }

        /// A kept run (`--keep`) that finds no ledger makes one, built under a temporary name and then given the
        /// ledger's name, which never replaces a file. When another run made the ledger meanwhile, the kept run refused
        /// and told the user to give another path, though adding to the ledger there is what --keep asks. strace holds
        /// the kept run at the naming of its new ledger (its one `link`) while a fresh run makes the ledger and runs
        /// whole.
        @Test(
            "a kept run whose ledger another run made while it made its own adds to that ledger, and replaces nothing",
            .enabled(
                if: ProcessInfo.processInfo.environment["CI"] == "true"
                    || FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"),
                "needs strace"))
        func keptRunMeetingANewLedger() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let trace = directory.appendingPathComponent("trace.txt").path
                let keptLog = directory.appendingPathComponent("kept-acks.txt").path
                let freshLog = directory.appendingPathComponent("fresh-acks.txt").path
                let kept = try await ChildProcess.start(
                    "/usr/bin/strace",
                    [
                        "-f", "-qq", "-o", trace, "-e", "trace=link,linkat", "-e",
                        "inject=link,linkat:delay_enter=5000000", try SampleProcess.executable.path, "run", "--keep",
                        "--database", ledger, "--accounts", "10", "--commands", "30", "--ack-log", keptLog, "--quiet",
                    ])
                // strace writes the call as it holds it.
                try await FileGrowth.wait(for: trace, toContain: "link", within: .seconds(60))
                let fresh = try await SampleProcess.run([
                    "run", "--database", ledger, "--accounts", "10", "--commands", "20", "--ack-log", freshLog,
                    "--quiet",
                ])
                try #require(fresh.status == 0, "\(fresh.standardOutput)\(fresh.standardError)")
                var made = stat()
                try #require(stat(ledger, &made) == 0)
                let (status, rest) = try await kept.finish()
                #expect(status == 0, "\(rest)")
                // The ledger is the file the fresh run made, and holds both runs' acknowledged commands.
                var now = stat()
                try #require(stat(ledger, &now) == 0)
                #expect(now.st_ino == made.st_ino)
                for ackLog in [freshLog, keptLog] {
                    let verify = try await SampleProcess.run(["verify", "--database", ledger, "--ack-log", ackLog])
                    #expect(verify.status == 0, "\(ackLog): \(verify.standardOutput)\(verify.standardError)")
                }
                // Nothing of the kept run's own new ledger is left beside it.
                let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                #expect(names.filter { $0.contains(".restoring-") }.isEmpty, "\(names)")
            }
        }

        /// An import carried the mark of a ledger that `run` created, so a plain `run` replaced the imported events.
        @Test("run refuses to start an imported log over, changing nothing")
        func runRefusesToStartAnImportOver() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("good.jsonl")
                try ImportFixture.write(ImportFixture.good(streams: 2, perStream: 5), to: input)
                let target = directory.appendingPathComponent("imported.sqlite").path
                let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", target])
                try #require(imported.status == 0, "\(imported.standardError)")
                let before = try ImportFixture.snapshot(directory)
                let output = try await SampleProcess.run(["run", "--database", target, "--quiet"])
                #expect(output.status == 2, "\(output.standardError)")
                #expect(output.standardError.contains("imported from a file"), "\(output.standardError)")
                #expect(try ImportFixture.snapshot(directory) == before)
            }
        }

        @Test("import, verify and export give back the exported file, line for line and byte for byte")
        func importRoundTrip() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let original = directory.appendingPathComponent("original.sqlite").path
                let first = directory.appendingPathComponent("first.jsonl").path
                let second = directory.appendingPathComponent("second.jsonl").path
                let copy = directory.appendingPathComponent("copy.sqlite").path
                let run = try await SampleProcess.run([
                    "run", "--database", original, "--accounts", "50", "--commands", "1000", "--transfers",
                    "--durability", "normal", "--quiet",
                ])
                try #require(run.status == 0, "\(run.standardError)")
                #expect(try await SampleProcess.run(["export", "--database", original, "--output", first]).status == 0)
                let lines = try String(contentsOfFile: first, encoding: .utf8).split(separator: "\n")
                // Every line an event, and last the line that counts them.
                #expect(lines.last.map(String.init) == ImportFixture.endLine(events: lines.count - 1))
                let imported = try await SampleProcess.run(["import", "--input", first, "--database", copy])
                #expect(imported.status == 0, "\(imported.standardError)")
                let count = imported.standardOutput.split(separator: " ").dropFirst().first.map { $0.filter(\.isNumber) }
                #expect(count == "\(lines.count - 1)", "\(imported.standardOutput)")
                #expect(try await SampleProcess.run(["verify", "--database", copy]).status == 0)
                #expect(try await SampleProcess.run(["export", "--database", copy, "--output", second]).status == 0)
                // Every field, the recording times included, comes back as it was exported.
                try SampleProcess.expectSameExports(first, second)
            }
        }

        /// An export converted to CRLF line ends: every event line was taken (the CR read as JSON whitespace), but
        /// the end line was refused as "not the export's end line", though the same file without it imported with
        /// `--allow-missing-end-line`.
        @Test("import takes an export with CRLF line ends, its end line included, as the same log as the LF one")
        func importTakesCRLFLineEnds() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let original = directory.appendingPathComponent("original.sqlite").path
                try await SampleProcess.makeLedger(original, commands: 200)
                let lf = directory.appendingPathComponent("lf.jsonl").path
                let exported = try await SampleProcess.run(["export", "--database", original, "--output", lf])
                try #require(exported.status == 0, "\(exported.standardError)")
                let crlf = directory.appendingPathComponent("crlf.jsonl").path
                try ImportFixture.crlf(Data(contentsOf: URL(fileURLWithPath: lf))).write(to: URL(fileURLWithPath: crlf))
                var verified: [String] = []
                for input in [lf, crlf] {
                    let name = URL(fileURLWithPath: input).deletingPathExtension().lastPathComponent
                    let copy = directory.appendingPathComponent("\(name).sqlite").path
                    let imported = try await SampleProcess.run(["import", "--input", input, "--database", copy])
                    try #require(imported.status == 0, "\(name): \(imported.standardError)")
                    let verify = try await SampleProcess.run(["verify", "--database", copy])
                    #expect(verify.status == 0, "\(name): \(verify.standardOutput)\(verify.standardError)")
                    verified.append(verify.standardOutput)
                    let again = directory.appendingPathComponent("\(name)-again.jsonl").path
                    #expect(try await SampleProcess.run(["export", "--database", copy, "--output", again]).status == 0)
                    // The same log as the original, field for field: the CRs are line ends, not part of a field.
                    try SampleProcess.expectSameExports(lf, again)
                }
                #expect(verified.count == 2 && verified[0] == verified[1], "\(verified)")
            }
        }

        /// An editor's byte-order mark before the first line was passed over by the JSON decoder on an event line,
        /// but made the end line of an empty export "not an exported event (unknown field 'end')".
        @Test("import takes an export that starts with a UTF-8 byte-order mark, an empty one included")
        func importTakesAByteOrderMark() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let original = directory.appendingPathComponent("original.sqlite").path
                try await SampleProcess.makeLedger(original, commands: 20)
                let exported = directory.appendingPathComponent("export.jsonl").path
                try #require(
                    try await SampleProcess.run(["export", "--database", original, "--output", exported]).status == 0)
                let bom = Data([0xEF, 0xBB, 0xBF])
                let inputs = [
                    ("full", bom + (try Data(contentsOf: URL(fileURLWithPath: exported)))),
                    ("empty", bom + Data(#"{"end":{"events":0}}"#.utf8) + Data("\n".utf8)),
                ]
                for (name, contents) in inputs {
                    let input = directory.appendingPathComponent("\(name).jsonl").path
                    try contents.write(to: URL(fileURLWithPath: input))
                    let copy = directory.appendingPathComponent("\(name).sqlite").path
                    let imported = try await SampleProcess.run(["import", "--input", input, "--database", copy])
                    #expect(imported.status == 0, "\(name): \(imported.standardError)")
                }
            }
        }

        /// A stream id is the user's text, and an import takes any: one holding a terminal's escape sequence cleared
        /// the screen of whoever ran `inspect` or `verify` on the ledger, and a NUL went to standard error as it was.
        @Test("inspect, verify and error lines write the control characters of a stream id as escapes, not raw")
        func controlCharactersAreWrittenAsEscapes() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("escape.jsonl")
                let stream = #"clear\u001b[2Jscreen\u0007"#
                try ImportFixture.write(
                    [ImportFixture.line(position: 1, stream: stream, version: 1, eventID: ImportFixture.eventID(1))],
                    to: input)
                let ledger = directory.appendingPathComponent("escape.sqlite").path
                let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", ledger])
                try #require(imported.status == 0, "\(imported.standardError)")
                let bad = directory.appendingPathComponent("nul.jsonl")
                try ImportFixture.write(
                    [ImportFixture.line(position: 1, stream: #"x\u0000\u001b]0;title"#, version: 1,
                                        eventID: ImportFixture.eventID(1))],
                    to: bad)
                let outputs = [
                    try await SampleProcess.run(["inspect", "--database", ledger]),
                    try await SampleProcess.run(["inspect", "--database", ledger, "--stream", "clear\u{1B}[2Jscreen\u{07}"]),
                    try await SampleProcess.run(["verify", "--database", ledger]),
                    try await SampleProcess.run(
                        ["import", "--input", bad.path, "--database", directory.appendingPathComponent("n.sqlite").path]),
                ]
                for output in outputs {
                    let text = output.standardOutput + output.standardError
                    #expect(!text.unicodeScalars.contains { [0x00, 0x07, 0x1B].contains($0.value) }, "\(text.debugDescription)")
                }
                #expect(outputs[1].standardOutput.contains(#"clear\u{1B}[2Jscreen\u{07}"#), "\(outputs[1].standardOutput)")
                #expect(outputs[3].standardError.contains(#"x\u{00}\u{1B}]0;title"#), "\(outputs[3].standardError)")
            }
        }

        /// A line with a byte that is not UTF-8 (a Latin-1 file, a damaged or binary one) was said to be "not valid
        /// JSON", which sends one looking for a misplaced brace.
        @Test("import names a line that is not valid UTF-8 text, and the byte, and writes nothing")
        func importNamesInvalidUTF8() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let good = ImportFixture.good(streams: 2, perStream: 3)
                let end = ImportFixture.endLine(events: good.count)
                // The line (0 first, the end line last), the text after which the bytes go, and the bytes.
                let cases: [(line: Int, after: String, bytes: [UInt8], crlf: Bool)] = [
                    (2, #""streamID":""#, [0xFF, 0xFE], false),  // never UTF-8
                    (1, #""eventType":""#, [0xED, 0xA0, 0x80], false),  // a surrogate's encoding
                    (4, "}", [0xC3], true),  // cut short, after the JSON, with CRLF line ends
                    (good.count, #"{"end":{"#, [0xE9], false),  // Latin-1 é, in the end line
                ]
                for (index, bad) in cases.enumerated() {
                    var lines = (good + [end]).map { Data($0.utf8) }
                    let text = String(decoding: lines[bad.line], as: UTF8.self)
                    let range = try #require(text.range(of: bad.after, options: .backwards))
                    let column = text.utf8.distance(from: text.startIndex, to: range.upperBound)
                    lines[bad.line] = lines[bad.line].prefix(column) + bad.bytes + lines[bad.line].dropFirst(column)
                    let separator = Data((bad.crlf ? "\r\n" : "\n").utf8)
                    let offset = lines.prefix(bad.line).reduce(0) { $0 + $1.count + separator.count } + column
                    let file = lines.reduce(Data()) { $0 + $1 + separator }
                    try #require(file[offset] == bad.bytes[0])
                    let input = directory.appendingPathComponent("bad-\(index).jsonl")
                    try file.write(to: input)
                    let database = directory.appendingPathComponent("imported.sqlite")
                    let before = try ImportFixture.snapshot(directory)
                    let output = try await SampleProcess.run([
                        "import", "--input", input.path, "--database", database.path,
                    ])
                    #expect(output.status == 1, "\(index): \(output.standardOutput)")
                    #expect(
                        output.standardError.contains(
                            "\(input.path):\(bad.line + 1): not valid UTF-8 text: byte \(column + 1) of the line "
                                + "(file offset \(offset))"),
                        "\(index): \(output.standardError)")
                    #expect(!output.standardError.contains("not valid JSON"), "\(index): \(output.standardError)")
                    #expect(try ImportFixture.snapshot(directory) == before, "\(index) left files")
                }
            }
        }

        /// `stat` without following links found a link, so a link to nothing and a loop of links were refused as
        /// "not a regular file (a pipe, a device or a terminal)".
        @Test("import names a link to nothing and a loop of links as such, and writes nothing")
        func importNamesBrokenLinks() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                // The links apart from the target's directory, whose snapshot would follow them.
                let links = directory.appendingPathComponent("links")
                let target = directory.appendingPathComponent("target")
                for folder in [links, target] {
                    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
                }
                let loop = links.appendingPathComponent("loop.jsonl").path
                try FileManager.default.createSymbolicLink(atPath: loop, withDestinationPath: loop)
                let dangling = links.appendingPathComponent("dangling.jsonl").path
                try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: "missing.jsonl")
                let before = try ImportFixture.snapshot(target)
                for (input, words) in [(loop, strerror(ELOOP)), (dangling, strerror(ENOENT))] {
                    let database = target.appendingPathComponent("imported.sqlite").path
                    let output = try await SampleProcess.run(["import", "--input", input, "--database", database])
                    #expect(output.status == 1, "\(output.standardOutput)\(output.standardError)")
                    #expect(
                        output.standardError.contains("cannot read \(input): \(String(cString: words!))"),
                        "\(output.standardError)")
                    #expect(try ImportFixture.snapshot(target) == before)
                }
            }
        }

        /// An export re-encoded as UTF-16 or UTF-32 (an editor's "Unicode" save): Foundation's JSON decoder reads
        /// such event lines, so the first line refused was the end line, as "unknown field 'end'".
        @Test("import refuses an export re-encoded as UTF-16 or UTF-32 at its first line, naming the encoding")
        func importRefusesWideEncodings() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let good = ImportFixture.good(streams: 2, perStream: 3)
                let text = (good + [ImportFixture.endLine(events: good.count)]).map { $0 + "\n" }.joined()
                let encodings: [(String, String.Encoding)] = [
                    ("utf16", .utf16), ("utf16le", .utf16LittleEndian), ("utf16be", .utf16BigEndian),
                    ("utf32le", .utf32LittleEndian),
                ]
                for (name, encoding) in encodings {
                    let input = directory.appendingPathComponent("\(name).jsonl")
                    try #require(text.data(using: encoding)).write(to: input)
                    for extra in [[], ["--allow-missing-end-line"]] {
                        let database = directory.appendingPathComponent("imported.sqlite")
                        let before = try ImportFixture.snapshot(directory)
                        let output = try await SampleProcess.run(
                            ["import", "--input", input.path, "--database", database.path] + extra)
                        #expect(output.status == 1, "\(name): \(output.standardOutput)")
                        #expect(
                            output.standardError.contains("\(input.path):1: not UTF-8 text")
                                && output.standardError.contains("UTF-16 or UTF-32"),
                            "\(name): \(output.standardError)")
                        #expect(try ImportFixture.snapshot(directory) == before, "\(name) left files")
                    }
                }
            }
        }

        @Test("export refuses to overwrite a file unless --force, and writes to standard output for -")
        func exportOverwritesOnlyWithForce() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger)
                let output = directory.appendingPathComponent("out.jsonl")
                // An earlier export, of an empty log: all its end line.
                try Data("{\"end\":{\"events\":0}}\n".utf8).write(to: output)
                let before = try ImportFixture.snapshot(directory)
                let refused = try await SampleProcess.run(["export", "--database", ledger, "--output", output.path])
                #expect(refused.status == 2, "\(refused.standardError)")
                #expect(refused.standardError.contains("--force"), "\(refused.standardError)")
                #expect(try ImportFixture.snapshot(directory) == before)

                let forced = try await SampleProcess.run(["export", "--database", ledger, "--output", output.path, "--force"])
                #expect(forced.status == 0, "\(forced.standardError)")
                let toStandardOutput = try await SampleProcess.run(["export", "--database", ledger, "--output", "-"])
                #expect(toStandardOutput.status == 0, "\(toStandardOutput.standardError)")
                #expect(try String(contentsOf: output, encoding: .utf8) == toStandardOutput.standardOutput)
                #expect(toStandardOutput.standardOutput.split(separator: "\n").count > 500)
                let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                #expect(!names.contains { $0.hasSuffix(".partial") }, "\(names)")
            }
        }

        /// `--force` replaced any regular file: given another ledger's path, while a run wrote that ledger, the export
        /// put its JSON Lines there, and every command the run had acknowledged was lost with the ledger.
        @Test("export --force replaces only an earlier export: a ledger, an empty file or a text file is left alone")
        func exportForceReplacesOnlyAnExport() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger)
                let other = directory.appendingPathComponent("other.sqlite").path
                try await SampleProcess.makeLedger(other)
                let empty = directory.appendingPathComponent("empty.jsonl")
                try Data().write(to: empty)
                let notes = directory.appendingPathComponent("notes.txt")
                try Data("not an export\n".utf8).write(to: notes)
                let before = try ImportFixture.snapshot(directory)
                for output in [other, empty.path, notes.path] {
                    let refused = try await SampleProcess.run(
                        ["export", "--database", ledger, "--output", output, "--force"])
                    #expect(refused.status == 2, "\(output): \(refused.standardError)")
                    #expect(
                        refused.standardError.contains("is not an export") && refused.standardError.contains("left it alone"),
                        "\(refused.standardError)")
                    #expect(try ImportFixture.snapshot(directory) == before, "\(output)")
                }
                let verified = try await SampleProcess.run(["verify", "--database", other])
                #expect(verified.status == 0, "\(verified.standardOutput)\(verified.standardError)")
                // An earlier export with CRLF line ends, as import reads them, is an export.
                let crlf = directory.appendingPathComponent("crlf.jsonl")
                try Data("{\"end\":{\"events\":0}}\r\n".utf8).write(to: crlf)
                let replaced = try await SampleProcess.run(
                    ["export", "--database", ledger, "--output", crlf.path, "--force"])
                #expect(replaced.status == 0, "\(replaced.standardError)")
            }
        }

        @Test("export refuses a link, a device or pipe, and the database itself, even with --force, changing nothing")
        func exportRefusesWhatIsNotAFileToReplace() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger)
                let notes = directory.appendingPathComponent("notes.txt")
                try Data("someone's notes\n".utf8).write(to: notes)
                let link = directory.appendingPathComponent("link.jsonl").path
                try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: notes.path)
                let dangling = directory.appendingPathComponent("dangling.jsonl").path
                try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: "/nonexistent/x.jsonl")
                let pipe = directory.appendingPathComponent("pipe").path
                try #require(mkfifo(pipe, 0o600) == 0)
                let sameFile = directory.appendingPathComponent("hard-link.sqlite").path
                try FileManager.default.linkItem(atPath: ledger, toPath: sameFile)
                let linkedDatabase = directory.appendingPathComponent("linked.sqlite").path
                try FileManager.default.createSymbolicLink(atPath: linkedDatabase, withDestinationPath: ledger)
                /// The names in the directory, what each link names, and every regular file's bytes (the pipe is
                /// never read: a read would wait for a writer).
                func state() throws -> [String: Data] {
                    var result: [String: Data] = [:]
                    for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
                        let path = directory.appendingPathComponent(name).path
                        switch try FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType {
                        case .typeSymbolicLink?:
                            result[name] = Data(try FileManager.default.destinationOfSymbolicLink(atPath: path).utf8)
                        case .typeRegular?: result[name] = try Data(contentsOf: URL(fileURLWithPath: path))
                        default: result[name] = Data("other".utf8)
                        }
                    }
                    return result
                }
                let before = try state()
                for (database, output, forced) in [
                    (ledger, link, false), (ledger, link, true), (ledger, dangling, false), (ledger, dangling, true),
                    (ledger, pipe, true), (ledger, ledger, true), (ledger, sameFile, true),
                    // Through a link to it, the database is still the database.
                    (linkedDatabase, ledger, true),
                ] {
                    let refused = try await SampleProcess.run(
                        ["export", "--database", database, "--output", output] + (forced ? ["--force"] : []))
                    #expect(refused.status == 2, "\(output) \(forced): \(refused.standardError)")
                    #expect(refused.standardError.split(separator: "\n").count == 1, "\(refused.standardError)")
                    #expect(try state() == before, "\(output) \(forced)")
                }
            }
        }

        @Test("an export, report or ack log named as the database or one of its files is refused, even unmade")
        func outputsNamedAsTheDatabasesFilesAreRefused() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger)
                let before = try ImportFixture.snapshot(directory)
                // The ledger exists, its -wal and -shm may, its -journal does not (a WAL-mode database has none).
                for name in ["", "-wal", "-shm", "-journal"].map({ ledger + $0 }) {
                    for arguments in [
                        ["export", "--database", ledger, "--output", name],
                        ["replay", "--database", ledger, "--report", name],
                        ["run", "--database", ledger, "--keep", "--accounts", "5", "--commands", "5", "--quiet",
                         "--report", name],
                        ["run", "--database", ledger, "--keep", "--accounts", "5", "--commands", "5", "--quiet",
                         "--ack-log", name],
                    ] {
                        let refused = try await SampleProcess.run(arguments)
                        #expect(refused.status == 2, "\(arguments): \(refused.standardOutput)\(refused.standardError)")
                        #expect(refused.standardError.contains("SQLite keeps beside it"), "\(refused.standardError)")
                        #expect(try ImportFixture.snapshot(directory) == before, "\(arguments)")
                    }
                }
                // A `..` after a link leaves the directory the link names, not the one before it.
                let nested = directory.appendingPathComponent("nested")
                try FileManager.default.createDirectory(
                    at: nested.appendingPathComponent("inner"), withIntermediateDirectories: true)
                let nestedLedger = nested.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(nestedLedger)
                let links = directory.appendingPathComponent("links")
                try FileManager.default.createDirectory(at: links, withIntermediateDirectories: false)
                let link = links.appendingPathComponent("link").path
                try FileManager.default.createSymbolicLink(
                    atPath: link, withDestinationPath: nested.appendingPathComponent("inner").path)
                let nestedBefore = try ImportFixture.snapshot(nested)
                let throughLink = try await SampleProcess.run([
                    "export", "--database", nestedLedger, "--output", link + "/../ledger.sqlite-journal",
                ])
                #expect(throughLink.status == 2, "\(throughLink.standardOutput)\(throughLink.standardError)")
                #expect(try ImportFixture.snapshot(nested) == nestedBefore)
                try FileManager.default.removeItem(at: links)
                let withNested = try ImportFixture.snapshot(directory)
                // A new ledger's own name and its companions, before any of them exists.
                let fresh = directory.appendingPathComponent("fresh.sqlite").path
                for name in ["", "-wal", "-shm", "-journal"].map({ fresh + $0 }) {
                    let refused = try await SampleProcess.run([
                        "run", "--database", fresh, "--accounts", "5", "--commands", "5", "--quiet", "--ack-log", name,
                    ])
                    #expect(refused.status == 2, "\(name): \(refused.standardOutput)\(refused.standardError)")
                    #expect(try ImportFixture.snapshot(directory) == withNested, "\(name)")
                }
            }
        }

        /// SQLite keeps a database's companions after the name it is opened by: opened by a hard link's name, the
        /// ledger's own `-wal` (which holds its last commits until a checkpoint) was not counted as one of its files,
        /// and `export --force` replaced it.
        @Test("an export, report or ack log named as a companion of another name of the database's file is refused")
        func outputsNamedAsCompanionsOfAHardLinkAreRefused() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger)
                let alias = directory.appendingPathComponent("alias.sqlite").path
                try FileManager.default.linkItem(atPath: ledger, toPath: alias)
                let before = try ImportFixture.snapshot(directory)
                for (database, other) in [(alias, ledger), (ledger, alias)] {
                    for name in ["-wal", "-shm", "-journal"].map({ other + $0 }) {
                        for arguments in [
                            ["export", "--database", database, "--output", name],
                            ["export", "--database", database, "--output", name, "--force"],
                            ["replay", "--database", database, "--report", name],
                            ["run", "--database", database, "--keep", "--accounts", "5", "--commands", "5", "--quiet",
                             "--ack-log", name],
                        ] {
                            let refused = try await SampleProcess.run(arguments)
                            let said = "\(arguments): \(refused.standardOutput)\(refused.standardError)"
                            #expect(refused.status == 2, "\(said)")
                            #expect(refused.standardError.contains("SQLite keeps beside it"), "\(said)")
                            #expect(try ImportFixture.snapshot(directory) == before, "\(arguments)")
                        }
                    }
                }
            }
        }

        /// Whether `/dev/shm` is a file system of its own (a tmpfs), beside the temporary directory's.
        static let hasSecondFileSystem: Bool = {
            var shared = stat()
            var temporary = stat()
            return stat("/dev/shm", &shared) == 0 && stat(NSTemporaryDirectory(), &temporary) == 0
                && shared.st_dev != temporary.st_dev && access("/dev/shm", W_OK) == 0
        }()

        /// The temporary files' directory was taken from a relative path's text with `link/..` dropped, so it was not
        /// the directory the kernel resolves: with the link on another file system, the final link of the temporary
        /// file failed ("Invalid cross-device link"), and the directory synced was not the target's.
        @Test(
            "run, its report, export and import reach a relative path whose `..` follows a link to another file system",
            .enabled(if: hasSecondFileSystem))
        func pathThroughALinkToAnotherFileSystem() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let other = URL(fileURLWithPath: "/dev/shm").appendingPathComponent("whizbang-\(UUID().uuidString)")
                try FileManager.default.createDirectory(
                    at: other.appendingPathComponent("inner"), withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: other) }
                try FileManager.default.createSymbolicLink(
                    atPath: directory.appendingPathComponent("link").path,
                    withDestinationPath: other.appendingPathComponent("inner").path)
                let binary = try SampleProcess.executable.path
                // Run in `directory`, with paths relative to it.
                func sample(_ arguments: String) async throws -> ProcessOutput {
                    let script = "cd '\(directory.path)' && exec '\(binary)' \(arguments)"
                    return try await SampleProcess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
                }
                let made = try await sample(
                    "run --database link/../ledger.sqlite --accounts 10 --commands 100 --quiet "
                        + "--report link/../run.html")
                #expect(made.status == 0, "\(made.standardError)")
                let exported = try await sample("export --database link/../ledger.sqlite --output link/../log.jsonl")
                #expect(exported.status == 0, "\(exported.standardError)")
                let imported = try await sample("import --input link/../log.jsonl --database link/../copy.sqlite")
                #expect(imported.status == 0, "\(imported.standardError)")
                let names = try FileManager.default.contentsOfDirectory(atPath: other.path).sorted()
                let expected = ["copy.sqlite", "inner", "ledger.sqlite", "log.jsonl", "run.html"]
                #expect(names.filter { !$0.hasPrefix("ledger.sqlite-") } == expected)
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["link"])
            }
        }

        @Test("a command whose result cannot be written to standard output fails with a clear error")
        func unwritableStandardOutputFails() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger)
                let executable = try SampleProcess.executable.path
                for command in [
                    "verify --database '\(ledger)'", "inspect --database '\(ledger)'",
                    "replay --database '\(ledger)' --json", "--help",
                    "run --database '\(ledger)' --keep --accounts 5 --commands 5 --quiet --json",
                ] {
                    let output = try await SampleProcess.run(
                        URL(fileURLWithPath: "/bin/sh"), ["-c", "exec '\(executable)' \(command) > /dev/full"])
                    #expect(output.status == 1, "\(command): \(output.standardError)")
                    #expect(
                        output.standardError.hasPrefix("error: cannot write standard output"),
                        "\(command): \(output.standardError)")
                }
            }
        }

        @Test("export removes what a killed export left beside its target, and nothing else")
        func exportRemovesOnlyAbandonedPartials() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger)
                let output = directory.appendingPathComponent("out.jsonl")
                let first = try await SampleProcess.run(["export", "--database", ledger, "--output", "-"])
                let line = try #require(first.standardOutput.split(separator: "\n").first)
                func partial(_ suffix: String, _ text: String) throws -> URL {
                    let url = directory.appendingPathComponent(".out.jsonl.\(suffix).partial")
                    try Data(text.utf8).write(to: url)
                    return url
                }
                // What a killed export leaves: the first lines of a log under the temporary name.
                let abandoned = try partial("0A1B2C3D", "\(line)\n\(line.prefix(20))")
                // And a killed export of an empty log: its end line alone.
                let abandonedEmpty = try partial("5A6B7C8D", ImportFixture.endLine(events: 0) + "\n")
                // Look-alikes that are not, or not provably: someone's text, an empty file, a name of another shape,
                // and the file of an export still at work (it holds a lock on it).
                let text = try partial("4E5F6A7B", "notes\n")
                let empty = try partial("8C9D0E1F", "")
                let otherShape = try partial("not-hex!", "\(line)\n")
                let working = try partial("1A2B3C4D", "\(line)\n")
                let holder = try await Python.start(
                    "import fcntl, sys\n"
                        + "f = open(sys.argv[1])\n"
                        + "fcntl.flock(f, fcntl.LOCK_EX)\n"
                        + "print('locked', flush=True)\n" + Python.untilTerminated,
                    [working.path])
                #expect(await holder.nextOutputLine() == "locked")
                let exported = try await SampleProcess.run(["export", "--database", ledger, "--output", output.path])
                holder.signal(SIGTERM)
                _ = try await holder.exitStatus()
                #expect(exported.status == 0, "\(exported.standardError)")
                #expect(exported.standardError.contains("removed \(abandoned.path)"), "\(exported.standardError)")
                #expect(!FileManager.default.fileExists(atPath: abandoned.path))
                #expect(!FileManager.default.fileExists(atPath: abandonedEmpty.path))
                for kept in [text, empty, otherShape, working] {
                    #expect(FileManager.default.fileExists(atPath: kept.path), "\(kept.lastPathComponent)")
                }
                #expect(try String(contentsOf: output, encoding: .utf8) == first.standardOutput)
            }
        }

        @Test("export --force keeps the permissions of the file it replaces")
        func exportKeepsPermissions() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger)
                let output = directory.appendingPathComponent("out.jsonl")
                try Data("{\"end\":{\"events\":0}}\n".utf8).write(to: output)
                try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: output.path)
                let forced = try await SampleProcess.run(["export", "--database", ledger, "--output", output.path, "--force"])
                #expect(forced.status == 0, "\(forced.standardError)")
                let mode = try FileManager.default.attributesOfItem(atPath: output.path)[.posixPermissions] as? Int
                #expect(mode == 0o640)
                #expect(try String(contentsOf: output, encoding: .utf8).split(separator: "\n").count > 500)
            }
        }

        @Test("export of a corrupt database fails with SQLite's whole message on one line and leaves no file")
        func exportOfACorruptDatabase() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite")
                try await SampleProcess.makeLedger(ledger.path, commands: 20_000)
                // Overwrite the middle of the file, where the events table's pages are, with garbage.
                let handle = try FileHandle(forUpdating: ledger)
                let size = try handle.seekToEnd()
                try handle.seek(toOffset: size / 3)
                try handle.write(contentsOf: Data(repeating: 0xA5, count: Int(size / 3)))
                try handle.close()
                let output = directory.appendingPathComponent("out.jsonl")
                let export = try await SampleProcess.run(["export", "--database", ledger.path, "--output", output.path])
                #expect(export.status != 0, "\(export.standardOutput)")
                #expect(export.standardError.split(separator: "\n").count == 1, "\(export.standardError)")
                #expect(export.standardError.contains("malformed") || export.standardError.contains("corrupt"), "\(export.standardError)")
                #expect(!FileManager.default.fileExists(atPath: output.path))
                let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                #expect(!names.contains { $0.hasSuffix(".partial") }, "\(names)")
                // verify reports it too, and does not crash.
                let verify = try await SampleProcess.run(["verify", "--database", ledger.path])
                #expect(verify.status == 1, "\(verify.standardOutput)\(verify.standardError)")
            }
        }

        /// An index that lacks a row of its table is met by none of the log's reads: `verify` said "ok" on such a
        /// file, which SQLite's own check reports as damaged.
        @Test("verify reports an SQLite file whose index is damaged, and leaves the file as it was")
        func verifyRunsSQLiteIntegrityCheck() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 30)
                let sound = try await SampleProcess.run(["verify", "--database", ledger])
                #expect(sound.status == 0, "\(sound.standardOutput)\(sound.standardError)")
                #expect(sound.standardOutput.contains("SQLite file checked"), "\(sound.standardOutput)")
                try damageIndexRoot("events_by_id", path: ledger)
                let before = try ImportFixture.snapshot(directory)
                let damaged = try await SampleProcess.run(["verify", "--database", ledger])
                #expect(damaged.status == 1, "\(damaged.standardOutput)\(damaged.standardError)")
                #expect(
                    damaged.standardOutput.contains("violation: the SQLite file is damaged:")
                        && damaged.standardOutput.contains("events_by_id"), "\(damaged.standardOutput)")
                #expect(try ImportFixture.snapshot(directory) == before)
                #expect(!damaged.standardError.contains("hard links"), "\(damaged.standardError)")
            }
        }

        /// A read by one name of a ledger that a run writes by another (a hard link) does not see the run's WAL, and
        /// `verify` reported the file damaged, or failed with "the database is corrupt", without a word of why.
        @Test("a failed read of a ledger with another name (a hard link) says that a writer by that name may be why")
        func aDamagedReadOfAHardLinkedLedgerNamesTheLink() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let other = directory.appendingPathComponent("copy.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 30)
                #expect(link(ledger, other) == 0)
                // A sound ledger with two names reads as before, without the note.
                let sound = try await SampleProcess.run(["verify", "--database", other])
                #expect(sound.status == 0 && !sound.standardError.contains("hard links"), "\(sound.standardError)")
                // Failures of anything but the ledger's read say nothing of its names.
                let missingAckLog = directory.appendingPathComponent("none.log").path
                let noDirectory = directory.appendingPathComponent("none/x.jsonl").path
                for arguments in [
                    ["verify", "--database", other, "--ack-log", missingAckLog],
                    ["export", "--database", other, "--output", noDirectory],
                ] {
                    let failed = try await SampleProcess.run(arguments)
                    #expect(failed.status != 0 && !failed.standardError.contains("hard links"), "\(failed.standardError)")
                }
                try damageIndexRoot("events_by_id", path: ledger)
                for name in [ledger, other] {
                    let damaged = try await SampleProcess.run(["verify", "--database", name])
                    #expect(damaged.status == 1, "\(damaged.standardOutput)\(damaged.standardError)")
                    #expect(
                        damaged.standardError.contains("note: \(name) has 2 names (hard links)")
                            && damaged.standardError.contains("Read the ledger by the name the run writes to"),
                        "\(damaged.standardError)")
                }
                // A file that reads as no store by one of its names: the refusal, then the note.
                let text = directory.appendingPathComponent("notes.txt").path
                let textLink = directory.appendingPathComponent("notes.sqlite").path
                try Data("not a ledger\n".utf8).write(to: URL(fileURLWithPath: text))
                try #require(link(text, textLink) == 0)
                let notAStore = try await SampleProcess.run(["replay", "--database", textLink])
                let refused = notAStore.standardError.split(separator: "\n")
                #expect(notAStore.status == 2, "\(notAStore.standardError)")
                #expect(
                    refused.count == 2 && refused[0].hasPrefix("error: \(textLink) is not a Whizbang store")
                        && refused[1].hasPrefix("note: \(textLink) has 2 names (hard links)"), "\(notAStore.standardError)")
                // An event that does not decode: the error, then the note.
                _ = try executeRawSQL("UPDATE events SET data = X'FF' WHERE position = 5", path: ledger)
                let undecodable = try await SampleProcess.run(["replay", "--database", other])
                let lines = undecodable.standardError.split(separator: "\n")
                #expect(undecodable.status == 1, "\(undecodable.standardError)")
                #expect(
                    lines.count == 2 && lines[0].hasPrefix("error: event at position 5")
                        && lines[1].hasPrefix("note: \(other) has 2 names (hard links)"), "\(undecodable.standardError)")
            }
        }

        /// A read by one name of a ledger whose other name's WAL held commits (a run that ended while a reader had the
        /// ledger open leaves its WAL) missed them: `export` wrote an older log with exit status 0, `verify` reported
        /// damage, and a run by that name would have built on a log without them.
        @Test("a ledger whose other name (a hard link) has a WAL with commits is refused by that name, changing nothing")
        func aHardLinkBesideAWALWithCommitsIsRefused() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let other = directory.appendingPathComponent("copy.sqlite").path
                let output = directory.appendingPathComponent("out.jsonl").path
                try await SampleProcess.makeLedger(ledger, commands: 30)
                try #require(link(ledger, other) == 0)
                // A connection by the ledger's name commits and stays open, so its WAL keeps the commit; meanwhile the
                // sample is run by the other name, and then by the ledger's own.
                let script = """
                    import json, sqlite3, subprocess, sys
                    binary, ledger, other, output = sys.argv[1:5]
                    holder = sqlite3.connect(ledger, isolation_level=None)
                    holder.execute("INSERT INTO checkpoints (consumer, position) VALUES ('holder', 1)")
                    results = []
                    for arguments in (["verify"], ["replay"], ["export", "--output", output],
                                      ["run", "--keep", "--accounts", "2", "--commands", "2"]):
                        for name in (other, ledger):
                            if arguments[0] == "run" and name == ledger: continue
                            done = subprocess.run([binary] + arguments + ["--database", name], capture_output=True, text=True)
                            results.append([name, arguments[0], done.returncode, done.stderr])
                    print(json.dumps(results))
                    """
                let ran = try await Python.run(script, [try SampleProcess.executable.path, ledger, other, output])
                try #require(ran.status == 0, "\(ran.standardError)")
                let results = try #require(
                    try JSONSerialization.jsonObject(with: Data(ran.standardOutput.utf8)) as? [[Any]])
                #expect(results.count == 7)
                for result in results {
                    let (name, command, status, said) = (result[0] as? String, result[1] as? String, result[2] as? Int, result[3] as? String ?? "")
                    if name == other {
                        #expect(status == 2, "\(command ?? ""): \(said)")
                        #expect(
                            said.contains("\(other) is the same file as \(ledger) (a hard link), and \(ledger)-wal holds commits"),
                            "\(command ?? ""): \(said)")
                    } else {
                        #expect(status == 0, "\(command ?? ""): \(said)")
                    }
                }
                #expect(!FileManager.default.fileExists(atPath: other + "-wal"))
                #expect(!FileManager.default.fileExists(atPath: other + "-shm"))
            }
        }

        /// A ledger of another user's that this one may not read (the sample makes ledgers with mode 0600) was said
        /// to be "not a Whizbang store: it is a file SQLite cannot read (unable to open database file)". Run as user
        /// 65534 through `setpriv`, so only as root, and only where that user may reach the built sample and the
        /// temporary directory (not, say, a checkout under a home directory of mode 0700).
        @Test(
            "a ledger this user may not read is said to be so, not \"not a Whizbang store\"",
            .enabled(
                if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
                    && Self.othersMayReach((try? SampleProcess.executable.path) ?? "/")
                    && Self.othersMayReach(NSTemporaryDirectory())))
        func anUnreadableLedgerIsSaidToBeUnreadable() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 30)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
                let before = try ImportFixture.snapshot(directory)
                for command in ["verify", "inspect", "replay"] {
                    let output = try await SampleProcess.run(
                        URL(fileURLWithPath: "/usr/bin/setpriv"),
                        ["--reuid=65534", "--regid=65534", "--clear-groups", try SampleProcess.executable.path, command,
                         "--database", ledger])
                    #expect(output.status == 2, "\(command): \(output.standardOutput)\(output.standardError)")
                    #expect(
                        output.standardError.contains(
                            "\(ledger) cannot be read by this process (user 65534): it belongs to user 0, mode 600"),
                        "\(command): \(output.standardError)")
                    #expect(!output.standardError.contains("not a Whizbang store"), "\(output.standardError)")
                }
                #expect(try ImportFixture.snapshot(directory) == before)
            }
        }

        /// Whether a user other than the owner may search every directory on the way to `path` (and run it, if it
        /// is a file): the "others" execute bit of each.
        static func othersMayReach(_ path: String) -> Bool {
            var components = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
            var current = ""
            while !components.isEmpty {
                let next = components.removeFirst()
                current = current.isEmpty ? next : (current == "/" ? "/" + next : current + "/" + next)
                var status = stat()
                guard stat(current, &status) == 0, status.st_mode & S_IXOTH != 0 else { return false }
            }
            return true
        }

        /// A run by one name of a file with several (hard links) does not see the WAL that a run by another name left,
        /// and that WAL is later copied over what this run wrote: a `run --keep` through a link in another directory
        /// exited 0 with 984 commands acknowledged that the next run by the first name lost.
        @Test("run --keep refuses a ledger with another name anywhere (a hard link), and changes nothing")
        func keptRunRefusesAHardLinkedLedger() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let elsewhere = directory.appendingPathComponent("sub")
                try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: false)
                let other = elsewhere.appendingPathComponent("other.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 30)
                try #require(link(ledger, other) == 0)
                let before = try ImportFixture.snapshot(directory)
                for name in [ledger, other] {
                    let output = try await SampleProcess.run(
                        ["run", "--keep", "--database", name, "--accounts", "2", "--commands", "2", "--quiet"])
                    #expect(output.status == 2, "\(name): \(output.standardOutput)\(output.standardError)")
                    #expect(
                        output.standardError.contains("\(name) has 2 names (hard links)")
                            && output.standardError.contains("nothing was changed"), "\(output.standardError)")
                    #expect(try ImportFixture.snapshot(directory) == before, "\(name)")
                }
            }
        }

        /// A read-only ledger was refused only after a read had made its WAL and shared-memory file, which then
        /// blocked the owner's next run once the ledger was writable again.
        @Test(
            "run --keep refuses a ledger this user may not write before reading it, making no file beside it",
            .enabled(
                if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
                    && Self.othersMayReach((try? SampleProcess.executable.path) ?? "/")
                    && Self.othersMayReach(NSTemporaryDirectory())))
        func keptRunRefusesAnUnwritableLedgerFirst() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 30)
                // The directory and the ledger belong to user 65534; the ledger is read-only to it.
                try #require(chown(directory.path, 65534, 65534) == 0 && chown(ledger, 65534, 65534) == 0)
                try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: ledger)
                let before = try ImportFixture.snapshot(directory)
                let output = try await SampleProcess.run(
                    URL(fileURLWithPath: "/usr/bin/setpriv"),
                    ["--reuid=65534", "--regid=65534", "--clear-groups", try SampleProcess.executable.path, "run",
                     "--keep", "--database", ledger, "--accounts", "2", "--commands", "2", "--quiet"])
                #expect(output.status == 2, "\(output.standardOutput)\(output.standardError)")
                #expect(output.standardError.contains("cannot be written"), "\(output.standardError)")
                #expect(try ImportFixture.snapshot(directory) == before)
            }
        }

        @Test("a directory given as --database is said to be one, without a word of hard links")
        func aDirectoryIsNotSaidToHaveOtherNames() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let folder = directory.appendingPathComponent("folder")
                try FileManager.default.createDirectory(
                    at: folder.appendingPathComponent("inner"), withIntermediateDirectories: true)
                for command in ["verify", "inspect", "replay", "run"] {
                    let output = try await SampleProcess.run(
                        [command, "--database", folder.path] + (command == "run" ? ["--keep", "--quiet"] : []))
                    #expect(output.status == 2, "\(command): \(output.standardError)")
                    #expect(output.standardError.contains("it is a directory"), "\(command): \(output.standardError)")
                    #expect(!output.standardError.contains("hard links"), "\(command): \(output.standardError)")
                }
            }
        }

        @Test("verify and replay name the account whose first event is missing, as they name every other")
        func aStreamFirstMetAfterItsFirstEventIsNamed() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite")
                try await SampleProcess.makeLedger(ledger.path)
                // The replay looks a stream's id up only at its first event; remove one stream's first event.
                let removed = try await SampleProcess.tool(
                    "sqlite3",
                    [
                        ledger.path,
                        """
                        SELECT stream_id FROM streams WHERE stream_key = 7;
                        DELETE FROM events WHERE stream_key = 7 AND version = 1;
                        """,
                    ])
                try #require(removed.status == 0, "\(removed.standardError)")
                let account = removed.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
                try #require(account.hasPrefix("account-"), "\(removed.standardOutput)")
                for command in ["verify", "replay"] {
                    let output = try await SampleProcess.run([command, "--database", ledger.path])
                    let text = output.standardOutput + output.standardError
                    #expect(output.status == 1, "\(command): \(text)")
                    #expect(
                        text.contains("account \(account) has an event before it is opened (version 2)"),
                        "\(command): \(text)")
                    #expect(!text.contains("stream key"), "\(command): \(text)")
                }
            }
        }

        /// `inspect` read the events, then the head: beside a run that wrote meanwhile it printed a head past the
        /// events it had counted ("head position 105902 / events 105,767"), as if events were missing.
        @Test("inspect beside a writing run counts the events up to the head it prints")
        func inspectBesideAWriterIsOfOneMoment() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let running = try await SampleProcess.child([
                    "run", "--database", ledger, "--accounts", "1000", "--commands", "10000000", "--quiet",
                ])
                defer { running.signal(SIGKILL) }
                // The run prints nothing as its WAL grows: the kernel's notices of its writes wake the wait.
                try await FileGrowth.wait(for: ledger + "-wal", toReach: 1 << 20, within: .seconds(120))
                for _ in 0..<5 {
                    let output = try await SampleProcess.run(["inspect", "--database", ledger])
                    try #require(output.status == 0, "\(output.standardError)")
                    let lines = output.standardOutput.split(separator: "\n")
                    let head = lines.first { $0.hasPrefix("head ") }?.split(separator: " ").last
                    let events = lines.first { $0.hasPrefix("events ") }?.split(separator: " ").last?
                        .replacingOccurrences(of: ",", with: "")
                    // An SQLite log's positions have no gaps: as many events as the head's position.
                    #expect(head.map(String.init) == events, "\(output.standardOutput)")
                }
                running.signal(SIGINT)
                _ = try await running.exitStatus()
            }
        }

        /// verify, replay and inspect ended at once on SIGINT or SIGTERM, printing nothing and leaving the WAL and
        /// shared-memory files their read had made beside the ledger.
        @Test("verify, replay and inspect stopped by SIGINT close the ledger and leave nothing beside it")
        func readsStoppedBySignalLeaveNothing() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let made = try await SampleProcess.run([
                    "run", "--database", ledger, "--accounts", "1000", "--commands", "100000", "--quiet",
                ])
                try #require(made.status == 0, "\(made.standardError)")
                try #require(!FileManager.default.fileExists(atPath: ledger + "-shm"))
                for command in ["verify", "replay", "inspect"] {
                    let child = try await SampleProcess.child([command, "--database", ledger])
                    // The read has opened the ledger once SQLite has made its shared-memory file, unless it has read
                    // the whole log and closed it first.
                    let opened = try await withThrowingTaskGroup(of: Bool.self) { group in
                        group.addTask {
                            try await FileGrowth.wait(for: ledger + "-shm", toReach: 1, within: .seconds(120))
                            return true
                        }
                        group.addTask {
                            _ = try await child.exitStatus()
                            return false
                        }
                        defer { group.cancelAll() }
                        return try await group.next() ?? false
                    }
                    if opened { child.signal(SIGINT) }
                    let (status, rest) = try await child.finish()
                    // A read that finished before the signal came exits 0; one the signal stopped, 130 and says so.
                    #expect(status == 0 || status == 130, "\(command): \(status) \(rest)")
                    if status == 130 { #expect(rest.joined().contains("stopped by signal 2"), "\(command): \(rest)") }
                    for companion in ["-wal", "-shm"] {
                        #expect(
                            !FileManager.default.fileExists(atPath: ledger + companion), "\(command) left \(companion)")
                    }
                }
            }
        }

        @Test("export interrupted by SIGINT at a random moment leaves no file at the target path (10 times)")
        func exportInterrupted() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("good.jsonl")
                try ImportFixture.write(ImportFixture.good(streams: 100, perStream: 1_500), to: input)
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", ledger])
                try #require(imported.status == 0, "\(imported.standardError)")
                let output = directory.appendingPathComponent("out.jsonl")
                for attempt in 1...10 {
                    // 150,000 events are 19 chunks of 8,192: interrupt after one of the first ten.
                    let chunks = Int.random(in: 1...10)
                    let child = try await SampleProcess.child([
                        "export", "--database", ledger, "--output", output.path, "--progress-lines",
                    ])
                    var seen = 0
                    while seen < chunks, let line = await child.nextErrorLine() {
                        if line.hasPrefix("export: ") { seen += 1 }
                    }
                    child.signal(SIGINT)
                    let (status, rest) = try await child.finish()
                    #expect(status == 130, "attempt \(attempt) after \(chunks) chunks: \(rest)")
                    #expect(!FileManager.default.fileExists(atPath: output.path), "attempt \(attempt)")
                    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                    #expect(!names.contains { $0.hasSuffix(".partial") }, "attempt \(attempt): \(names)")
                }
            }
        }

        /// An export wrote a hidden temporary file beside its target: killed, it left that file behind (empty when
        /// killed early, which no later export could tell from a user's file and so never removed).
        @Test("export killed with SIGKILL while it writes leaves nothing in the output's directory")
        func exportKilledLeavesNothing() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("good.jsonl")
                try ImportFixture.write(ImportFixture.good(streams: 100, perStream: 500), to: input)
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", ledger])
                try #require(imported.status == 0, "\(imported.standardError)")
                let output = directory.appendingPathComponent("out")
                try FileManager.default.createDirectory(at: output, withIntermediateDirectories: false)
                let child = try await SampleProcess.child([
                    "export", "--database", ledger, "--output", output.appendingPathComponent("out.jsonl").path,
                    "--progress-lines",
                ])
                // After its first chunk, the export is writing its temporary file.
                while let line = await child.nextErrorLine(), !line.hasPrefix("export: ") {}
                child.signal(SIGKILL)
                let (status, _) = try await child.finish()
                #expect(status == SIGKILL, "\(status)")
                #expect(try FileManager.default.contentsOfDirectory(atPath: output.path) == [])
            }
        }

        /// The output's absence was checked once, at the start: an export then put its file in place with a rename,
        /// which replaced whatever had appeared at the path meanwhile (the user's file, another export's).
        @Test("export without --force leaves alone a file that appears at the output path while it runs")
        func exportKeepsAFileThatAppeared() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("good.jsonl")
                try ImportFixture.write(ImportFixture.good(streams: 20, perStream: 1_000), to: input)
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", ledger])
                try #require(imported.status == 0, "\(imported.standardError)")
                let output = directory.appendingPathComponent("out.jsonl")
                let child = try await SampleProcess.child([
                    "export", "--database", ledger, "--output", output.path, "--progress-lines",
                ])
                // Stopped after its first chunk, the export has checked the path and is writing its temporary file.
                while let line = await child.nextErrorLine(), !line.hasPrefix("export: ") {}
                child.signal(SIGSTOP)
                try Data("precious\n".utf8).write(to: output)
                child.signal(SIGCONT)
                let (status, rest) = try await child.finish()
                #expect(status == 2, "\(rest)")
                #expect(rest.joined(separator: "\n").contains("appeared while the export ran"), "\(rest)")
                #expect(try String(contentsOf: output, encoding: .utf8) == "precious\n")
                let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                #expect(!names.contains { $0.hasSuffix(".partial") }, "\(names)")
            }
        }

        /// A signal sent once the run has begun making its ledger (its temporary file or the ledger itself is
        /// there): before, the run listened only once its store was open, so such a signal killed it, leaving the
        /// temporary file; now the creation finishes and the run stops.
        @Test("SIGINT, SIGTERM or SIGHUP while run makes its ledger lets the creation finish, then stops the run")
        func signalDuringCreation() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                for (attempt, signal) in [SIGINT, SIGTERM, SIGHUP, SIGINT, SIGTERM, SIGHUP].enumerated() {
                    let ledger = directory.appendingPathComponent("ledger-\(attempt).sqlite").path
                    let child = try await SampleProcess.child([
                        "run", "--database", ledger, "--accounts", "2000", "--commands", "20000", "--quiet",
                    ])
                    let deadline = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < deadline, !FileManager.default.fileExists(atPath: ledger) {
                        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                        if names.contains(where: { $0.hasPrefix(".ledger-\(attempt).sqlite.restoring-") }) { break }
                        await Task.yield()
                    }
                    child.signal(signal)
                    let (status, rest) = try await child.finish()
                    let said = rest.joined(separator: "\n")
                    #expect(status == 128 + signal, "attempt \(attempt): \(said)")
                    #expect(said.contains("stopped by signal \(signal)"), "attempt \(attempt): \(said)")
                    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                    #expect(!names.contains { $0.contains(".restoring-") }, "attempt \(attempt): \(names)")
                    let verified = try await SampleProcess.run(["verify", "--database", ledger])
                    #expect(verified.status == 0, "attempt \(attempt): \(verified.standardError)")
                }
            }
        }

        @Test("a kept run finishes the transfers a stopped run left at each step, taking no account step twice")
        func keptRunFinishesHalfDoneTransfers() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let made = try await SampleProcess.run([
                    "run", "--database", ledger, "--accounts", "20", "--commands", "300", "--transfers", "--quiet",
                ])
                try #require(made.status == 0, "\(made.standardError)")
                let export = directory.appendingPathComponent("full.jsonl")
                let exported = try await SampleProcess.run(["export", "--database", ledger, "--output", export.path])
                try #require(exported.status == 0, "\(exported.standardError)")
                let lines = try String(contentsOf: export, encoding: .utf8).split(separator: "\n")
                // The log as a run stopped right after each step of a transfer left it (and the other transfers
                // then in flight): requested, source debited, debit recorded, target credited.
                for step in ["TransferRequested", "TransferDebited", "TransferDebitRecorded", "TransferCredited"] {
                    let cut = try #require(
                        lines.indices.filter { lines[$0].contains("\"eventType\":\"\(step)\"") }.dropFirst(2).first)
                    let input = directory.appendingPathComponent("\(step).jsonl")
                    try ImportFixture.write(lines[...cut].map(String.init), to: input)
                    let stopped = directory.appendingPathComponent("\(step).sqlite").path
                    let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", stopped])
                    try #require(imported.status == 0, "\(step): \(imported.standardError)")
                    let kept = try await SampleProcess.run([
                        "run", "--database", stopped, "--keep", "--accounts", "20", "--commands", "50", "--transfers",
                        "--quiet",
                    ])
                    #expect(kept.status == 0, "\(step): \(kept.standardOutput)\(kept.standardError)")
                    #expect(kept.standardError.contains("transfers that a stopped run had left half done"), "\(step)")
                    #expect(kept.standardOutput.contains("(0 unfinished)"), "\(step): \(kept.standardOutput)")
                    // verify checks that no transfer was debited, credited or refunded beyond its amount.
                    let verified = try await SampleProcess.run(["verify", "--database", stopped])
                    #expect(verified.status == 0, "\(step): \(verified.standardOutput)\(verified.standardError)")
                    #expect(!verified.standardOutput.contains("in flight"), "\(step): \(verified.standardOutput)")
                }
            }
        }

        @Test("import interrupted by SIGINT removes the new database and exits 130")
        func importInterrupted() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("good.jsonl")
                try ImportFixture.write(ImportFixture.good(streams: 5_000, perStream: 10), to: input)
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let before = try ImportFixture.snapshot(directory)
                let child = try await SampleProcess.child(["import", "--input", input.path, "--database", ledger, "--progress-lines"])
                while let line = await child.nextErrorLine(), !line.hasPrefix("import: ") {}
                child.signal(SIGINT)
                let (status, rest) = try await child.finish()
                #expect(status == 130, "\(rest)")
                #expect(try ImportFixture.snapshot(directory) == before)
            }
        }

        @Test(
            "import killed with SIGKILL at random moments leaves nothing at the target, and the next import succeeds",
            .timeLimit(.minutes(10)))
        func importKilled() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("good.jsonl")
                try ImportFixture.write(ImportFixture.good(streams: 5_000, perStream: 10), to: input)
                let ledger = directory.appendingPathComponent("ledger.sqlite")
                for attempt in 1...6 {
                    // 50,000 events: the check reports every 1,024 lines, the restore every 4,096 events. Kill after
                    // one of the first 60 progress lines, in either phase, or as soon as the import has started.
                    let lines = Int.random(in: 0...60)
                    let child = try await SampleProcess.child([
                        "import", "--input", input.path, "--database", ledger.path, "--progress-lines",
                    ])
                    var seen = 0
                    while seen < lines, let line = await child.nextErrorLine() {
                        if line.hasPrefix("import: ") || line.hasPrefix("check: ") { seen += 1 }
                    }
                    child.signal(SIGKILL)
                    let (status, rest) = try await child.finish()
                    // Killed, or (once in a while) done before the signal arrived.
                    if status == 0 {
                        try FileManager.default.removeItem(at: ledger)
                        continue
                    }
                    #expect(status == SIGKILL, "attempt \(attempt) after \(lines) lines: \(rest)")
                    #expect(!FileManager.default.fileExists(atPath: ledger.path), "attempt \(attempt) after \(lines) lines")
                    #expect(!FileManager.default.fileExists(atPath: ledger.path + "-wal"), "attempt \(attempt)")
                }
                // A file of another kind named like a leftover is never removed.
                let lookalike = directory.appendingPathComponent(".ledger.sqlite.restoring-0badcafe")
                try Data("not a store\n".utf8).write(to: lookalike)
                let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", ledger.path])
                #expect(imported.status == 0, "\(imported.standardError)")
                #expect(imported.standardOutput.hasPrefix("imported 50,000 events"), "\(imported.standardOutput)")
                // Every leftover of the killed imports is gone, and only those.
                let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
                #expect(names == [".ledger.sqlite.restoring-0badcafe", "good.jsonl", "ledger.sqlite"], "\(names)")
                #expect(try Data(contentsOf: lookalike) == Data("not a store\n".utf8))
                let inspect = try await SampleProcess.run(["inspect", "--database", ledger.path])
                #expect(inspect.status == 0, "\(inspect.standardError)")
                #expect(inspect.standardOutput.contains("50,000") || inspect.standardOutput.contains("50000"), "\(inspect.standardOutput)")
            }
        }

        @Test(
            "numbers are checked: flags out of range are refused with the range",
            arguments: [
                (["--initial-deposit", "9223372036854775807"], "--initial-deposit must be from 0 to"),
                (["--commands", "9223372036854775807"], "--commands must be from 0 to"),
                (["--accounts", "0"], "--accounts must be from 1 to"),
            ])
        func flagsOutOfRange(arguments: [String], message: String) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let output = try await SampleProcess.run(["run", "--database", ledger, "--quiet"] + arguments)
                #expect(output.status != 0 && output.status < 128, "\(output.status)")
                #expect(output.standardError.contains(message), "\(output.standardError)")
                #expect(!FileManager.default.fileExists(atPath: ledger))
            }
        }

        /// The logs are imported, then changed in the store by hand where the change is one that import refuses (an
        /// event of a type the ledger does not know): `verify` reads what is stored, however it got there.
        @Test(
            "verify fails, without crashing, on a log that does not fold, naming where",
            arguments: [
                (
                    [
                        ImportFixture.line(
                            position: 1, stream: "account-0", version: 1, eventID: ImportFixture.eventID(1), type: "Opened",
                            data: #"{\"initialDeposit\":9223372036854775807}"#),
                        ImportFixture.line(position: 2, stream: "account-0", version: 2, eventID: ImportFixture.eventID(2)),
                    ],
                    nil,
                    "account account-0 at version 2 (position 2)"
                ),
                (
                    [
                        ImportFixture.line(
                            position: 1, stream: "account-0", version: 1, eventID: ImportFixture.eventID(1), type: "Opened",
                            data: #"{\"initialDeposit\":5}"#),
                        ImportFixture.line(
                            position: 2, stream: "account-0", version: 2, eventID: ImportFixture.eventID(2)),
                    ],
                    "UPDATE events SET event_type = 'Teleported' WHERE position = 2;",
                    "position 2"
                ),
                (
                    [
                        ImportFixture.line(
                            position: 1, stream: "account-0", version: 1, eventID: ImportFixture.eventID(1), type: "Opened",
                            data: #"{\"initialDeposit\":5}"#),
                        ImportFixture.line(
                            position: 2, stream: "account-0", version: 2, eventID: ImportFixture.eventID(2), type: "Withdrawn",
                            data: #"{\"amount\":-9223372036854775807}"#),
                    ],
                    nil,
                    "position 2"
                ),
                (
                    // A leading zero is not JSON: JSONDecoder refuses "01000", and so does every reader of the event.
                    // The hand-written fast path read it as 1000, so whether stored bytes decoded hung on whitespace.
                    [
                        ImportFixture.line(
                            position: 1, stream: "account-0", version: 1, eventID: ImportFixture.eventID(1),
                            type: "Opened", data: #"{\"initialDeposit\":01000}"#)
                    ],
                    nil,
                    "position 1"
                ),
                (
                    // A payload without its field: said in words, not as Swift's DecodingError with its coding keys.
                    [
                        ImportFixture.line(
                            position: 1, stream: "account-0", version: 1, eventID: ImportFixture.eventID(1),
                            type: "Opened", data: #"{}"#)
                    ],
                    nil,
                    "event at position 1 (Opened in account-0) does not decode: the field 'initialDeposit' is missing"
                ),
            ])
        func verifyFailsOnALogThatDoesNotFold(lines: [String], edit: String?, message: String) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("log.jsonl")
                try ImportFixture.write(lines, to: input)
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", ledger])
                try #require(imported.status == 0, "\(imported.standardError)")
                if let edit {
                    let edited = try await SampleProcess.tool("sqlite3", [ledger, edit])
                    try #require(edited.status == 0, "\(edited.standardError)")
                }
                let verify = try await SampleProcess.run(["verify", "--database", ledger])
                #expect(verify.status == 1, "\(verify.status): \(verify.standardOutput)\(verify.standardError)")
                #expect((verify.standardOutput + verify.standardError).contains(message), "\(verify.standardOutput)\(verify.standardError)")
            }
        }

        /// `node` printed the client's words for the failed connection (a `SingleConnectionFailure` and an errno) and
        /// exited 1, where `verify` and `cluster` say it in one line and exit 2.
        @Test(
            "an unreachable PostgreSQL server is one clear line and exit status 2",
            arguments: ["verify", "cluster", "node"])
        func unreachablePostgres(command: String) async throws {
            let output = try await SampleProcess.run([command, "--database", "postgres://postgres@127.0.0.1:1/postgres"])
            #expect(output.status == 2, "\(output.standardError)")
            #expect(
                output.standardError == "error: cannot reach PostgreSQL at 127.0.0.1:1 (connection refused)\n",
                "\(output.standardError)")
        }
    
        /// A relative name that starts with `file:` is a file's name. Before, the system SQLite (built to read URIs
        /// everywhere) opened `file:y.sqlite` as the URI of `y.sqlite`: a fresh run refused another program's
        /// `y.sqlite` as "not a Whizbang store" after switching it to WAL mode, and made a ledger named
        /// `file:y.sqlite` meanwhile; export, verify and inspect read `y.sqlite` instead of the file named.
        @Test("a ledger named file:NAME is that file, never the URI of another")
        func aNameThatStartsWithFileIsAFile() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let other = directory.appendingPathComponent("y.sqlite").path
                let made = try await SampleProcess.tool("sqlite3", [
                    other, "CREATE TABLE notes (x); INSERT INTO notes VALUES ('precious');",
                ])
                try #require(made.status == 0, "\(made.standardError)")
                let before = try Data(contentsOf: URL(fileURLWithPath: other))
                let sample = try SampleProcess.executable.path
                func inDirectory(_ arguments: String) async throws -> ProcessOutput {
                    let script = "cd '\(directory.path)' && exec '\(sample)' \(arguments)"
                    return try await SampleProcess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
                }
                let run = try await inDirectory("run --database file:y.sqlite --accounts 30 --commands 100 --quiet")
                #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                let verify = try await inDirectory("verify --database file:y.sqlite")
                #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
                #expect(verify.standardOutput.contains("130 events"), "\(verify.standardOutput)")
                // The other program's database is as it was, and nothing was made beside it.
                #expect(try Data(contentsOf: URL(fileURLWithPath: other)) == before)
                let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
                #expect(names == ["file:y.sqlite", "y.sqlite"], "\(names)")
            }
        }

        /// Whether this process may make a user and mount namespace, for a read-only bind mount of a directory.
        static let mayMountReadOnly: Bool = {
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            probe.arguments = ["--user", "--map-root-user", "--mount", "true"]
            probe.standardError = FileHandle.nullDevice
            guard (try? probe.run()) != nil else { return false }
            probe.waitUntilExit()
            return probe.terminationStatus == 0
        }()

        /// Runs the sample with `arguments` in a user and mount namespace of its own, where the directory `image` is
        /// bind-mounted read-only at `mounted`.
        private func runOnReadOnlyMount(_ image: String, at mounted: String, _ arguments: String) async throws
            -> SampleProcess.Output
        {
            let script =
                "mount --bind '\(image)' '\(mounted)' && mount -o remount,bind,ro '\(mounted)' && exec '"
                + (try SampleProcess.executable.path) + "' " + arguments
            return try await SampleProcess.run(
                URL(fileURLWithPath: "/usr/bin/unshare"), ["--user", "--map-root-user", "--mount", "/bin/sh", "-c", script])
        }

        /// `run --keep` on a ledger it may not write printed SQLite's words ("SQLite error 8: ... cannot be opened
        /// for writing") with exit status 1, where a fresh run refuses the same ledger in a sentence with status 2.
        @Test(
            "run --keep on a ledger on read-only storage is refused in words, exit status 2",
            .enabled(if: mayMountReadOnly, "needs unshare(1) with user and mount namespaces"))
        func keptRunOnReadOnlyStorage() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let image = directory.appendingPathComponent("image").path
                let mounted = directory.appendingPathComponent("mounted").path
                for path in [image, mounted] {
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                }
                try await SampleProcess.makeLedger(image + "/ledger.sqlite")
                let output = try await runOnReadOnlyMount(
                    image, at: mounted, "run --keep --database '\(mounted)/ledger.sqlite' --accounts 5 --commands 5 --quiet")
                #expect(output.status == 2, "\(output.status): \(output.standardError)")
                #expect(output.standardError.contains("cannot be written"), "\(output.standardError)")
                #expect(!output.standardError.contains("SQLite error"), "\(output.standardError)")
            }
        }

        /// On storage it cannot write, a ledger whose WAL holds commits but has no shared-memory file beside it
        /// cannot be read with its WAL, and is refused, with a message that says so (SQLite's own was "unable to open
        /// database file"). Named through a symbolic link, the WAL was looked for beside the link: none was found,
        /// the file was read as immutable without its WAL, and `export` wrote a log short of the WAL's commits, with
        /// a valid end line, exit status 0.
        @Test(
            "a ledger on read-only storage is refused the same through a symbolic link: no export short of its WAL",
            .enabled(if: mayMountReadOnly, "needs unshare(1) with user and mount namespaces"))
        func readOnlyStorageThroughASymbolicLink() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let manager = FileManager.default
                let live = directory.appendingPathComponent("live").path
                let image = directory.appendingPathComponent("image").path
                let mounted = directory.appendingPathComponent("mounted").path
                for path in [live, image, mounted] {
                    try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
                }
                // A run killed while its last commits are still in the WAL.
                let ledger = live + "/ledger.sqlite"
                let running = try await SampleProcess.child([
                    "run", "--database", ledger, "--accounts", "100", "--commands", "10000000", "--quiet",
                ])
                // The run prints nothing as its WAL grows: the kernel's notices of its writes wake the wait.
                try await FileGrowth.wait(for: ledger + "-wal", toReach: 1 << 20, within: .seconds(120))
                running.signal(SIGKILL)
                _ = try? await running.exitStatus()
                // A copy of the database and its WAL, without the shared-memory file, as backups are often made.
                for name in ["ledger.sqlite", "ledger.sqlite-wal"] {
                    try manager.copyItem(atPath: live + "/" + name, toPath: image + "/" + name)
                }
                try manager.createSymbolicLink(atPath: image + "/current.sqlite", withDestinationPath: "ledger.sqlite")
                var outcomes: [Int32] = []
                for name in ["ledger", "current"] {
                    let export = directory.appendingPathComponent("\(name).jsonl").path
                    let output = try await runOnReadOnlyMount(
                        image, at: mounted, "export --database '\(mounted)/\(name).sqlite' --output '\(export)'")
                    outcomes.append(output.status)
                    #expect(output.status != 0, "\(name): \(output.standardOutput)\(output.standardError)")
                    #expect(!manager.fileExists(atPath: export), "\(name): an export was written")
                    // The refusal says why, not SQLite's "unable to open database file".
                    #expect(
                        output.standardError.contains("is on read-only storage with a WAL file")
                            && output.standardError.contains("Copy the database and its WAL"),
                        "\(name): \(output.standardError)")
                }
                #expect(outcomes[0] == outcomes[1], "\(outcomes)")
            }
        }
    }
}
