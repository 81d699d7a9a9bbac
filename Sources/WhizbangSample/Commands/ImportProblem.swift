/// What is wrong with one line of an import file, before the file name and line number are added.
struct ImportProblem: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
