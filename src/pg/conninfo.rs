//! libpq connection strings (`host=… port=… user=…`) as a standby's `primary_conninfo` takes them: parsed the way libpq parses them, shown with secrets masked.
//!
//! walden writes the string into `postgresql.auto.conf` as given, so that
//! the standby's walreceiver (libpq) reads exactly what the operator wrote;
//! the parse only catches what libpq would refuse at every retry, finds the
//! server to create a replication slot on, and masks passwords wherever the
//! string is printed or logged.

use std::fmt;

use super::control::ConnectOptions;
use super::tls::{SslMode, TlsOptions};

/// Keywords whose values are secrets (libpq's "*" display-type options, and
/// the OAuth client secret of PostgreSQL 18).
const SECRET_KEYWORDS: [&str; 3] = ["password", "sslpassword", "oauth_client_secret"];

/// What a masked secret reads as.
const MASK: &str = "********";

/// A parsed key/value connection string, in the order written. A keyword
/// given twice takes its last value, as in libpq.
#[derive(Clone, PartialEq, Eq)]
pub struct Conninfo {
    /// The string as given, which is what gets written for the server.
    text: String,
    pairs: Vec<(String, String)>,
}

/// Never print a secret, even in debug output.
impl fmt::Debug for Conninfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Conninfo({})", self.masked())
    }
}

/// Why a connection string cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConninfoError {
    #[error("{0}")]
    Syntax(String),
    /// Valid for libpq, but not something walden's own connection can do.
    #[error("{0}")]
    Unsupported(String),
}

