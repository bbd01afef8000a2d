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
pub mod throttle;

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

/// Encodes a whole in-memory object in one go.
pub fn encode_bytes(
    plain: &[u8],
    opts: &EncodeOptions,
) -> Result<(Vec<u8>, Digest), PipelineError> {
    encode_reader(plain, Some(plain.len() as u64), opts)
}

/// Encodes the plaintext read from `src` into memory (a WAL segment on its
/// way to one PUT). `len`, when given, must be exact. Only a few chunks of
/// plaintext are held at a time, so memory stays near the stored size, and
/// the sha256 is computed on another core while this one compresses.
pub fn encode_reader<R: Read>(
    mut src: R,
    len: Option<u64>,
    opts: &EncodeOptions,
) -> Result<(Vec<u8>, Digest), PipelineError> {
    let out = Vec::with_capacity(len.map_or(0, |len| stored_size_bound(len as usize, opts)));
    std::thread::scope(|scope| {
        let (chunks, received) = std::sync::mpsc::sync_channel::<std::sync::Arc<Vec<u8>>>(2);
        // Hashed chunks come back to be read into again: a handful of
        // buffers for the whole object instead of one per chunk.
        let (hashed, reusable) = std::sync::mpsc::channel::<std::sync::Arc<Vec<u8>>>();
        let hashing = std::thread::Builder::new()
            .name("walden-sha256".into())
            .spawn_scoped(scope, move || {
                let mut hasher = checksum::Hasher::default();
                for chunk in received {
                    hasher.update(&chunk);
                    let _ = hashed.send(chunk);
                }
                hasher.finish()
            });
        let Ok(hashing) = hashing else {
            // Out of threads (ulimit): slower, but never fail an archive for it.
            let mut encoder = Encoder::build(out, opts, len, true, 1)?;
            std::io::copy(&mut src, &mut encoder)?;
            return encoder.finish();
        };
        let mut encoder = Encoder::build(out, opts, len, false, object_workers(opts))?;
        loop {
            let spare = reusable
                .try_iter()
                .find_map(|chunk| std::sync::Arc::try_unwrap(chunk).ok());
            let chunk = read_chunk(&mut src, spare)?;
            if chunk.is_empty() {
                break;
            }
            let chunk = std::sync::Arc::new(chunk);
            // The hasher only stops early if it panicked; join reports that.
            let _ = chunks.send(chunk.clone());
            encoder.write_all(&chunk)?;
        }
        drop(chunks);
        let (stored, counted) = encoder.finish()?;
        let digest = hashing.join().expect("hashing does not panic");
        debug_assert_eq!(digest.bytes, counted.bytes);
        Ok((stored, digest))
    })
}

/// How many threads compress one in-memory object (a WAL segment): every
/// core above zstd level 1, since the caller (PostgreSQL's archiver) waits
/// for this one object. At level 1 and below one thread is as fast (zstd
/// outruns reading and hashing; measured on real WAL: 27 ms vs 29 ms a
/// segment) and costs 9 % less CPU and 2.5 MiB less memory.
fn object_workers(opts: &EncodeOptions) -> u32 {
    match opts.compression {
        Compression::Zstd { level } if level <= 1 => 1,
        _ => compression_workers(),
    }
}

/// How many threads compress one stream when cores would otherwise idle.
fn compression_workers() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u32)
}

/// Reads up to `ENCODE_CHUNK` bytes, fewer only at the end of `src`, into
/// `spare` if given.
fn read_chunk<R: Read>(src: &mut R, spare: Option<Vec<u8>>) -> std::io::Result<Vec<u8>> {
    let mut chunk = spare.unwrap_or_else(|| Vec::with_capacity(ENCODE_CHUNK));
    chunk.clear();
    src.take(ENCODE_CHUNK as u64).read_to_end(&mut chunk)?;
    Ok(chunk)
}

/// Plaintext chunk size of `encode_reader`: large enough to keep both cores
/// busy, small enough that a few in flight cost little memory.
const ENCODE_CHUNK: usize = 256 << 10;

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
