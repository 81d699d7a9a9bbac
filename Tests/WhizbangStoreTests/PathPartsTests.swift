import Testing
import WhizbangStore

@Suite("A path split as the kernel splits it")
struct PathPartsTests {
    @Test(
        arguments: [
            ("ledger.sqlite", ".", "ledger.sqlite"),
            ("/ledger.sqlite", "/", "ledger.sqlite"),
            ("data/ledger.sqlite", "data", "ledger.sqlite"),
            ("data/ledger.sqlite/", "data", "ledger.sqlite"),
            // `link/..` is the parent of the directory the link names, which only the kernel knows.
            ("work/link/../ledger.sqlite", "work/link/..", "ledger.sqlite"),
            ("./ledger.sqlite", ".", "ledger.sqlite"),
        ])
    func splits(path: String, directory: String, name: String) {
        let parts = PathParts(path)
        #expect(parts.directory == directory)
        #expect(parts.name == name)
        #expect(parts.sibling(".temporary") == (directory == "/" ? "/.temporary" : directory + "/.temporary"))
    }
}
