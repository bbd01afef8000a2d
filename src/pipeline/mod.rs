//! Byte-stream stages for stored objects: plaintext checksum, compression (zstd | snappy | none), encryption (age).

// Stage order on write: sha256 of the plaintext → compress → encrypt → sink;
// reads undo it in reverse. Object names spell the stages in order applied
// (`.zst.age`), so a break-glass restore is `age -d -i key | zstd -d`.
// This module imports nothing else from the crate.

mod checksum;
mod compress;
mod decode;
mod encode;
mod encrypt;
mod error;
mod stages;

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod tests;

use std::io::{Read, Write};

pub use checksum::{sha256_hex, Digest};
pub use decode::Decoder;
pub use encode::{EncodeOptions, Encoder};
pub use encrypt::{Identities, Recipients};
pub use error::PipelineError;
pub use stages::{Codec, Compression, Stages, UnknownCompression};

/// Encodes a whole in-memory object (a WAL segment) in one go.
pub fn encode_bytes(
    plain: &[u8],
    opts: &EncodeOptions,
) -> Result<(Vec<u8>, Digest), PipelineError> {
    if plain.len() < PARALLEL_HASH_MIN {
        return encode_in_memory(plain, opts, true);
    }
    // Hashing is a good part of the work: do it on another core meanwhile.
    std::thread::scope(|scope| {
        let hashing = std::thread::Builder::new()
            .name("walden-sha256".into())
            .spawn_scoped(scope, || Digest::of(plain));
        let Ok(hashing) = hashing else {
            // Out of threads (ulimit): slower, but never fail an archive for it.
            return encode_in_memory(plain, opts, true);
        };
        let (stored, _) = encode_in_memory(plain, opts, false)?;
        let digest = hashing.join().expect("hashing a slice does not panic");
        Ok((stored, digest))
    })
}

/// Below this, a thread costs more than hashing inline saves.
const PARALLEL_HASH_MIN: usize = 1 << 20;

fn encode_in_memory(
    plain: &[u8],
    opts: &EncodeOptions,
    hash_inline: bool,
) -> Result<(Vec<u8>, Digest), PipelineError> {
    let out = Vec::with_capacity(stored_size_bound(plain.len(), opts));
    // The exact length lets zstd size its window and record the content
    // size, which decoders use to preallocate.
    let mut encoder = Encoder::build(out, opts, Some(plain.len() as u64), hash_inline)?;
    encoder.write_all(plain)?;
    encoder.finish()
}

/// Decodes a whole in-memory stored object, checking it ended properly.
pub fn decode_bytes(
    stored: &[u8],
    stages: Stages,
    identities: &Identities,
) -> Result<(Vec<u8>, Digest), PipelineError> {
    let mut decoder = Decoder::from_buffered(stored, stages, identities)?;
    let mut plain = Vec::with_capacity(plaintext_size_hint(stored, stages));
    decoder.read_to_end(&mut plain)?;
    let digest = decoder.finish()?;
    Ok((plain, digest))
}

fn stored_size_bound(len: usize, opts: &EncodeOptions) -> usize {
    let compressed = compress::compressed_size_bound(len, opts.compression.codec());
    compressed + encrypt::encrypted_overhead_bound(compressed, &opts.recipients)
}

/// A guess at the plaintext size; capped, since a header could lie.
fn plaintext_size_hint(stored: &[u8], stages: Stages) -> usize {
    const MAX_HINT: u64 = 64 << 20;
    let guess = match (stages.codec, stages.encrypted) {
        (Codec::None, _) => stored.len() as u64,
        (Codec::Zstd, false) => zstd::zstd_safe::get_frame_content_size(stored)
            .ok()
            .flatten()
            .unwrap_or(4 * stored.len() as u64),
        _ => 4 * stored.len() as u64,
    };
    guess.min(MAX_HINT) as usize
}
