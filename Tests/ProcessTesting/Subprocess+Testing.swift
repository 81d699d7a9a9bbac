import Subprocess

extension Environment {
    /// The test process's environment with `changes` made: a `nil` value removes the variable.
    static func inherit(changing changes: [String: String?]) -> Environment {
        var keyed: [Environment.Key: String?] = [:]
        for (name, value) in changes {
            guard let key = Environment.Key(rawValue: name) else { continue }
            keyed[key] = value
        }
        return keyed.isEmpty ? .inherit : .inherit.updating(keyed)
    }
}

extension TerminationStatus {
    /// The exit status, or the number of the signal that ended the process, as Foundation's
    /// `Process.terminationStatus` gives them.
    var code: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): signal
        }
    }
}
