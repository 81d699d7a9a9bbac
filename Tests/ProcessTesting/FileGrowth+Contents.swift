import Foundation

extension FileGrowth {
    /// Returns once the file at `path` holds `text`, `times` times or more, read again at each growth of the file that
    /// the kernel notices (``wait(for:toReach:within:)``): for a file that another process only appends to, such as
    /// strace's output.
    ///
    /// - Returns: The file's contents then.
    /// - Throws: ``TimedOut`` if the file does not hold `text` so many times after `limit`.
    @discardableResult
    public static func wait(for path: String, toContain text: String, times: Int = 1, within limit: Duration)
        async throws -> String
    {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while true {
            let contents = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
            let string = String(decoding: contents, as: UTF8.self)
            if string.components(separatedBy: text).count - 1 >= times { return string }
            let remaining = clock.now.duration(to: deadline)
            do {
                guard remaining > .zero else { throw TimedOut(description: "") }
                try await wait(for: path, toReach: contents.count + 1, within: remaining)
            } catch is TimedOut {
                throw TimedOut(description: "\(path) did not hold \"\(text)\" \(times) times after \(limit)")
            }
        }
    }
}