impl Conninfo {
    /// Parses `text` with libpq's rules for key/value strings: keywords
    /// and `=` separated by optional white space; a value is a run of
    /// non-space characters or a single-quoted string, and a backslash
    /// takes the next character literally in both.
    ///
    /// URIs (`postgresql://…`) are refused: libpq would take them, but
    /// walden masks and reads the key/value form only.
    pub fn parse(text: &str) -> Result<Conninfo, ConninfoError> {
        let syntax = |problem: String| ConninfoError::Syntax(problem);
        if text.starts_with("postgresql://") || text.starts_with("postgres://") {
            return Err(syntax(
                "is a URI; write it as key=value pairs, like 'host=primary.example port=5432 user=replicator' (the form pg_basebackup -R writes)".to_owned(),
            ));
        }
        if text.contains('\0') {
            return Err(syntax("contains a NUL character".to_owned()));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut chars = text.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.peek().is_none() {
                break;
            }
            let mut keyword = String::new();
            while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
                keyword.push(c);
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.next() != Some('=') {
                // A word after a secret is most likely the rest of an
                // unquoted secret with a space in it: not to be echoed.
                return Err(syntax(match pairs.last() {
                    Some((previous, _)) if is_secret(previous.as_str()) => format!(
                        "missing \"=\" after the value of {previous} (quote a value that holds spaces: {previous}='…')"
                    ),
                    _ => format!(
                        "missing \"=\" after {keyword:?} (expected keyword=value pairs separated by spaces)"
                    ),
                }));
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let mut value = String::new();
            if chars.next_if_eq(&'\'').is_some() {
                loop {
                    match chars.next() {
                        None => {
                            return Err(syntax(format!(
                                "the quoted value of {keyword:?} is not terminated"
                            )))
                        }
                        Some('\\') => value.extend(chars.next()),
                        Some('\'') => break,
                        Some(c) => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    if c == '\\' {
                        value.extend(chars.next());
                    } else {
                        value.push(c);
                    }
                }
            }
            pairs.push((keyword, value));
        }
        if pairs.is_empty() {
            return Err(syntax(
                "is empty; give at least the primary's host, like 'host=primary.example user=replicator'".to_owned(),
            ));
        }
        Ok(Conninfo {
            text: text.to_owned(),
            pairs,
        })
    }

    /// The string as given (with its secrets): only for the server's
    /// configuration, never for output.
    pub fn as_written(&self) -> &str {
        &self.text
    }

    /// The value of `keyword`: the last one given, as libpq takes it.
    pub fn get(&self, keyword: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == keyword)
            .map(|(_, v)| v.as_str())
    }

    /// How walden reaches the server this string names, to create a
    /// replication slot there: host (or hostaddr), port, user and password
    /// from the string, the `postgres` database unless it names one (a
    /// physical standby's string usually names none, and the replication
    /// role seldom has a database of its own name); anything unset comes
    /// from the `PG*` environment and libpq's defaults, as for the standby
    /// (`ConnectOptions::with_pg_env`).
    /// What walden's own connection cannot do is refused, rather than
    /// connecting somewhere or somehow other than the standby will.
    pub fn connect_options(&self) -> Result<ConnectOptions, ConninfoError> {
        let refuse = |problem: String| Err(ConninfoError::Unsupported(problem));
        if let Some(service) = self.get("service") {
            return refuse(format!(
                "service={service}: walden does not read pg_service.conf; write host, port and user out"
            ));
        }
        let host = self.get("hostaddr").or(self.get("host"));
        if host.is_some_and(|h| h.contains(','))
            || self.get("port").is_some_and(|p| p.contains(','))
        {
            return refuse(
                "several hosts: which one is the primary is decided when the standby connects"
                    .to_owned(),
            );
        }
        let port = match self.get("port") {
            None | Some("") => None,
            Some(text) => match text.parse::<u16>() {
                Ok(port) if port != 0 => Some(port),
                _ => {
                    return Err(ConninfoError::Syntax(format!(
                        "port={text} is not a TCP port number"
                    )))
                }
            },
        };
        let nonempty = |key: &str| self.get(key).filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(ConnectOptions {
            host: host.filter(|h| !h.is_empty()).map(str::to_owned),
            port,
            user: nonempty("user"),
            database: Some(nonempty("dbname").unwrap_or_else(|| "postgres".to_owned())),
            password: nonempty("password"),
            // The standby's walreceiver reads the same TLS settings, so
            // the slot is made over a connection as protected as its own.
            tls: TlsOptions {
                mode: match nonempty("sslmode") {
                    Some(text) => text.parse().map_err(ConninfoError::Unsupported)?,
                    None => SslMode::default(),
                },
                root_cert: nonempty("sslrootcert").map(Into::into),
                cert: nonempty("sslcert").map(Into::into),
                key: nonempty("sslkey").map(Into::into),
                home: None,
            },
            passfile: nonempty("passfile").map(Into::into),
        })
    }

    /// The string with every secret replaced by `********`, for logs and
    /// summaries.
    pub fn masked(&self) -> String {
        self.pairs
            .iter()
            .map(|(keyword, value)| {
                let value = if is_secret(keyword) { MASK } else { value };
                format!("{keyword}={}", quote_value(value))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn is_secret(keyword: &str) -> bool {
    SECRET_KEYWORDS.contains(&keyword)
}

/// A value as libpq reads it back: bare when it can be, else single-quoted
/// with quotes and backslashes escaped.
fn quote_value(value: &str) -> String {
    if !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
    {
        return value.to_owned();
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        Conninfo::parse(text).unwrap().pairs
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn parses_like_libpq() {
        assert_eq!(
            pairs("host=/run/postgresql port=5433 user=postgres"),
            [
                pair("host", "/run/postgresql"),
                pair("port", "5433"),
                pair("user", "postgres")
            ]
        );
        assert_eq!(
            pairs("  host = 'db one'  password='it\\'s \\\\ x' application_name=a\\ b "),
            [
                pair("host", "db one"),
                pair("password", "it's \\ x"),
                pair("application_name", "a b")
            ]
        );
        assert_eq!(pairs("dbname=''"), [pair("dbname", "")]);
        let info = Conninfo::parse("user=a user=b").unwrap();
        assert_eq!(info.get("user"), Some("b"));
        assert_eq!(info.get("host"), None);
    }

    #[test]
    fn refuses_what_libpq_would_refuse() {
        for (text, words) in [
            ("", "empty"),
            ("   ", "empty"),
            ("host", "missing \"=\" after \"host\""),
            ("host primary", "missing \"=\""),
            ("host='primary", "not terminated"),
            ("postgresql://rep:pw@primary/db", "URI"),
            ("postgres://primary", "URI"),
            ("host=a\0b", "NUL"),
            ("password=two words", "after the value of password"),
        ] {
            let err = Conninfo::parse(text).unwrap_err().to_string();
            assert!(err.contains(words), "{text:?}: {err}");
            assert!(!err.contains("words"), "{text:?}: {err}");
        }
    }

    #[test]
    fn secrets_are_masked_and_the_rest_kept() {
        let info =
            Conninfo::parse("host=primary user=replicator password='s3cr3t pw' sslpassword=k2")
                .unwrap();
        let masked = info.masked();
        assert_eq!(
            masked,
            "host=primary user=replicator password=******** sslpassword=********"
        );
        assert!(!format!("{info:?}").contains("s3cr3t"));
        assert_eq!(info.get("password"), Some("s3cr3t pw"));
    }

    #[test]
    fn masked_text_parses_back_to_the_same_values() {
        let text = r"host='a b' options='-c x=\'y\'' dbname=\\d user=''";
        let info = Conninfo::parse(text).unwrap();
        assert_eq!(Conninfo::parse(&info.masked()).unwrap().pairs, info.pairs);
    }
    #[test]
    fn the_slot_connection_goes_where_the_standby_will() {
        let info = Conninfo::parse("host=/run/pg port=5433 user=rep password=pw").unwrap();
        let opts = info.connect_options().unwrap();
        assert_eq!(opts.host.as_deref(), Some("/run/pg"));
        assert_eq!(opts.port, Some(5433));
        assert_eq!(opts.user.as_deref(), Some("rep"));
        assert_eq!(opts.password.as_deref(), Some("pw"));
        assert_eq!(opts.database.as_deref(), Some("postgres"));
        let info = Conninfo::parse("host=primary hostaddr=10.0.0.5 dbname=app").unwrap();
        let opts = info.connect_options().unwrap();
        assert_eq!(opts.host.as_deref(), Some("10.0.0.5"));
        assert_eq!(opts.database.as_deref(), Some("app"));
    }

    #[test]
    fn the_slot_connection_refuses_what_walden_cannot_do() {
        for (text, words) in [
            ("host=a,b", "several hosts"),
            ("host=a port=5432,5433", "several hosts"),
            ("service=prod", "pg_service.conf"),
            ("host=a sslmode=allow", "\"allow\" is not supported"),
            ("host=a sslmode=secure", "invalid sslmode"),
            ("host=a port=x", "not a TCP port"),
            ("host=a port=0", "not a TCP port"),
        ] {
            let err = Conninfo::parse(text)
                .unwrap()
                .connect_options()
                .unwrap_err()
                .to_string();
            assert!(err.contains(words), "{text}: {err}");
        }
        Conninfo::parse("host=a sslmode=prefer")
            .unwrap()
            .connect_options()
            .unwrap();
    }

    #[test]
    fn the_slot_connection_uses_the_standbys_tls_settings() {
        let opts = Conninfo::parse(
            "host=a sslmode=verify-full sslrootcert=/etc/ca.pem sslcert=/c.crt sslkey=/c.key passfile=/pw",
        )
        .unwrap()
        .connect_options()
        .unwrap();
        assert_eq!(opts.tls.mode, SslMode::VerifyFull);
        assert_eq!(
            opts.tls.root_cert.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        assert_eq!(
            opts.tls.cert.as_deref(),
            Some(std::path::Path::new("/c.crt"))
        );
        assert_eq!(
            opts.tls.key.as_deref(),
            Some(std::path::Path::new("/c.key"))
        );
        assert_eq!(opts.passfile.as_deref(), Some(std::path::Path::new("/pw")));
        let require = Conninfo::parse("host=a sslmode=require").unwrap();
        assert_eq!(
            require.connect_options().unwrap().tls.mode,
            SslMode::Require
        );
    }
}
