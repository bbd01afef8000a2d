//! Plaintext checksums: length and sha256 of every object, computed as the bytes stream through.

use sha2::{Digest as _, Sha256};

use super::PipelineError;

/// Length and sha256 of an object's plaintext (what was archived, before any stage).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digest {
    pub bytes: u64,
    pub sha256: [u8; 32],
}

impl Digest {
    /// Digest of an in-memory plaintext.
    pub fn of(data: &[u8]) -> Digest {
        let mut hasher = Hasher::default();
        hasher.update(data);
        hasher.finish()
    }

    /// Lowercase hex, as recorded in manifests and object metadata.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// Checks the sha256 against a recorded hex string (case-insensitive).
    pub fn verify(&self, expected_sha256_hex: &str) -> Result<(), PipelineError> {
        let actual = self.sha256_hex();
        if actual.eq_ignore_ascii_case(expected_sha256_hex.trim()) {
            return Ok(());
        }
        Err(PipelineError::ChecksumMismatch {
            expected: expected_sha256_hex.to_string(),
            actual,
        })
    }
}

/// Largest slice hashed in one go by the streaming stages: small enough to
/// still be in cache from the stage that just touched it.
pub(super) const PIECE: usize = 256 * 1024;

/// sha256 of `data` as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    Digest::of(data).sha256_hex()
}

/// Running digest. sha2 0.11 picks the SHA-NI (x86) / SHA2 (aarch64)
/// implementation at run time, so no crate feature is needed for speed.
#[derive(Clone, Default)]
pub(super) struct Hasher {
    sha: Sha256,
    bytes: u64,
}

impl Hasher {
    pub(super) fn update(&mut self, data: &[u8]) {
        self.sha.update(data);
        self.bytes += data.len() as u64;
    }

    /// Counts bytes hashed elsewhere.
    pub(super) fn count(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(super) fn finish(self) -> Digest {
        Digest {
            bytes: self.bytes,
            sha256: self.sha.finalize().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn known_vectors() {
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest::of(b"abc").bytes, 3);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut hasher = Hasher::default();
        for piece in data.chunks(333) {
            hasher.update(piece);
        }
        assert_eq!(hasher.finish(), Digest::of(&data));
    }

    #[test]
    fn verify_accepts_match_in_any_case() {
        let digest = Digest::of(b"");
        digest.verify(EMPTY_SHA256).unwrap();
        digest.verify(&EMPTY_SHA256.to_uppercase()).unwrap();
    }

    #[test]
    fn verify_reports_mismatch() {
        let err = Digest::of(b"x").verify(EMPTY_SHA256).unwrap_err();
        match err {
            PipelineError::ChecksumMismatch { expected, actual } => {
                assert_eq!(expected, EMPTY_SHA256);
                assert_eq!(actual, sha256_hex(b"x"));
            }
            other => panic!("expected ChecksumMismatch, got {other:?}"),
        }
    }
}
