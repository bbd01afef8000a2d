//! The write side: plaintext in, checksum → compress → encrypt → sink.

use std::io::{self, Write};

use super::checksum::{Hasher, PIECE};
use super::compress::Compressor;
use super::encrypt::{Recipients, Sink};
use super::stages::{Compression, Stages};
use super::{Digest, PipelineError};

/// How new objects are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    pub compression: Compression,
    pub recipients: Recipients,
}

impl EncodeOptions {
    /// The stages objects written with these options go through.
    pub fn stages(&self) -> Stages {
        Stages {
            codec: self.compression.codec(),
            encrypted: !self.recipients.is_empty(),
        }
    }
}

/// Streams plaintext into `W` as a stored object.
///
/// [`Encoder::finish`] must be called: it ends the zstd frame, the snappy
/// stream and the age stream, without which the object does not decode.
/// `W` should be buffered or in memory: stages write in chunk-sized pieces
/// but snappy also writes small chunk headers.
pub struct Encoder<W: Write> {
    inner: Compressor<Sink<W>>,
    hasher: Hasher,
    /// False when the caller hashes the plaintext itself (on another core);
    /// `hasher` then only counts bytes.
    hash_inline: bool,
    stages: Stages,
}

impl<W: Write> Encoder<W> {
    /// Starts an object; with recipients, the age header is written to `sink` now.
    pub fn new(sink: W, opts: &EncodeOptions) -> Result<Self, PipelineError> {
        Self::build(sink, opts, None, true, 1)
    }

    /// Like `new`, with zstd compressing on every core: for one large
    /// stream (a base-backup part) whose compression would otherwise leave
    /// cores idle whenever the parts in flight are uneven.
    pub fn on_all_cores(sink: W, opts: &EncodeOptions) -> Result<Self, PipelineError> {
        Self::build(sink, opts, None, true, super::compression_workers())
    }

    /// `expected_len` must be exact when given (zstd rejects a mismatch).
    /// Without `hash_inline` the digest `finish` returns has the right length
    /// but no meaningful sha256. `workers` compress one stream together.
    pub(super) fn build(
        sink: W,
        opts: &EncodeOptions,
        expected_len: Option<u64>,
        hash_inline: bool,
        workers: u32,
    ) -> Result<Self, PipelineError> {
        let sink = Sink::new(sink, &opts.recipients)?;
        let inner = Compressor::new(sink, opts.compression, expected_len, workers)?;
        Ok(Encoder {
            inner,
            hasher: Hasher::default(),
            hash_inline,
            stages: opts.stages(),
        })
    }

    pub fn stages(&self) -> Stages {
        self.stages
    }

    /// Ends every stage, flushes the sink and returns it with the plaintext digest.
    pub fn finish(self) -> Result<(W, Digest), PipelineError> {
        let sink = self.inner.finish(self.hasher.bytes())?;
        let mut sink = sink.finish()?;
        sink.flush()?;
        Ok((sink, self.hasher.finish()))
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Hash exactly what the compressor accepted, in cache-sized pieces.
        let piece = &buf[..buf.len().min(PIECE)];
        let n = self.inner.write(piece)?;
        if self.hash_inline {
            self.hasher.update(&piece[..n]);
        } else {
            self.hasher.count(n);
        }
        Ok(n)
    }

    /// Forces buffered data through every stage. This ends a zstd block or
    /// snappy chunk early, so flushing often costs compression ratio.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
