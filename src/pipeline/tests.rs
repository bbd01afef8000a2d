//! Round-trip and tamper tests of the whole pipeline, for every stage combination.

use std::io::{self, Read, Write};

use age::x25519;

use super::*;

/// Deterministic test bytes: a mix of random runs, repeated text and zeros,
/// roughly what a WAL segment looks like to a compressor.
pub(super) fn test_data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift(seed | 1);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let run = 1 + (rng.next() % 4096) as usize;
        match rng.next() % 3 {
            0 => out.extend((0..run).map(|_| rng.next() as u8)),
            1 => out.extend(
                b"INSERT INTO t VALUES (42, 'walden');"
                    .iter()
                    .cycle()
                    .take(run),
            ),
            _ => out.resize(out.len() + run, 0),
        }
    }
    out.truncate(len);
    out
}

pub(super) fn random_data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift(seed | 1);
    (0..len).map(|_| rng.next() as u8).collect()
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub(super) fn identity() -> Identities {
    Identities::from_keys(vec![x25519::Identity::generate()])
}

const COMPRESSIONS: [Compression; 3] = [
    Compression::None,
    Compression::Zstd { level: 3 },
    Compression::Snappy,
];

/// Every combination of compression × (plain, encrypted to `ids`).
fn all_options(ids: &Identities) -> Vec<EncodeOptions> {
    let mut all = Vec::new();
    for compression in COMPRESSIONS {
        for recipients in [Recipients::none(), ids.recipients()] {
            all.push(EncodeOptions {
                compression,
                recipients,
            });
        }
    }
    all
}

fn is_plain(opts: &EncodeOptions) -> bool {
    opts.stages() == Stages::PLAIN
}

fn assert_decode_failure(result: Result<(Vec<u8>, Digest), PipelineError>, context: &str) {
    match result {
        Err(PipelineError::Corrupt(_) | PipelineError::Decrypt(_)) => {}
        Err(other) => panic!("{context}: expected Corrupt or Decrypt, got {other:?}"),
        Ok((plain, _)) => panic!(
            "{context}: decoded {} bytes instead of failing",
            plain.len()
        ),
    }
}

#[test]
fn every_combination_round_trips() {
    let ids = identity();
    let sizes = [0, 1, 65_536, 65_537, 3 << 20];
    for opts in all_options(&ids) {
        for (i, &len) in sizes.iter().enumerate() {
            let plain = test_data(len, i as u64 + 7);
            let (stored, digest) = encode_bytes(&plain, &opts).unwrap();
            assert_eq!(digest, Digest::of(&plain), "{opts:?} {len}");
            let (back, back_digest) = decode_bytes(&stored, opts.stages(), &ids).unwrap();
            assert!(back == plain, "{opts:?} {len}: plaintext differs");
            assert_eq!(back_digest, digest);
            back_digest.verify(&sha256_hex(&plain)).unwrap();
        }
    }
}

#[test]
fn random_data_round_trips_and_fits_the_preallocation() {
    let ids = identity();
    for opts in all_options(&ids) {
        for len in [0, 1, 1 << 20] {
            let plain = random_data(len, 3);
            let (stored, _) = encode_bytes(&plain, &opts).unwrap();
            assert!(
                stored.len() <= stored_size_bound(len, &opts),
                "{opts:?} {len}"
            );
            let (back, _) = decode_bytes(&stored, opts.stages(), &ids).unwrap();
            assert!(back == plain, "{opts:?} {len}");
        }
    }
}

/// Hands out at most `step` bytes per call, to shake out buffering bugs.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn streaming_encoder_and_decoder_round_trip_with_odd_piece_sizes() {
    let ids = identity();
    let plain = test_data(300_000, 11);
    for opts in all_options(&ids) {
        let mut encoder = Encoder::new(Vec::new(), &opts).unwrap();
        assert_eq!(encoder.stages(), opts.stages());
        for piece in plain.chunks(9_999) {
            encoder.write_all(piece).unwrap();
        }
        let (stored, digest) = encoder.finish().unwrap();
        assert_eq!(digest, Digest::of(&plain));

        let src = Trickle {
            data: &stored,
            step: 777,
        };
        let mut decoder = Decoder::new(src, opts.stages(), &ids).unwrap();
        let mut back = Vec::new();
        let mut buf = [0u8; 1234];
        loop {
            let n = decoder.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&buf[..n]);
        }
        assert!(back == plain, "{opts:?}");
        assert_eq!(decoder.finish().unwrap(), digest, "{opts:?}");
    }
}

