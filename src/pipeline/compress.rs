//! Streaming compression stages: zstd (with frame checksums) and snappy framed, with end-of-stream checks.

use std::io::{self, BufRead, Read, Write};

use super::error::{stage_error, tag_stage, StageKind};
use super::stages::{Codec, Compression};

/// Writes compressed bytes to `W`. Must be ended with [`Compressor::finish`].
pub(super) enum Compressor<W: Write> {
    None(W),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    // Boxed: the encoder embeds a 2 KiB hash table.
    Snappy(Box<snap::write::FrameEncoder<W>>),
}

impl<W: Write> Compressor<W> {
    /// `expected_len`, when known, lets zstd size its window to the input
    /// and record the content size in the frame header.
    /// `workers` above 1 lets zstd compress that many 512 KiB jobs of one
    /// stream at once (for a WAL segment on its own, whose latency is what
    /// PostgreSQL's archiver waits on); 1 compresses on the calling thread.
    pub(super) fn new(
        sink: W,
        compression: Compression,
        expected_len: Option<u64>,
        workers: u32,
    ) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Compressor::None(sink),
            Compression::Zstd { level } => {
                Compressor::Zstd(zstd_encoder(sink, level, expected_len, workers)?)
            }
            Compression::Snappy => {
                Compressor::Snappy(Box::new(snap::write::FrameEncoder::new(sink)))
            }
        })
    }

    /// Ends the compressed stream (zstd epilogue, snappy end marker) and
    /// returns the sink, unflushed.
    pub(super) fn finish(self, plaintext_len: u64) -> io::Result<W> {
        match self {
            Compressor::None(sink) => Ok(sink),
            Compressor::Zstd(encoder) => encoder.finish(),
            Compressor::Snappy(encoder) => {
                let mut sink = encoder.into_inner().map_err(|e| e.into_error())?;
                snappy_end(&mut sink, plaintext_len)?;
                Ok(sink)
            }
        }
    }
}

/// The size of one zstd job when a stream is compressed by several workers.
const ZSTD_JOB_SIZE: u32 = 512 << 10;

fn zstd_encoder<W: Write>(
    sink: W,
    level: i32,
    expected_len: Option<u64>,
    workers: u32,
) -> io::Result<zstd::stream::write::Encoder<'static, W>> {
    let mut encoder = zstd::stream::write::Encoder::new(sink, level)?;
    // The content checksum lets `zstd -d` (and our decoder) detect
    // corruption without walden's manifest.
    encoder.include_checksum(true)?;
    encoder.set_pledged_src_size(expected_len)?;
    if workers > 1 {
        // Small jobs keep memory low (a few MiB of buffered input instead
        // of zstd's default 8 MiB per worker) at the same ratio.
        encoder.multithread(workers)?;
        encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
    }
    Ok(encoder)
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Zstd(w) => w.write(buf),
            Compressor::Snappy(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.write_all(buf),
            Compressor::Zstd(w) => w.write_all(buf),
            Compressor::Snappy(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Zstd(w) => w.flush(),
            Compressor::Snappy(w) => w.flush(),
        }
    }
}

// Snappy's framing format has no end-of-stream marker, so a stream cut at a
// chunk boundary would decode "successfully" to fewer bytes. We append one:
// a chunk in the reserved *skippable* range (0x80-0xfd), which standard
// decoders (snap, python-snappy, …) must ignore, carrying a magic and the
// plaintext length. Our decoder requires it to be the last chunk.

/// Skippable chunk type of walden's snappy end marker.
const SNAPPY_END_CHUNK: u8 = 0xfd;
/// Marker body: this magic, then the plaintext length (u64 little-endian).
const SNAPPY_END_MAGIC: &[u8; 8] = b"walden01";
const SNAPPY_END_BODY_LEN: usize = 16;
/// The stream identifier chunk every snappy framed stream starts with.
const SNAPPY_STREAM_IDENTIFIER: &[u8] = b"\xff\x06\x00\x00sNaPpY";

fn snappy_end<W: Write>(sink: &mut W, plaintext_len: u64) -> io::Result<()> {
    if plaintext_len == 0 {
        // snap writes the stream identifier lazily with the first data, and
        // a framed stream must start with it.
        sink.write_all(SNAPPY_STREAM_IDENTIFIER)?;
    }
    let mut chunk = [0u8; 4 + SNAPPY_END_BODY_LEN];
    chunk[0] = SNAPPY_END_CHUNK;
    chunk[1..4].copy_from_slice(&(SNAPPY_END_BODY_LEN as u32).to_le_bytes()[..3]);
    chunk[4..12].copy_from_slice(SNAPPY_END_MAGIC);
    chunk[12..].copy_from_slice(&plaintext_len.to_le_bytes());
    sink.write_all(&chunk)
}

/// Upper bound of the compressed size of `len` plaintext bytes, for preallocation.
pub(super) fn compressed_size_bound(len: usize, codec: Codec) -> usize {
    const SNAPPY_BLOCK: usize = 64 * 1024;
    const SNAPPY_CHUNK_HEADER: usize = 8;
    match codec {
        Codec::None => len,
        Codec::Zstd => zstd::zstd_safe::compress_bound(len),
        Codec::Snappy => {
            let blocks = len.div_ceil(SNAPPY_BLOCK).max(1);
            let per_block = snap::raw::max_compress_len(SNAPPY_BLOCK) + SNAPPY_CHUNK_HEADER;
            SNAPPY_STREAM_IDENTIFIER.len() + blocks * per_block + 4 + SNAPPY_END_BODY_LEN
        }
    }
}

