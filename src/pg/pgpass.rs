//! libpq's password file (`PGPASSFILE` or `~/.pgpass`): `hostname:port:database:username:password` lines, first match wins.

use std::path::{Path, PathBuf};

/// The host name a Unix-socket connection matches in the file (libpq's
/// rule: the socket directory is never written there).
const SOCKET_HOST: &str = "localhost";

/// What a connection is matched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgpassQuery<'a> {
    /// A host name or address, or a socket directory (starting with '/').
    pub host: &'a str,
    pub port: u16,
    /// `replication` for a replication connection, as in libpq.
    pub database: &'a str,
    pub user: &'a str,
}

/// The password of the first line matching `query`, libpq's way: each of
/// the first four fields is `*` or equal to the connection's value; `\`
/// takes the next character literally (so `\:` and `\\`); lines starting
/// with `#` and lines with fewer than five fields are skipped.
pub fn find_password(text: &str, query: &PgpassQuery<'_>) -> Option<String> {
    let host = if query.host.starts_with('/') || query.host.is_empty() {
        SOCKET_HOST
    } else {
        query.host
    };
    let port = query.port.to_string();
    let wanted = [host, port.as_str(), query.database, query.user];
    text.lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.starts_with('#'))
        .filter_map(split_line)
        .find(|fields| {
            fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, value)| field == "*" || field == value)
        })
        .map(|mut fields| fields.swap_remove(4))
}

/// The five fields of a line with escapes resolved; the password is the
/// rest of the line, colons and all.
fn split_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::with_capacity(5);
    let mut current = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if fields.len() < 4 {
        return None;
    }
    fields.push(current);
    Some(fields)
}

/// Where libpq looks: `PGPASSFILE`, else `.pgpass` in the home directory.
pub fn path_from(passfile: Option<String>, home: Option<&Path>) -> Option<PathBuf> {
    match passfile.filter(|p| !p.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None => home.map(|home| home.join(".pgpass")),
    }
}

/// Reads the password file at `path` and looks `query` up. A missing file
/// is no password; a file others may read is ignored with a warning (as
/// libpq does: a password file is a secret), and so is an unreadable one.
pub fn lookup(path: &Path, query: &PgpassQuery<'_>) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        // Like libpq: a file this account cannot even see (a home
        // directory of another user, say) is no file, silently.
        Err(e) => {
            tracing::debug!(file = %path.display(), "no password file: {e}");
            return None;
        }
    };
    if !meta.is_file() {
        tracing::warn!(file = %path.display(), "ignoring the password file: it is not a plain file");
        return None;
    }
    if meta.mode() & 0o077 != 0 {
        tracing::warn!(
            file = %path.display(),
            "ignoring the password file: it has group or world access (permissions {:04o}); permissions should be u=rw (0600) or less",
            meta.mode() & 0o777
        );
        return None;
    }
    match std::fs::read_to_string(path) {
        Ok(text) => find_password(&text, query),
        Err(e) => {
            tracing::warn!(file = %path.display(), "ignoring the password file: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query<'a>(host: &'a str, database: &'a str) -> PgpassQuery<'a> {
        PgpassQuery {
            host,
            port: 5432,
            database,
            user: "backup",
        }
    }

    #[test]
    fn first_matching_line_wins_with_wildcards() {
        let text = "\
# comment: db.example:5432:*:backup:commented
db.example:5433:*:backup:other-port
db.example:5432:app:backup:exact
*:*:*:backup:fallback
";
        assert_eq!(
            find_password(text, &query("db.example", "app")).as_deref(),
            Some("exact")
        );
        assert_eq!(
            find_password(text, &query("db.example", "postgres")).as_deref(),
            Some("fallback")
        );
        let stranger = PgpassQuery {
            user: "nobody",
            ..query("db.example", "app")
        };
        assert_eq!(find_password(text, &stranger), None);
    }

    #[test]
    fn escapes_and_colons_in_passwords() {
        let text = "h\\:x:5432:*:backup:pa\\:ss\\\\word:with:colons\r\n";
        assert_eq!(
            find_password(text, &query("h:x", "app")).as_deref(),
            Some("pa:ss\\word:with:colons")
        );
        assert_eq!(
            find_password("too:few:fields:here\n", &query("too", "x")),
            None
        );
    }

    #[test]
    fn sockets_match_localhost_and_replication_matches_its_name() {
        let text = "localhost:5432:replication:backup:repl\nlocalhost:5432:*:backup:any\n";
        assert_eq!(
            find_password(text, &query("/var/run/postgresql", "replication")).as_deref(),
            Some("repl")
        );
        assert_eq!(
            find_password(text, &query("/tmp", "app")).as_deref(),
            Some("any")
        );
        assert_eq!(find_password(text, &query("127.0.0.1", "app")), None);
    }

    #[test]
    fn the_file_is_found_and_must_be_private() {
        assert_eq!(
            path_from(Some("/etc/pw".into()), Some(Path::new("/home/op"))),
            Some(PathBuf::from("/etc/pw"))
        );
        assert_eq!(
            path_from(Some(String::new()), Some(Path::new("/home/op"))),
            Some(PathBuf::from("/home/op/.pgpass"))
        );
        assert_eq!(path_from(None, None), None);

        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        let q = query("db", "app");
        assert_eq!(lookup(&file, &q), None);
        std::fs::write(&file, "*:*:*:*:secret\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(lookup(&file, &q), None, "group/world readable is ignored");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&file, &q).as_deref(), Some("secret"));
    }
}
