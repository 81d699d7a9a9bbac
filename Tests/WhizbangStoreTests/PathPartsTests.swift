import Foundation
import Testing
import WhizbangStore

@Suite("A path split as the kernel splits it")
struct PathPartsTests {
    @Test(
        arguments: [
            ("ledger.sqlite", "", "ledger.sqlite"),
            ("/ledger.sqlite", "/", "ledger.sqlite"),
            ("/data/ledger.sqlite", "/data", "ledger.sqlite"),
            ("data/ledger.sqlite/", "data", "ledger.sqlite"),
            // `link/..` is the parent of the directory the link names, which only the kernel knows.
            ("work/link/../ledger.sqlite", "work/link/..", "ledger.sqlite"),
            ("/work/link/../ledger.sqlite", "/work/link/..", "ledger.sqlite"),
            ("./ledger.sqlite", ".", "ledger.sqlite"),
        ])
    func splits(path: String, directory: String, name: String) {
        let parts = PathParts(path)
        // A relative path is taken from the working directory.
        let working = FileManager.default.currentDirectoryPath
        let directory = path.hasPrefix("/") ? directory : directory.isEmpty ? working : working + "/" + directory
        #expect(parts.directory == directory)
        #expect(parts.name == name)
        #expect(parts.sibling(".temporary") == (directory == "/" ? "/.temporary" : directory + "/.temporary"))
    }
}
