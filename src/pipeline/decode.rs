//! The read side: stored bytes in → decrypt → decompress → checksum → plaintext, insisting the stream ends properly.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::checksum::{Hasher, PIECE};
use super::compress::Decompressor;
use super::encrypt::{Identities, PAYLOAD_STAGE};
use super::error::{tag_source, tag_stage};
use super::stages::Stages;
use super::{Digest, PipelineError};

/// Buffer between the source and the first stage; one age chunk.
const READ_BUFFER: usize = 64 * 1024;

type Layer<'a> = Box<dyn BufRead + Send + 'a>;

/// Reads a stored object and yields its plaintext, hashing as it goes.
///
/// Errors from `read` are `io::Error`s; `PipelineError::from` turns them
/// back into `Decrypt`/`Corrupt`/`Io`. [`Decoder::finish`] must be called:
/// it is where truncation and trailing data are detected.
pub struct Decoder<'a> {
    inner: Decompressor<Layer<'a>>,
    hasher: Hasher,
    source_eof: Arc<AtomicBool>,
    /// The first error handed to the reader, returned again by `finish`.
    failed: Option<PipelineError>,
    stages: Stages,
}

impl<'a> Decoder<'a> {
    /// For an encrypted object this reads and checks the age header now.
    pub fn new<R: Read + Send + 'a>(
        src: R,
        stages: Stages,
        identities: &Identities,
    ) -> Result<Self, PipelineError> {
        let src = BufReader::with_capacity(READ_BUFFER, src);
        Self::from_buffered(src, stages, identities)
    }

    /// Like `new`, without adding a buffer (for in-memory sources such as a fetched WAL object).
    pub fn from_buffered<B: BufRead + Send + 'a>(
        src: B,
        stages: Stages,
        identities: &Identities,
    ) -> Result<Self, PipelineError> {
        if stages.encrypted && identities.is_empty() {
            return Err(PipelineError::NoIdentity);
        }
        let source = Source::new(src);
        let source_eof = Arc::clone(&source.eof);
        let layer: Layer<'a> = if stages.encrypted {
            let payload = TagPayloadErrors(identities.decrypt(source)?);
            Box::new(BufReader::with_capacity(READ_BUFFER, payload))
        } else {
            Box::new(source)
        };
        Ok(Decoder {
            inner: Decompressor::new(layer, stages.codec)?,
            hasher: Hasher::default(),
            source_eof,
            failed: None,
            stages,
        })
    }

    pub fn stages(&self) -> Stages {
        self.stages
    }

    /// Reads any plaintext the caller left unread (so the digest covers the
    /// whole object), then checks that every stage ended properly and that
    /// nothing follows the stored stream.
    pub fn finish(mut self) -> Result<Digest, PipelineError> {
        self.drain()?;
        self.inner
            .check_end(self.hasher.bytes())
            .map_err(PipelineError::Corrupt)?;
        if !self.source_eof.load(Ordering::Relaxed) {
            let msg = "stored object continues after the end of its stream".to_string();
            return Err(PipelineError::Corrupt(msg));
        }
        Ok(self.hasher.finish())
    }

    fn drain(&mut self) -> Result<(), PipelineError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Read for Decoder<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Cap the piece so it is hashed while still in cache.
        let len = buf.len().min(PIECE);
        match self.inner.read(&mut buf[..len]) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted && self.failed.is_none() {
                    self.failed = Some(PipelineError::from_io_ref(&e));
                }
                Err(e)
            }
        }
    }
}

/// The stored bytes. Marks its errors as I/O (not corruption) and records
/// reaching EOF, which `finish` requires: a stage that stopped early would
/// otherwise leave trailing data unnoticed.
struct Source<B> {
    inner: B,
    eof: Arc<AtomicBool>,
}

impl<B: BufRead> Source<B> {
    fn new(inner: B) -> Self {
        let eof = Arc::new(AtomicBool::new(false));
        Source { inner, eof }
    }
}

impl<B: BufRead> Read for Source<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).map_err(tag_source)?;
        if n == 0 && !buf.is_empty() {
            self.eof.store(true, Ordering::Relaxed);
        }
        Ok(n)
    }
}

impl<B: BufRead> BufRead for Source<B> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let buf = self.inner.fill_buf().map_err(tag_source)?;
        if buf.is_empty() {
            self.eof.store(true, Ordering::Relaxed);
        }
        Ok(buf)
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
    }
}

/// Marks errors raised by the age payload reader as decryption failures.
struct TagPayloadErrors<R>(R);

impl<R: Read> Read for TagPayloadErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (kind, what) = PAYLOAD_STAGE;
        self.0.read(buf).map_err(|e| tag_stage(e, kind, what))
    }
}