#[test]
fn finish_hashes_plaintext_the_caller_did_not_read() {
    let ids = identity();
    let plain = test_data(200_000, 5);
    for opts in all_options(&ids) {
        let (stored, digest) = encode_bytes(&plain, &opts).unwrap();
        let mut decoder = Decoder::new(&stored[..], opts.stages(), &ids).unwrap();
        let mut head = [0u8; 10];
        decoder.read_exact(&mut head).unwrap();
        assert_eq!(decoder.finish().unwrap(), digest, "{opts:?}");
    }
}

/// Truncation points: both ends densely, the middle sparsely, and for
/// snappy every chunk boundary (where the framing itself cannot tell).
fn cut_points(stored: &[u8], codec: Codec, encrypted: bool) -> Vec<usize> {
    let len = stored.len();
    let mut cuts: Vec<usize> = (0..len.min(64)).collect();
    cuts.extend(len.saturating_sub(64)..len);
    cuts.extend((0..len).step_by((len / 97).max(1)));
    if codec == Codec::Snappy && !encrypted {
        let mut pos = 0;
        while pos + 4 <= len {
            cuts.push(pos);
            pos += 4 + u32::from_le_bytes([stored[pos + 1], stored[pos + 2], stored[pos + 3], 0])
                as usize;
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[test]
fn truncation_is_always_detected() {
    let ids = identity();
    // Over one age chunk and one snappy block, so cuts land between chunks.
    let plain = test_data(80_000, 13);
    let expected = sha256_hex(&plain);
    for opts in all_options(&ids) {
        let stages = opts.stages();
        let (stored, _) = encode_bytes(&plain, &opts).unwrap();
        for cut in cut_points(&stored, stages.codec, stages.encrypted) {
            let result = decode_bytes(&stored[..cut], stages, &ids);
            let context = format!("{opts:?} cut at {cut} of {}", stored.len());
            if is_plain(&opts) {
                // Plain bytes carry no framing: only the checksum can tell.
                let (_, digest) = result.unwrap();
                let err = digest.verify(&expected).unwrap_err();
                assert!(
                    matches!(err, PipelineError::ChecksumMismatch { .. }),
                    "{context}"
                );
            } else {
                assert_decode_failure(result, &context);
            }
        }
    }
}

#[test]
fn trailing_data_is_detected() {
    let ids = identity();
    let plain = test_data(100_000, 17);
    for opts in all_options(&ids).into_iter().filter(|o| !is_plain(o)) {
        let stages = opts.stages();
        let (stored, _) = encode_bytes(&plain, &opts).unwrap();
        let (other, _) = encode_bytes(b"another object", &opts).unwrap();
        let mut tails: Vec<Vec<u8>> = vec![
            vec![0],
            vec![0x28, 0xb5, 0x2f],
            random_data(100, 1),
            vec![0; 70_000],
        ];
        // Concatenated zstd frames are valid zstd; everything else must fail.
        if stages
            != (Stages {
                codec: Codec::Zstd,
                encrypted: false,
            })
        {
            tails.push(other);
        }
        for tail in tails {
            let mut bad = stored.clone();
            bad.extend_from_slice(&tail);
            let context = format!("{opts:?} + {} trailing bytes", tail.len());
            assert_decode_failure(decode_bytes(&bad, stages, &ids), &context);
        }
    }
}

/// Every header byte (age headers run to ~200 bytes), the tail, and a sample
/// of the payload: each decode of an age object pays for an X25519 unwrap.
fn flip_points(len: usize) -> impl Iterator<Item = usize> {
    (0..len).filter(move |&pos| pos < 300 || pos + 64 >= len || pos % 7 == 0)
}

#[test]
fn every_flipped_byte_is_detected() {
    let ids = identity();
    let plain = random_data(3_000, 19);
    let expected = sha256_hex(&plain);
    for opts in all_options(&ids) {
        let stages = opts.stages();
        let (stored, _) = encode_bytes(&plain, &opts).unwrap();
        for pos in flip_points(stored.len()) {
            let mut bad = stored.clone();
            bad[pos] ^= 0x20;
            let context = format!("{opts:?} flip at {pos} of {}", stored.len());
            let result = decode_bytes(&bad, stages, &ids);
            if is_plain(&opts) {
                // Plain bytes decode as they are; the checksum catches it.
                let (_, digest) = result.unwrap();
                assert!(digest.verify(&expected).is_err(), "{context}");
            } else {
                assert_decode_failure(result, &context);
            }
        }
    }
}

#[test]
fn wrong_identity_is_a_decrypt_error() {
    let ids = identity();
    for compression in COMPRESSIONS {
        let opts = EncodeOptions {
            compression,
            recipients: ids.recipients(),
        };
        let (stored, _) = encode_bytes(b"secret wal", &opts).unwrap();
        let err = decode_bytes(&stored, opts.stages(), &identity()).unwrap_err();
        match err {
            PipelineError::Decrypt(msg) => assert!(msg.contains("identit"), "{msg}"),
            other => panic!("{compression}: expected Decrypt, got {other:?}"),
        }
    }
}

#[test]
fn encrypted_object_without_identity_is_no_identity() {
    let ids = identity();
    let opts = EncodeOptions {
        compression: Compression::Zstd { level: 3 },
        recipients: ids.recipients(),
    };
    let (stored, _) = encode_bytes(b"secret wal", &opts).unwrap();
    let err = decode_bytes(&stored, opts.stages(), &Identities::none()).unwrap_err();
    assert!(matches!(err, PipelineError::NoIdentity), "{err:?}");
    assert!(err.to_string().contains("--decrypt-identity"), "{err}");
}

#[test]
fn each_of_several_recipients_can_decrypt() {
    let keys = [identity(), identity(), identity()];
    let mut recipients = Recipients::none();
    for key in &keys {
        recipients.extend(key.recipients());
    }
    let opts = EncodeOptions {
        compression: Compression::Snappy,
        recipients,
    };
    let plain = test_data(100_000, 23);
    let (stored, digest) = encode_bytes(&plain, &opts).unwrap();
    for key in &keys {
        let (back, back_digest) = decode_bytes(&stored, opts.stages(), key).unwrap();
        assert!(back == plain);
        assert_eq!(back_digest, digest);
    }
}

#[test]
fn an_identity_file_with_several_keys_uses_the_matching_one() {
    let matching = x25519::Identity::generate();
    let ids = Identities::from_keys(vec![x25519::Identity::generate(), matching.clone()]);
    let opts = EncodeOptions {
        compression: Compression::None,
        recipients: Identities::from_keys(vec![matching]).recipients(),
    };
    let (stored, _) = encode_bytes(b"x", &opts).unwrap();
    assert_eq!(decode_bytes(&stored, opts.stages(), &ids).unwrap().0, b"x");
}

#[test]
fn wrong_stages_fail_as_corrupt_or_decrypt() {
    let ids = identity();
    let plain = test_data(50_000, 29);
    let zstd_age = EncodeOptions {
        compression: Compression::Zstd { level: 3 },
        recipients: ids.recipients(),
    };
    let (stored, _) = encode_bytes(&plain, &zstd_age).unwrap();
    for codec in [Codec::Zstd, Codec::Snappy] {
        let stages = Stages {
            codec,
            encrypted: false,
        };
        assert_decode_failure(decode_bytes(&stored, stages, &ids), &format!("{codec}"));
    }
    let as_snappy = Stages {
        codec: Codec::Snappy,
        encrypted: true,
    };
    assert_decode_failure(decode_bytes(&stored, as_snappy, &ids), "snappy+age");
    let not_age = encode_bytes(
        &plain,
        &EncodeOptions {
            compression: Compression::Zstd { level: 3 },
            recipients: Recipients::none(),
        },
    )
    .unwrap()
    .0;
    assert_decode_failure(decode_bytes(&not_age, zstd_age.stages(), &ids), "not age");
}

/// Fails with `PermissionDenied` after `ok` bytes.
struct FailingSource<'a> {
    data: &'a [u8],
    ok: usize,
}

impl Read for FailingSource<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ok == 0 {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "denied"));
        }
        let n = buf.len().min(self.ok).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.ok -= n;
        Ok(n)
    }
}

