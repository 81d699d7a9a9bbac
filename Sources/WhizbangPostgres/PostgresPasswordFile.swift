/// libpq's password file (`~/.pgpass`): lines of `hostname:port:database:username:password`, where a field may be
/// `*` to match anything, `\:` and `\\` stand for a colon and a backslash, and lines starting with `#` are comments.
/// The first line that matches gives the password.
struct PostgresPasswordFile {
    private var entries: [[String]] = []

    init(contents: String) {
        for line in contents.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            var fields: [String] = []
            var field = ""
            var escaped = false
            for character in line {
                if escaped {
                    field.append(character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == ":" && fields.count < 4 {
                    fields.append(field)
                    field = ""
                } else {
                    field.append(character)
                }
            }
            fields.append(field)
            if fields.count == 5 { entries.append(fields) }
        }
    }

    /// The password of the first entry matching the connection, or `nil`.
    func password(host: String, port: Int, database: String, username: String) -> String? {
        let wanted = [host, "\(port)", database, username]
        for entry in entries {
            let matches = zip(entry.prefix(4), wanted).allSatisfy { pattern, value in pattern == "*" || pattern == value }
            if matches { return entry[4] }
        }
        return nil
    }
}
