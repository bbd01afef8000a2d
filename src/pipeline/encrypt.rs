//! The age encryption stage: X25519 recipients and identities, binary (unarmored) age streams.

use std::{
    fmt,
    io::{self, BufRead, Write},
    path::Path,
};

use age::{stream::StreamReader, stream::StreamWriter, x25519, DecryptError};

use super::error::{is_source_error, StageKind};
use super::PipelineError;

/// Public keys to encrypt to; empty means objects are not encrypted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Recipients(Vec<x25519::Recipient>);

impl Recipients {
    pub fn none() -> Self {
        Recipients(Vec::new())
    }

    /// Parses `age1…` public keys (as printed by `age-keygen -y`).
    pub fn parse(keys: &[String]) -> Result<Self, PipelineError> {
        let parsed = keys
            .iter()
            .map(|key| parse_recipient(key.trim()).map_err(PipelineError::InvalidKey))
            .collect::<Result<_, _>>()?;
        Ok(Recipients(parsed))
    }

    /// Reads a recipients file: one `age1…` key per line, `#` comments and
    /// blank lines allowed (age's `-R` format).
    pub fn from_file(path: &Path) -> Result<Self, PipelineError> {
        let text = read_key_file(path, "recipients")?;
        let mut keys = Vec::new();
        for (number, line) in key_lines(&text) {
            let key = parse_recipient(line).map_err(|e| {
                PipelineError::InvalidKey(format!("{}, line {number}: {e}", path.display()))
            })?;
            keys.push(key);
        }
        Ok(Recipients(keys))
    }