#[test]
fn source_failures_are_io_errors_not_corruption() {
    let ids = identity();
    let plain = test_data(300_000, 31);
    for opts in all_options(&ids) {
        let (stored, _) = encode_bytes(&plain, &opts).unwrap();
        for ok in [0, 100, stored.len() / 2] {
            let src = FailingSource { data: &stored, ok };
            let result = Decoder::new(src, opts.stages(), &ids).and_then(|mut decoder| {
                io::copy(&mut decoder, &mut io::sink())?;
                decoder.finish()
            });
            match result {
                Err(PipelineError::Io(e)) => {
                    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{opts:?} {ok}");
                }
                other => panic!("{opts:?} after {ok} bytes: expected Io, got {other:?}"),
            }
        }
    }
}

#[test]
fn read_errors_classify_and_finish_repeats_them() {
    let ids = identity();
    let plain = test_data(300_000, 37);
    for opts in all_options(&ids).into_iter().filter(|o| !is_plain(o)) {
        let (mut stored, _) = encode_bytes(&plain, &opts).unwrap();
        let mid = stored.len() / 2;
        stored[mid] ^= 0xff;
        let mut decoder = Decoder::new(&stored[..], opts.stages(), &ids).unwrap();
        let err = io::copy(&mut decoder, &mut io::sink()).unwrap_err();
        // A caller wrapping our error (as a tar reader would) changes nothing.
        let wrapped = io::Error::other(err);
        let classified = PipelineError::from(wrapped);
        assert!(
            matches!(
                classified,
                PipelineError::Corrupt(_) | PipelineError::Decrypt(_)
            ),
            "{opts:?}: {classified:?}"
        );
        let again = decoder.finish().unwrap_err();
        assert_eq!(
            std::mem::discriminant(&again),
            std::mem::discriminant(&classified),
            "{opts:?}"
        );
    }
}