/// Reads decompressed bytes from a stored stream. Errors raised by the codec
/// are tagged as corruption.
pub(super) enum Decompressor<R: BufRead> {
    None(R),
    Zstd(zstd::stream::read::Decoder<'static, R>),
    Snappy(snap::read::FrameDecoder<SnappyEndCheck<R>>),
}

impl<R: BufRead> Decompressor<R> {
    pub(super) fn new(src: R, codec: Codec) -> io::Result<Self> {
        Ok(match codec {
            Codec::None => Decompressor::None(src),
            // Not `single_frame()`: concatenated frames are valid zstd (as
            // `zstd -d` agrees), and decoding on means trailing garbage is
            // reported as a bad frame instead of being left unread.
            Codec::Zstd => Decompressor::Zstd(zstd::stream::read::Decoder::with_buffer(src)?),
            Codec::Snappy => {
                Decompressor::Snappy(snap::read::FrameDecoder::new(SnappyEndCheck::new(src)))
            }
        })
    }

    /// After the plaintext reached EOF: checks what only the end can tell.
    pub(super) fn check_end(&self, plaintext_len: u64) -> Result<(), String> {
        match self {
            Decompressor::Snappy(decoder) => decoder.get_ref().check_len(plaintext_len),
            // zstd reports an unfinished frame as an error at EOF.
            Decompressor::None(_) | Decompressor::Zstd(_) => Ok(()),
        }
    }
}

impl<R: BufRead> Read for Decompressor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decompressor::None(r) => r.read(buf),
            Decompressor::Zstd(r) => r
                .read(buf)
                .map_err(|e| tag_stage(e, StageKind::Decompress, "zstd stream")),
            Decompressor::Snappy(r) => r
                .read(buf)
                .map_err(|e| tag_stage(e, StageKind::Decompress, "snappy stream")),
        }
    }
}

/// Passes a snappy framed stream through unchanged while following its chunk
/// headers, to insist that it ends with exactly one end marker.
pub(super) struct SnappyEndCheck<R> {
    inner: R,
    header: [u8; 4],
    header_len: usize,
    body_left: usize,
    in_marker: bool,
    marker: [u8; SNAPPY_END_BODY_LEN],
    marker_len: usize,
    /// Plaintext length recorded by the end marker, once seen.
    ended: Option<u64>,
}

impl<R: BufRead> SnappyEndCheck<R> {
    fn new(inner: R) -> Self {
        SnappyEndCheck {
            inner,
            header: [0; 4],
            header_len: 0,
            body_left: 0,
            in_marker: false,
            marker: [0; SNAPPY_END_BODY_LEN],
            marker_len: 0,
            ended: None,
        }
    }

    fn check_len(&self, plaintext_len: u64) -> Result<(), String> {
        match self.ended {
            Some(n) if n == plaintext_len => Ok(()),
            Some(n) => Err(format!(
                "snappy stream: end marker records {n} bytes but {plaintext_len} were decoded"
            )),
            None => Err("snappy stream is truncated: no end marker".into()),
        }
    }

    /// Follows chunk boundaries through `bytes` (just read).
    fn scan(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.ended.is_some() {
                return Err(corrupt("snappy stream: data after the end marker"));
            }
            let taken = if self.header_len < self.header.len() {
                self.scan_header(bytes)?
            } else {
                self.scan_body(bytes)?
            };
            bytes = &bytes[taken..];
        }
        Ok(())
    }

    fn scan_header(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let take = (self.header.len() - self.header_len).min(bytes.len());
        self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
        self.header_len += take;
        if self.header_len == self.header.len() {
            let [kind, l0, l1, l2] = self.header;
            self.body_left = u32::from_le_bytes([l0, l1, l2, 0]) as usize;
            self.in_marker = kind == SNAPPY_END_CHUNK;
            self.marker_len = 0;
            if self.in_marker && self.body_left != SNAPPY_END_BODY_LEN {
                return Err(corrupt("snappy stream: malformed end marker"));
            }
            if self.body_left == 0 {
                self.end_chunk()?;
            }
        }
        Ok(take)
    }

    fn scan_body(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let take = self.body_left.min(bytes.len());
        if self.in_marker {
            self.marker[self.marker_len..self.marker_len + take].copy_from_slice(&bytes[..take]);
            self.marker_len += take;
        }
        self.body_left -= take;
        if self.body_left == 0 {
            self.end_chunk()?;
        }
        Ok(take)
    }

    fn end_chunk(&mut self) -> io::Result<()> {
        self.header_len = 0;
        if !self.in_marker {
            return Ok(());
        }
        let (magic, len) = self.marker.split_at(SNAPPY_END_MAGIC.len());
        if magic != SNAPPY_END_MAGIC {
            return Err(corrupt("snappy stream: malformed end marker"));
        }
        let len: [u8; 8] = len.try_into().expect("marker body is magic + u64");
        self.ended = Some(u64::from_le_bytes(len));
        Ok(())
    }
}

fn corrupt(message: &str) -> io::Error {
    stage_error(StageKind::Decompress, message.to_string())
}

impl<R: BufRead> Read for SnappyEndCheck<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.ended.is_none() {
            return Err(corrupt("snappy stream is truncated: no end marker"));
        }
        self.scan(&buf[..n])?;
        Ok(n)
    }
}