    pub fn extend(&mut self, other: Recipients) {
        for key in other.0 {
            if !self.0.contains(&key) {
                self.0.push(key);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

fn parse_recipient(key: &str) -> Result<x25519::Recipient, String> {
    if key.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
        // Never echo a secret key into logs.
        return Err("this is a secret key (identity), not a recipient: \
                    use the public key printed by `age-keygen -y`"
            .into());
    }
    key.parse().map_err(|e| {
        format!("invalid age recipient {key:?}: {e} (expected an X25519 public key, age1…)")
    })
}

/// Secret keys that can decrypt objects.
#[derive(Clone, Default)]
pub struct Identities(Vec<x25519::Identity>);

impl Identities {
    pub fn none() -> Self {
        Identities(Vec::new())
    }

    /// Reads an identity file as written by `age-keygen`: `AGE-SECRET-KEY-1…`
    /// lines, `#` comments and blank lines.
    /// A file others can read is used, with a warning: refusing it would
    /// stop a restore at the worst moment, but the operator must hear that
    /// anyone who can read it can decrypt every backup.
    pub fn from_file(path: &Path) -> Result<Self, PipelineError> {
        let text = read_key_file(path, "identity")?;
        if let Some(mode) = exposed_mode(path) {
            tracing::warn!(
                "age identity file {} is readable or writable by group or others (mode {mode:04o}): whoever can read it can decrypt every backup; fix with: chmod 600 {}",
                path.display(),
                path.display()
            );
        }
        let mut keys = Vec::new();
        for (number, line) in key_lines(&text) {
            // The line is a secret: report only where it is.
            let key = line.parse().map_err(|_| {
                PipelineError::InvalidKey(format!(
                    "{}, line {number}: not an age X25519 identity \
                     (expected AGE-SECRET-KEY-1…, as written by age-keygen)",
                    path.display()
                ))
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            let msg = format!("{}: contains no age identities", path.display());
            return Err(PipelineError::InvalidKey(msg));
        }
        Ok(Identities(keys))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    pub(super) fn from_keys(keys: Vec<x25519::Identity>) -> Self {
        Identities(keys)
    }

    #[cfg(test)]
    pub(super) fn recipients(&self) -> Recipients {
        Recipients(self.0.iter().map(x25519::Identity::to_public).collect())
    }

    /// Reads the age header from `src` and returns a reader of the payload.
    pub(super) fn decrypt<R: BufRead>(&self, src: R) -> Result<StreamReader<R>, PipelineError> {
        let decryptor = age::Decryptor::new_buffered(src).map_err(decrypt_error)?;
        let identities = self.0.iter().map(|key| key as &dyn age::Identity);
        decryptor.decrypt(identities).map_err(decrypt_error)
    }
}

impl fmt::Debug for Identities {
    /// Never prints the keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("keys", &self.0.len())
            .finish()
    }
}

fn decrypt_error(e: DecryptError) -> PipelineError {
    let msg = match e {
        DecryptError::Io(io) if is_source_error(&io) => return io.into(),
        DecryptError::NoMatchingKeys => "none of the given age identities can decrypt this object \
                                         (wrong --decrypt-identity?)"
            .to_string(),
        DecryptError::Io(io) => format!("damaged or truncated age header: {io}"),
        DecryptError::InvalidHeader | DecryptError::UnknownFormat => {
            "not an age file, or its header is damaged".to_string()
        }
        other => format!("age header: {other}"),
    };
    PipelineError::Decrypt(msg)
}

/// What `StreamReader` errors mean, for error messages.
pub(super) const PAYLOAD_STAGE: (StageKind, &str) = (
    StageKind::Decrypt,
    "age payload damaged, truncated or tampered with",
);

fn read_key_file(path: &Path, what: &str) -> Result<String, PipelineError> {
    std::fs::read_to_string(path).map_err(|e| {
        PipelineError::InvalidKey(format!(
            "cannot read age {what} file {}: {e}",
            path.display()
        ))
    })
}

/// The permission bits of `path` when group or others have any access to
/// it (as ssh judges private keys). Following a symlink, as reading did.
fn exposed_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Non-comment, non-blank lines with their 1-based line numbers.
fn key_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

/// The bytes under the compressor: plain, or an age stream.
pub(super) enum Sink<W: Write> {
    Plain(W),
    Age(StreamWriter<W>),
}

impl<W: Write> Sink<W> {
    /// Writes the age header right away when there are recipients.
    pub(super) fn new(sink: W, recipients: &Recipients) -> Result<Self, PipelineError> {
        if recipients.is_empty() {
            return Ok(Sink::Plain(sink));
        }
        let keys = recipients.0.iter().map(|key| key as &dyn age::Recipient);
        let encryptor = age::Encryptor::with_recipients(keys)
            .map_err(|e| PipelineError::InvalidKey(e.to_string()))?;
        Ok(Sink::Age(encryptor.wrap_output(sink)?))
    }

    /// Writes the final age chunk; without it the stream does not decrypt.
    pub(super) fn finish(self) -> io::Result<W> {
        match self {
            Sink::Plain(sink) => Ok(sink),
            Sink::Age(writer) => writer.finish(),
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Age(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(buf),
            Sink::Age(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Age(w) => w.flush(),
        }
    }
}

/// Upper bound of the age overhead for `len` payload bytes, for preallocation.
pub(super) fn encrypted_overhead_bound(len: usize, recipients: &Recipients) -> usize {
    if recipients.is_empty() {
        return 0;
    }
    const HEADER: usize = 256; // version line, MAC line, nonce
    const PER_RECIPIENT: usize = 128; // one X25519 stanza
    const CHUNK: usize = 64 * 1024;
    const TAG: usize = 16;
    HEADER + PER_RECIPIENT * recipients.len() + TAG * (len / CHUNK + 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn identity_files_others_can_touch_are_exposed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "key.txt", "");
        for (mode, exposed) in [
            (0o600, None),
            (0o400, None),
            (0o644, Some(0o644)),
            (0o640, Some(0o640)),
            (0o604, Some(0o604)),
            (0o620, Some(0o620)),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(exposed_mode(&path), exposed, "{mode:o}");
        }
        assert_eq!(exposed_mode(&dir.path().join("absent")), None);
    }

    #[test]
    fn recipients_file_with_comments_and_blank_lines() {
        let a = x25519::Identity::generate().to_public().to_string();
        let b = x25519::Identity::generate().to_public().to_string();
        let dir = tempfile::tempdir().unwrap();
        let text = format!("# ops team\n\n{a}\n   \n# backup host\n  {b}  \n");
        let recipients = Recipients::from_file(&write(dir.path(), "r.txt", &text)).unwrap();
        assert_eq!(recipients.len(), 2);
        assert_eq!(recipients, Recipients::parse(&[a, b]).unwrap());
    }

    #[test]
    fn recipients_file_errors_name_path_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "r.txt", "# c\nage1notakey\n");
        let err = Recipients::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("r.txt, line 2"), "{err}");
        let missing = Recipients::from_file(&dir.path().join("nope")).unwrap_err();
        assert!(
            matches!(&missing, PipelineError::InvalidKey(m) if m.contains("nope")),
            "{missing}"
        );
    }

    #[test]
    fn secret_keys_are_rejected_as_recipients_without_echo() {
        let secret = x25519::Identity::generate()
            .to_string()
            .expose_secret()
            .to_string();
        let err = Recipients::parse(std::slice::from_ref(&secret))
            .unwrap_err()
            .to_string();
        assert!(err.contains("secret key"), "{err}");
        assert!(!err.contains(&secret[20..]), "secret leaked: {err}");
    }

    #[test]
    fn extend_deduplicates() {
        let a = Recipients::parse(&[x25519::Identity::generate().to_public().to_string()]).unwrap();
        let mut all = a.clone();
        all.extend(a.clone());
        assert_eq!(all.len(), 1);
        all.extend(Recipients::none());
        assert!(!all.is_empty());
        assert!(Recipients::none().is_empty());
    }

    #[test]
    fn identity_file_as_age_keygen_writes_it() {
        let key = x25519::Identity::generate();
        let text = format!(
            "# created: 2026-01-01T00:00:00Z\n# public key: {}\n{}\n",
            key.to_public(),
            key.to_string().expose_secret()
        );
        let dir = tempfile::tempdir().unwrap();
        let ids = Identities::from_file(&write(dir.path(), "key.txt", &text)).unwrap();
        assert!(!ids.is_empty());
        assert_eq!(format!("{ids:?}"), "Identities { keys: 1 }");
    }

    #[test]
    fn bad_identity_files_do_not_leak_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "key.txt", "AGE-SECRET-KEY-1SOMETHINGSECRET\n");
        let err = Identities::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("key.txt, line 1"), "{err}");
        assert!(!err.contains("SOMETHINGSECRET"), "{err}");
        let empty = write(dir.path(), "empty.txt", "# nothing\n");
        let err = Identities::from_file(&empty).unwrap_err().to_string();
        assert!(err.contains("no age identities"), "{err}");
    }
}