#[test]
fn snappy_output_is_standard_framed_snappy() {
    // The end marker is a skippable chunk: a stock decoder ignores it.
    let opts = EncodeOptions {
        compression: Compression::Snappy,
        recipients: Recipients::none(),
    };
    for len in [0, 1, 200_000] {
        let plain = test_data(len, 41);
        let (stored, _) = encode_bytes(&plain, &opts).unwrap();
        let mut back = Vec::new();
        snap::read::FrameDecoder::new(&stored[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == plain, "{len}");
    }
}

#[test]
fn zstd_frame_records_content_size_and_checksum() {
    let opts = EncodeOptions {
        compression: Compression::Zstd { level: 3 },
        recipients: Recipients::none(),
    };
    let plain = test_data(100_000, 43);
    let (stored, _) = encode_bytes(&plain, &opts).unwrap();
    let size = zstd::zstd_safe::get_frame_content_size(&stored).unwrap();
    assert_eq!(size, Some(100_000));
    // Frame header descriptor byte, bit 2: content checksum flag.
    assert_ne!(stored[4] & 0b100, 0);
}

#[test]
fn encoder_and_decoder_can_move_to_blocking_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Encoder<Vec<u8>>>();
    assert_send::<Decoder<'static>>();
    assert_send::<PipelineError>();
    assert_send::<(Recipients, Identities)>();
}

#[test]
fn encode_options_report_their_stages() {
    let ids = identity();
    let names: Vec<String> = all_options(&ids)
        .iter()
        .map(|o| o.stages().suffix())
        .collect();
    assert_eq!(names, ["", ".age", ".zst", ".zst.age", ".sz", ".sz.age"]);
}
