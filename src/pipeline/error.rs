//! Pipeline errors, and tracing an `io::Error` from deep in a reader chain back to the stage that raised it.

use std::{error::Error as StdError, fmt, io};

/// What went wrong while encoding or decoding an object.
///
/// Callers pick exit codes from the variant (a corrupt or undecryptable WAL
/// segment must stop recovery, an I/O error may be retried), so decoding
/// failures must never surface as `Io`.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Reading the stored bytes or writing the output failed.
    #[error(transparent)]
    Io(io::Error),
    /// The object is encrypted and no identity was configured.
    #[error(
        "object is encrypted with age but no identity was given: pass --decrypt-identity FILE \
         (an age identity file, as written by age-keygen)"
    )]
    NoIdentity,
    /// Wrong key, no matching identity, or a damaged/tampered age stream.
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    /// A zstd/snappy stream is invalid or truncated, or has trailing data.
    #[error("corrupt object: {0}")]
    Corrupt(String),
    /// A recipient string, recipients file or identity file is unusable.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The plaintext does not hash to the recorded checksum.
    #[error("checksum mismatch: plaintext sha256 is {actual}, expected {expected}")]
    ChecksumMismatch { expected: String, actual: String },
}

/// Which decoding stage produced an error, so it can be mapped to a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StageKind {
    Decrypt,
    Decompress,
}

/// An error raised by a decoding stage itself (not passed through from below).
#[derive(Debug)]
pub(super) struct StageError {
    kind: StageKind,
    message: String,
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for StageError {}

impl StageError {
    fn to_pipeline_error(&self) -> PipelineError {
        match self.kind {
            StageKind::Decrypt => PipelineError::Decrypt(self.message.clone()),
            StageKind::Decompress => PipelineError::Corrupt(self.message.clone()),
        }
    }
}

/// An error from the stored-bytes source: a genuine I/O failure.
///
/// Transparent (same Display and source as the wrapped error) so that log
/// lines read the same as the original.
#[derive(Debug)]
pub(super) struct SourceError(io::Error);

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for SourceError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

enum Tag<'e> {
    Stage(&'e StageError),
    Source,
}

/// Looks for our tag anywhere in the error's chain: callers (a tar reader,
/// say) may have wrapped the error we returned in one of their own.
fn find_tag(e: &io::Error) -> Option<Tag<'_>> {
    let mut cur: Option<&(dyn StdError + 'static)> = e.get_ref().map(|inner| inner as _);
    // Bounded: a cyclic `source()` chain must not hang error reporting.
    for _ in 0..32 {
        let err = cur?;
        if let Some(stage) = err.downcast_ref::<StageError>() {
            return Some(Tag::Stage(stage));
        }
        if err.is::<SourceError>() {
            return Some(Tag::Source);
        }
        cur = match err.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => err.source(),
        };
    }
    None
}

fn is_tagged(e: &io::Error) -> bool {
    matches!(
        e.get_ref(),
        Some(inner) if inner.is::<StageError>() || inner.is::<SourceError>()
    )
}

/// Marks an error raised by `kind`'s stage, unless a lower stage already did.
pub(super) fn tag_stage(e: io::Error, kind: StageKind, what: &str) -> io::Error {
    // `Interrupted` must stay untouched: std's read loops retry on it.
    if e.kind() == io::ErrorKind::Interrupted || is_tagged(&e) {
        return e;
    }
    let message = format!("{what}: {e}");
    io::Error::new(e.kind(), StageError { kind, message })
}

/// Marks an error from the stored-bytes source as a plain I/O failure.
pub(super) fn tag_source(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::Interrupted || is_tagged(&e) {
        return e;
    }
    io::Error::new(e.kind(), SourceError(e))
}

/// A decoding-stage error, already tagged, for stages that detect problems
/// themselves (e.g. a missing end marker) rather than wrapping a library.
pub(super) fn stage_error(kind: StageKind, message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, StageError { kind, message })
}

/// True if the error came from the stored-bytes source (not from a stage).
pub(super) fn is_source_error(e: &io::Error) -> bool {
    matches!(find_tag(e), Some(Tag::Source))
}

impl From<io::Error> for PipelineError {
    /// Classifies an error returned by [`Decoder`](super::Decoder)'s `Read`
    /// impl (possibly wrapped by the caller): stage failures become
    /// `Decrypt`/`Corrupt`, everything else `Io`.
    fn from(e: io::Error) -> Self {
        match find_tag(&e) {
            Some(Tag::Stage(stage)) => stage.to_pipeline_error(),
            Some(Tag::Source) if is_tagged(&e) => {
                // Unwrap our marker so the caller sees the original error.
                let inner = e.into_inner().expect("tagged errors have a payload");
                match inner.downcast::<SourceError>() {
                    Ok(source) => PipelineError::Io(source.0),
                    Err(other) => PipelineError::Io(io::Error::other(other)),
                }
            }
            _ => PipelineError::Io(e),
        }
    }
}

impl PipelineError {
    /// Same classification as `From<io::Error>`, without consuming the error
    /// (a decoder returns the error to its reader and keeps this copy).
    pub(super) fn from_io_ref(e: &io::Error) -> Self {
        match find_tag(e) {
            Some(Tag::Stage(stage)) => stage.to_pipeline_error(),
            _ => PipelineError::Io(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_tag_survives_caller_wrapping() {
        let e = tag_stage(io::Error::other("bad"), StageKind::Decompress, "zstd");
        let wrapped = io::Error::other(e);
        assert!(
            matches!(PipelineError::from(wrapped), PipelineError::Corrupt(m) if m == "zstd: bad")
        );
    }

    #[test]
    fn first_stage_to_tag_wins() {
        let e = tag_stage(io::Error::other("x"), StageKind::Decrypt, "age");
        let e = tag_stage(e, StageKind::Decompress, "zstd");
        assert!(matches!(PipelineError::from(e), PipelineError::Decrypt(_)));
    }

    #[test]
    fn source_errors_unwrap_to_the_original() {
        let e = tag_source(io::Error::new(io::ErrorKind::PermissionDenied, "denied"));
        let e = tag_stage(e, StageKind::Decompress, "zstd");
        match PipelineError::from(e) {
            PipelineError::Io(io) => {
                assert_eq!(io.kind(), io::ErrorKind::PermissionDenied);
                assert_eq!(io.to_string(), "denied");
            }
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn untagged_errors_are_io() {
        let e = io::Error::new(io::ErrorKind::BrokenPipe, "pipe");
        assert!(matches!(PipelineError::from(e), PipelineError::Io(_)));
    }

    #[test]
    fn interrupted_is_never_tagged() {
        let e = tag_stage(io::ErrorKind::Interrupted.into(), StageKind::Decrypt, "age");
        assert!(e.get_ref().is_none());
    }
}
