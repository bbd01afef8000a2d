//! PostgreSQL 17's incremental files: the `INCREMENTAL.<name>` a server sends in place of a relation segment when a backup is taken with `BASE_BACKUP ( INCREMENTAL )`, and the plan that rebuilds the whole segment from a chain of backups, block by block, by the rules pg_combinebackup follows.
//!
//! An incremental file is a header (magic, block count, the truncation
//! length in blocks, the relative block numbers, then zeros up to a block
//! boundary when there are blocks) followed by the blocks themselves, in
//! the order of the list. Integers are in the server's byte order; walden
//! supports little-endian servers only, like the rest of its WAL reading.
//!
//! The plan is pure: it says, for every block of the rebuilt file, which
//! backup of the chain holds it and at which offset of that backup's file,
//! or that it is zero. Nothing here reads or writes files, so the same plan
//! serves a restore that streams each backup's parts in turn.
//!
//! A repository may be written by an attacker: every count and block number
//! is checked against the segment size before anything is allocated for it.

use std::ops::Range;

/// The first four bytes of every incremental file.
pub const INCREMENTAL_MAGIC: u32 = 0xd3ae_1f0d;

/// What the server puts before a relation segment's name to mark it incremental.
pub const INCREMENTAL_PREFIX: &str = "INCREMENTAL.";

/// PostgreSQL's block size and relation segment size in blocks (`BLCKSZ`,
/// `RELSEG_SIZE`): the defaults, which every server walden supports uses
/// unless built otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockGeometry {
    pub block_size: u32,
    pub segment_blocks: u32,
}

impl Default for BlockGeometry {
    fn default() -> Self {
        BlockGeometry {
            block_size: 8192,
            segment_blocks: 131_072,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IncrementalError {
    #[error("incremental file {file}: {detail}")]
    Invalid { file: String, detail: String },
    #[error("{file} has no full version in the backup chain: the chain is broken (a full backup's file, or a link, is missing)")]
    NoFullVersion { file: String },
    #[error("{file} is missing from backup {backup} of the chain, between versions that have it")]
    MissingVersion { file: String, backup: usize },
}

/// The header of one incremental file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalHeader {
    /// Relative block numbers, in the order their blocks follow the header.
    pub blocks: Vec<u32>,
    /// The length in blocks to which the segment was (or may have been)
    /// truncated since the backup before.
    pub truncation_block_length: u32,
    /// Bytes before the first block: the header, padded to a block
    /// boundary when there are blocks.
    pub header_length: u64,
}

impl IncrementalHeader {
    /// Parses the header at the start of `bytes` (which may go on into the
    /// blocks). `file` names it in errors.
    pub fn parse(
        file: &str,
        bytes: &[u8],
        geometry: BlockGeometry,
    ) -> Result<IncrementalHeader, IncrementalError> {
        let invalid = |detail: String| IncrementalError::Invalid {
            file: file.to_owned(),
            detail,
        };
        let word = |index: usize| -> Result<u32, IncrementalError> {
            let at = index * 4;
            bytes
                .get(at..at + 4)
                .map(|w| u32::from_le_bytes(w.try_into().expect("four bytes")))
                .ok_or_else(|| invalid(format!("the header ends after {} bytes", bytes.len())))
        };
        let magic = word(0)?;
        if magic != INCREMENTAL_MAGIC {
            return Err(invalid(format!(
                "bad magic number {magic:#x} (expected {INCREMENTAL_MAGIC:#x})"
            )));
        }
        let count = word(1)?;
        if count > geometry.segment_blocks {
            return Err(invalid(format!(
                "{count} blocks, more than a segment holds ({})",
                geometry.segment_blocks
            )));
        }
        let truncation_block_length = word(2)?;
        if truncation_block_length > geometry.segment_blocks {
            return Err(invalid(format!(
                "truncation length {truncation_block_length} blocks, more than a segment holds ({})",
                geometry.segment_blocks
            )));
        }
        let blocks = (0..count as usize)
            .map(|i| word(3 + i))
            .collect::<Result<Vec<u32>, _>>()?;
        let mut seen = blocks.clone();
        seen.sort_unstable();
        if let Some(&too_far) = seen.last().filter(|&&b| b >= geometry.segment_blocks) {
            return Err(invalid(format!(
                "block {too_far} is beyond a segment's {} blocks",
                geometry.segment_blocks
            )));
        }
        if let Some(twice) = seen.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(format!("block {} is listed twice", twice[0])));
        }
        let unpadded = 4 * (3 + u64::from(count));
        let block_size = u64::from(geometry.block_size);
        let header_length = if count > 0 {
            unpadded.div_ceil(block_size) * block_size
        } else {
            unpadded
        };
        Ok(IncrementalHeader {
            blocks,
            truncation_block_length,
            header_length,
        })
    }

    /// The size the whole incremental file must have.
    pub fn file_size(&self, geometry: BlockGeometry) -> u64 {
        self.header_length + self.blocks.len() as u64 * u64::from(geometry.block_size)
    }

    /// Where the `index`th listed block starts in the file.
    fn offset_of(&self, index: usize, geometry: BlockGeometry) -> u64 {
        self.header_length + index as u64 * u64::from(geometry.block_size)
    }

    /// The rebuilt segment's length in blocks: the truncation length, or
    /// more if blocks beyond it are listed (the segment grew during the
    /// backup).
    pub fn rebuilt_block_length(&self) -> u32 {
        self.blocks
            .iter()
            .map(|&b| b + 1)
            .max()
            .unwrap_or(0)
            .max(self.truncation_block_length)
    }
}

/// Reads an incremental file's header from the front of `reader`, leaving
/// it at the first block. Bounded like [`IncrementalHeader::parse`]: the
/// block count is checked before the list is read.
pub fn read_header(
    reader: &mut (impl std::io::Read + ?Sized),
    file: &str,
    geometry: BlockGeometry,
) -> Result<IncrementalHeader, IncrementalError> {
    let short = |e: std::io::Error| IncrementalError::Invalid {
        file: file.to_owned(),
        detail: format!("reading the header: {e}"),
    };
    let mut bytes = vec![0u8; 12];
    reader.read_exact(&mut bytes).map_err(short)?;
    let count = u32::from_le_bytes(bytes[4..8].try_into().expect("four bytes"));
    if count <= geometry.segment_blocks {
        bytes.resize(12 + 4 * count as usize, 0);
        reader.read_exact(&mut bytes[12..]).map_err(short)?;
    }
    let header = IncrementalHeader::parse(file, &bytes, geometry)?;
    let padding = header.header_length - bytes.len() as u64;
    let skipped = std::io::copy(
        &mut std::io::Read::take(&mut *reader, padding),
        &mut std::io::sink(),
    )
    .map_err(short)?;
    if skipped != padding {
        return Err(IncrementalError::Invalid {
            file: file.to_owned(),
            detail: "the file ends inside its header".into(),
        });
    }
    Ok(header)
}

/// The blocks of one rebuilt file that older backups of the chain may
/// still supply, for a restore that reads the chain newest first. The same
/// rules as [`plan_rebuild`], one backup at a time: the newest version's
/// blocks are written first; an older incremental version supplies the
/// blocks it lists that are below the newest truncation length and that no
/// newer version supplied; the first full version supplies every block
/// still missing below that length, and ends the search.
#[derive(Debug, Clone)]
pub struct PendingBlocks {
    /// The newest version's truncation length: older backups supply
    /// nothing at or beyond it.
    limit: u32,
    /// One bit per block below `limit`: supplied by a newer version.
    supplied: Vec<u64>,
}

impl PendingBlocks {
    /// After the newest version, incremental with `header`, was written.
    pub fn after_newest(header: &IncrementalHeader) -> PendingBlocks {
        let limit = header.truncation_block_length;
        let mut pending = PendingBlocks {
            limit,
            supplied: vec![0; (limit as usize).div_ceil(64)],
        };
        for &block in &header.blocks {
            pending.mark(block);
        }
        pending
    }

    fn is_supplied(&self, block: u32) -> bool {
        self.supplied[block as usize / 64] & (1 << (block % 64)) != 0
    }

    fn mark(&mut self, block: u32) {
        if block < self.limit {
            self.supplied[block as usize / 64] |= 1 << (block % 64);
        }
    }

    /// Which of an older incremental version's listed blocks to take, in
    /// the order they follow its header; they count as supplied from now on.
    pub fn take_incremental(&mut self, header: &IncrementalHeader) -> Vec<bool> {
        header
            .blocks
            .iter()
            .map(|&block| {
                let take = block < self.limit && !self.is_supplied(block);
                if take {
                    self.mark(block);
                }
                take
            })
            .collect()
    }

    /// Which blocks to take from an older full version of `size` bytes, as
    /// runs of consecutive blocks in ascending order (so they are copied in
    /// large writes): every block below the limit and inside the file (a
    /// partial last block is never used) that no newer version supplied.
    /// The rebuild is complete after them.
    pub fn take_full(&self, size: u64, geometry: BlockGeometry) -> Vec<Range<u32>> {
        let present = size / u64::from(geometry.block_size);
        let usable = u64::from(self.limit).min(present) as u32;
        let mut runs: Vec<Range<u32>> = Vec::new();
        for block in (0..usable).filter(|&block| !self.is_supplied(block)) {
            match runs.last_mut() {
                Some(run) if run.end == block => run.end += 1,
                _ => runs.push(block..block + 1),
            }
        }
        runs
    }
}

/// The lines of an incremental backup's `backup_label` that name the
/// backup it builds on. PostgreSQL refuses to start from a label holding
/// them ("this is an incremental backup, not a data directory").
const INCREMENTAL_LABEL_LINES: [&str; 2] = ["INCREMENTAL FROM LSN:", "INCREMENTAL FROM TLI:"];

/// The `backup_label` of a data directory rebuilt from an incremental
/// backup: the backup's own, without the lines that make it incremental
/// (as pg_combinebackup writes it). A full backup's label is unchanged.
pub fn label_of_rebuilt(label: &str) -> String {
    label
        .split_inclusive('\n')
        .filter(|line| !INCREMENTAL_LABEL_LINES.iter().any(|p| line.starts_with(p)))
        .collect()
}

/// One file as one backup of the chain holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileVersion {
    /// The whole file, `size` bytes.
    Full { size: u64 },
    /// An incremental file with this header.
    Incremental(IncrementalHeader),
    /// Not in this backup.
    Absent,
}

/// Where a run of blocks of the rebuilt file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSource {
    /// Zeros: no backup of the chain holds these blocks (PostgreSQL
    /// extended the segment without logging them).
    Zero,
    /// From backup `backup` of the chain (0 = the full backup), its file
    /// read from byte `offset` on, one block after another.
    Backup { backup: usize, offset: u64 },
}

/// How to produce a file of the newest backup of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebuildPlan {
    /// Copy that backup's whole file as it is.
    Copy { backup: usize },
    /// Write `runs` one after the other: each is a range of block numbers
    /// of the rebuilt file and where its blocks come from.
    Blocks(Vec<(Range<u32>, BlockSource)>),
}

impl RebuildPlan {
    /// The rebuilt file's length in blocks; `None` for a copy, which is as
    /// long as the version it copies.
    pub fn block_length(&self) -> Option<u32> {
        match self {
            RebuildPlan::Copy { .. } => None,
            RebuildPlan::Blocks(runs) => Some(runs.last().map_or(0, |(range, _)| range.end)),
        }
    }
}

/// Plans how `file` of the newest backup of a chain is rebuilt.
/// `versions[i]` is the file in backup `i` of the chain, oldest (the full
/// backup) first; the newest is last. Follows pg_combinebackup's
/// `reconstruct_from_incremental_file`: a block comes from the newest
/// backup that holds it; older backups only supply blocks below the newest
/// version's truncation length; the search stops at the first full version.
pub fn plan_rebuild(
    file: &str,
    versions: &[FileVersion],
    geometry: BlockGeometry,
) -> Result<RebuildPlan, IncrementalError> {
    let Some((newest_index, newest)) = versions.iter().enumerate().next_back() else {
        return Err(IncrementalError::NoFullVersion {
            file: file.to_owned(),
        });
    };
    let latest = match newest {
        FileVersion::Full { .. } => {
            return Ok(RebuildPlan::Copy {
                backup: newest_index,
            })
        }
        FileVersion::Absent => {
            return Err(IncrementalError::MissingVersion {
                file: file.to_owned(),
                backup: newest_index,
            })
        }
        FileVersion::Incremental(header) => header,
    };
    let length = latest.rebuilt_block_length();
    let limit = latest.truncation_block_length;
    let mut sources: Vec<Option<BlockSource>> = vec![None; length as usize];
    let mut from_later = false;
    for (i, &block) in latest.blocks.iter().enumerate() {
        sources[block as usize] = Some(BlockSource::Backup {
            backup: newest_index,
            offset: latest.offset_of(i, geometry),
        });
        from_later = true;
    }
    let mut full_found = false;
    for (backup, version) in versions[..newest_index].iter().enumerate().rev() {
        match version {
            FileVersion::Absent => {
                return Err(IncrementalError::MissingVersion {
                    file: file.to_owned(),
                    backup,
                })
            }
            FileVersion::Full { size } => {
                let present = size / u64::from(geometry.block_size);
                let usable = u64::from(limit).min(present) as u32;
                for block in 0..usable {
                    let slot = &mut sources[block as usize];
                    if slot.is_none() {
                        *slot = Some(BlockSource::Backup {
                            backup,
                            offset: u64::from(block) * u64::from(geometry.block_size),
                        });
                    }
                }
                // Nothing newer overrides it and it has exactly the right
                // length: copy it whole.
                if !from_later && u64::from(limit) * u64::from(geometry.block_size) == *size {
                    return Ok(RebuildPlan::Copy { backup });
                }
                full_found = true;
                break;
            }
            FileVersion::Incremental(header) => {
                for (i, &block) in header.blocks.iter().enumerate() {
                    if block < limit && sources[block as usize].is_none() {
                        sources[block as usize] = Some(BlockSource::Backup {
                            backup,
                            offset: header.offset_of(i, geometry),
                        });
                        from_later = true;
                    }
                }
            }
        }
    }
    if !full_found {
        return Err(IncrementalError::NoFullVersion {
            file: file.to_owned(),
        });
    }
    Ok(RebuildPlan::Blocks(runs(&sources, geometry)))
}

/// A run of blocks one backup's version of a file supplies: `blocks`
/// blocks read from byte `offset` of that version, written from block
/// `to_block` of the rebuilt file on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockCopy {
    pub offset: u64,
    pub to_block: u32,
    pub blocks: u32,
}

/// What a [`RebuildPlan::Blocks`] plan reads from backup `backup`, in the
/// order the blocks stand in that backup's file, so the file can be read
/// once, front to back, as it streams out of the repository.
pub fn copies_from(runs: &[(Range<u32>, BlockSource)], backup: usize) -> Vec<BlockCopy> {
    let mut copies: Vec<BlockCopy> = runs
        .iter()
        .filter_map(|(range, source)| match *source {
            BlockSource::Backup { backup: b, offset } if b == backup => Some(BlockCopy {
                offset,
                to_block: range.start,
                blocks: range.end - range.start,
            }),
            _ => None,
        })
        .collect();
    copies.sort_by_key(|c| c.offset);
    copies
}

/// Copies `copies` (ordered by offset, as [`copies_from`] gives them) from
/// `source`, one backup's version of the file read front to back, into
/// `out` at their block positions. Blocks no backup supplies are left as
/// they are: create `out` with [`RebuildPlan::block_length`] blocks of
/// zeros (`File::set_len` makes them without writing). A source shorter
/// than the plan says is an error, never a short file.
pub fn copy_blocks<R: std::io::Read, W: std::io::Write + std::io::Seek>(
    mut source: R,
    copies: &[BlockCopy],
    out: &mut W,
    geometry: BlockGeometry,
) -> std::io::Result<()> {
    let block_size = u64::from(geometry.block_size);
    let mut position = 0u64;
    let mut buffer = vec![0u8; geometry.block_size as usize];
    for copy in copies {
        if copy.offset < position {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "block copies overlap or are out of order",
            ));
        }
        let skipped = std::io::copy(
            &mut std::io::Read::take(&mut source, copy.offset - position),
            &mut std::io::sink(),
        )?;
        if skipped != copy.offset - position {
            return Err(short_source(copy.offset));
        }
        out.seek(std::io::SeekFrom::Start(
            u64::from(copy.to_block) * block_size,
        ))?;
        for _ in 0..copy.blocks {
            source
                .read_exact(&mut buffer)
                .map_err(|_| short_source(copy.offset + u64::from(copy.blocks) * block_size))?;
            out.write_all(&buffer)?;
        }
        position = copy.offset + u64::from(copy.blocks) * block_size;
    }
    Ok(())
}

fn short_source(needed: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!("the file ends before byte {needed}, which the rebuild needs"),
    )
}

/// Joins consecutive blocks read one after another from the same file.
fn runs(
    sources: &[Option<BlockSource>],
    geometry: BlockGeometry,
) -> Vec<(Range<u32>, BlockSource)> {
    let block_size = u64::from(geometry.block_size);
    let mut runs: Vec<(Range<u32>, BlockSource)> = Vec::new();
    for (block, source) in sources.iter().enumerate() {
        let block = block as u32;
        let source = source.unwrap_or(BlockSource::Zero);
        if let Some((range, last)) = runs.last_mut() {
            let continues = match (*last, source) {
                (BlockSource::Zero, BlockSource::Zero) => true,
                (
                    BlockSource::Backup { backup, offset },
                    BlockSource::Backup {
                        backup: next,
                        offset: next_offset,
                    },
                ) => {
                    backup == next
                        && offset + u64::from(range.end - range.start) * block_size == next_offset
                }
                _ => false,
            };
            if continues {
                range.end = block + 1;
                continue;
            }
        }
        runs.push((block..block + 1, source));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use BlockSource::{Backup, Zero};

    fn at(backup: usize, offset: u64) -> BlockSource {
        Backup { backup, offset }
    }

    const G: BlockGeometry = BlockGeometry {
        block_size: 8192,
        segment_blocks: 131_072,
    };

    fn header_bytes(blocks: &[u32], truncation: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        for word in [INCREMENTAL_MAGIC, blocks.len() as u32, truncation] {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        for b in blocks {
            bytes.extend_from_slice(&b.to_le_bytes());
        }
        bytes
    }

    fn incremental(blocks: &[u32], truncation: u32) -> FileVersion {
        FileVersion::Incremental(
            IncrementalHeader::parse("f", &header_bytes(blocks, truncation), G).unwrap(),
        )
    }

    fn full(blocks: u64) -> FileVersion {
        FileVersion::Full {
            size: blocks * 8192,
        }
    }

    #[test]
    fn a_header_is_read_and_padded_to_a_block_when_it_has_blocks() {
        let h = IncrementalHeader::parse("f", &header_bytes(&[7, 2], 10), G).unwrap();
        assert_eq!(h.blocks, vec![7, 2]);
        assert_eq!(h.truncation_block_length, 10);
        assert_eq!(h.header_length, 8192);
        assert_eq!(h.file_size(G), 3 * 8192);
        assert_eq!(h.rebuilt_block_length(), 10);
        let empty = IncrementalHeader::parse("f", &header_bytes(&[], 4), G).unwrap();
        assert_eq!(empty.header_length, 12);
        assert_eq!(empty.file_size(G), 12);
        let grown = IncrementalHeader::parse("f", &header_bytes(&[11], 4), G).unwrap();
        assert_eq!(grown.rebuilt_block_length(), 12);
    }

    #[test]
    fn hostile_headers_are_refused_before_anything_is_allocated() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x0d, 0x1f], "the header ends after 2 bytes"),
            (
                header_bytes(&[], 0)[..8].to_vec(),
                "the header ends after 8 bytes",
            ),
            (
                {
                    let mut b = header_bytes(&[], 0);
                    b[0] ^= 1;
                    b
                },
                "bad magic number",
            ),
            (
                {
                    let mut b = header_bytes(&[], 0);
                    b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
                    b
                },
                "4294967295 blocks, more than a segment holds",
            ),
            (
                {
                    let mut b = header_bytes(&[], 0);
                    b[4..8].copy_from_slice(&5u32.to_le_bytes());
                    b
                },
                "the header ends after 12 bytes",
            ),
            (header_bytes(&[], 131_073), "truncation length 131073"),
            (header_bytes(&[131_072], 1), "block 131072 is beyond"),
            (header_bytes(&[3, 1, 3], 4), "block 3 is listed twice"),
        ];
        for (bytes, expected) in cases {
            let err = IncrementalHeader::parse("base/5/16384", &bytes, G).unwrap_err();
            assert!(
                err.to_string().contains(expected),
                "{err} (expected {expected})"
            );
            assert!(err.to_string().contains("base/5/16384"), "{err}");
        }
    }

    #[test]
    fn the_newest_full_version_is_copied() {
        let plan = plan_rebuild("f", &[full(3), incremental(&[1], 3), full(5)], G).unwrap();
        assert_eq!(plan, RebuildPlan::Copy { backup: 2 });
    }

    #[test]
    fn an_unchanged_file_is_copied_from_the_full_backup() {
        let plan =
            plan_rebuild("f", &[full(4), incremental(&[], 4), incremental(&[], 4)], G).unwrap();
        assert_eq!(plan, RebuildPlan::Copy { backup: 0 });
        // Same blocks but truncated since: rebuilt, not copied.
        let plan = plan_rebuild("f", &[full(4), incremental(&[], 2)], G).unwrap();
        assert_eq!(plan, RebuildPlan::Blocks(vec![(0..2, at(0, 0))]));
    }

    #[test]
    fn each_block_comes_from_the_newest_backup_that_holds_it() {
        // full: 6 blocks; incr 1 changes 1 and 4; incr 2 changes 4 and
        // grows the file to 8 blocks (block 7 listed, 6 never written).
        let chain = [full(6), incremental(&[4, 1], 6), incremental(&[4, 7], 8)];
        let plan = plan_rebuild("f", &chain, G).unwrap();
        assert_eq!(
            plan,
            RebuildPlan::Blocks(vec![
                (0..1, at(0, 0)),
                (1..2, at(1, 8192 + 8192)),
                (2..4, at(0, 2 * 8192)),
                (4..5, at(2, 8192)),
                (5..6, at(0, 5 * 8192)),
                (6..7, Zero),
                (7..8, at(2, 2 * 8192)),
            ])
        );
        assert_eq!(plan.block_length(), Some(8));
    }

    #[test]
    fn older_backups_give_nothing_beyond_the_newest_truncation_length() {
        // Truncated to 2 blocks, then block 5 written again: 2..5 are zero,
        // not the full backup's stale blocks; incr 1's block 3 is stale too.
        let chain = [full(8), incremental(&[3], 8), incremental(&[5], 2)];
        let plan = plan_rebuild("f", &chain, G).unwrap();
        assert_eq!(
            plan,
            RebuildPlan::Blocks(vec![(0..2, at(0, 0)), (2..5, Zero), (5..6, at(2, 8192)),])
        );
    }

    #[test]
    fn a_short_full_version_leaves_zeros_and_a_partial_block_is_not_used() {
        let chain = [
            FileVersion::Full {
                size: 2 * 8192 + 100,
            },
            incremental(&[], 4),
        ];
        let plan = plan_rebuild("f", &chain, G).unwrap();
        assert_eq!(
            plan,
            RebuildPlan::Blocks(vec![(0..2, at(0, 0)), (2..4, Zero),])
        );
    }

    #[test]
    fn the_search_stops_at_the_newest_full_version() {
        // Backup 1 has the file whole (a new relation then): backup 0's
        // version is never read.
        let chain = [full(9), full(2), incremental(&[1], 2)];
        let plan = plan_rebuild("f", &chain, G).unwrap();
        assert_eq!(
            plan,
            RebuildPlan::Blocks(vec![(0..1, at(1, 0)), (1..2, at(2, 8192)),])
        );
    }

    #[test]
    fn a_broken_chain_is_refused() {
        let err =
            plan_rebuild("base/5/1", &[incremental(&[0], 1), incremental(&[], 1)], G).unwrap_err();
        assert_eq!(
            err,
            IncrementalError::NoFullVersion {
                file: "base/5/1".into()
            }
        );
        let err = plan_rebuild(
            "base/5/1",
            &[full(1), FileVersion::Absent, incremental(&[], 1)],
            G,
        )
        .unwrap_err();
        assert_eq!(
            err,
            IncrementalError::MissingVersion {
                file: "base/5/1".into(),
                backup: 1
            }
        );
        assert!(plan_rebuild("f", &[], G).is_err());
        assert!(plan_rebuild("f", &[full(1), FileVersion::Absent], G).is_err());
    }

    #[test]
    fn every_planned_block_lies_inside_its_source() {
        // Whatever the chain, a run never reads past the version it names.
        let chain = [
            full(5),
            incremental(&[0, 9, 4], 10),
            incremental(&[2], 7),
            incremental(&[6, 1], 12),
        ];
        let RebuildPlan::Blocks(runs) = plan_rebuild("f", &chain, G).unwrap() else {
            panic!("expected blocks");
        };
        let mut next = 0;
        for (range, source) in runs {
            assert_eq!(range.start, next, "runs are contiguous");
            next = range.end;
            if let Backup { backup, offset } = source {
                let end = offset + u64::from(range.end - range.start) * 8192;
                let size = match &chain[backup] {
                    FileVersion::Full { size } => *size,
                    FileVersion::Incremental(h) => h.file_size(G),
                    FileVersion::Absent => 0,
                };
                assert!(
                    end <= size,
                    "{range:?} from backup {backup} ends at {end} of {size}"
                );
            }
        }
        assert_eq!(next, 12);
    }

    /// Rebuilds a file from in-memory versions through `copies_from` and
    /// `copy_blocks`, as a restore does from streamed parts.
    fn rebuild(chain: &[(FileVersion, Vec<u8>)]) -> Vec<u8> {
        let versions: Vec<FileVersion> = chain.iter().map(|(v, _)| v.clone()).collect();
        let plan = plan_rebuild("f", &versions, G).unwrap();
        let length = plan.block_length().unwrap_or(0) as usize;
        match plan {
            RebuildPlan::Copy { backup } => chain[backup].1.clone(),
            RebuildPlan::Blocks(runs) => {
                let mut out = std::io::Cursor::new(vec![0u8; length * 8192]);
                for (backup, (_, bytes)) in chain.iter().enumerate() {
                    copy_blocks(&bytes[..], &copies_from(&runs, backup), &mut out, G).unwrap();
                }
                out.into_inner()
            }
        }
    }

    /// A block whose every byte says which backup wrote it and where.
    fn block(backup: u8, number: u32) -> Vec<u8> {
        let mut b = vec![backup; 8192];
        b[..4].copy_from_slice(&number.to_le_bytes());
        b
    }

    fn incremental_with_data(
        backup: u8,
        blocks: &[u32],
        truncation: u32,
    ) -> (FileVersion, Vec<u8>) {
        let FileVersion::Incremental(header) = incremental(blocks, truncation) else {
            unreachable!()
        };
        let mut bytes = header_bytes(blocks, truncation);
        bytes.resize(header.header_length as usize, 0);
        for &b in blocks {
            bytes.extend(block(backup, b));
        }
        (FileVersion::Incremental(header), bytes)
    }

    fn full_with_data(backup: u8, blocks: u32) -> (FileVersion, Vec<u8>) {
        let bytes: Vec<u8> = (0..blocks).flat_map(|b| block(backup, b)).collect();
        (
            FileVersion::Full {
                size: bytes.len() as u64,
            },
            bytes,
        )
    }

    #[test]
    fn a_rebuilt_file_holds_each_blocks_newest_version_and_zeros() {
        let chain = [
            full_with_data(0, 6),
            incremental_with_data(1, &[4, 1], 6),
            incremental_with_data(2, &[4, 7], 8),
        ];
        let rebuilt = rebuild(&chain);
        let expected: Vec<u8> = [
            block(0, 0),
            block(1, 1),
            block(0, 2),
            block(0, 3),
            block(2, 4),
            block(0, 5),
            vec![0; 8192],
            block(2, 7),
        ]
        .concat();
        assert_eq!(rebuilt.len(), expected.len());
        assert!(rebuilt == expected, "the rebuilt file differs");
    }

    #[test]
    fn a_short_source_is_an_error_not_a_short_file() {
        let (version, mut bytes) = incremental_with_data(1, &[0, 1], 2);
        bytes.truncate(bytes.len() - 100);
        let chain = [full_with_data(0, 2).0, version];
        let RebuildPlan::Blocks(runs) = plan_rebuild("f", &chain, G).unwrap() else {
            panic!()
        };
        let mut out = std::io::Cursor::new(vec![0u8; 2 * 8192]);
        let err = copy_blocks(&bytes[..], &copies_from(&runs, 1), &mut out, G).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    /// Rebuilds a file newest first through [`PendingBlocks`], reading each
    /// version front to back as a restore streams it.
    fn rebuild_newest_first(chain: &[(FileVersion, Vec<u8>)]) -> Vec<u8> {
        let bs = 8192usize;
        let (newest, bytes) = chain.last().unwrap();
        let header = match newest {
            FileVersion::Full { .. } => return bytes.clone(),
            FileVersion::Incremental(_) => read_header(&mut &bytes[..], "f", G).unwrap(),
            FileVersion::Absent => unreachable!(),
        };
        let mut out = vec![0u8; header.rebuilt_block_length() as usize * bs];
        let mut body = &bytes[header.header_length as usize..];
        for &b in &header.blocks {
            out[b as usize * bs..][..bs].copy_from_slice(&body[..bs]);
            body = &body[bs..];
        }
        let mut pending = PendingBlocks::after_newest(&header);
        for (version, bytes) in chain[..chain.len() - 1].iter().rev() {
            match version {
                FileVersion::Full { size } => {
                    let mut last_end = 0;
                    for run in pending.take_full(*size, G) {
                        assert!(run.start >= last_end && run.start < run.end, "runs ascend");
                        last_end = run.end;
                        let range = run.start as usize * bs..run.end as usize * bs;
                        out[range.clone()].copy_from_slice(&bytes[range]);
                    }
                    return out;
                }
                FileVersion::Incremental(_) => {
                    let mut reader = &bytes[..];
                    let header = read_header(&mut reader, "f", G).unwrap();
                    let take = pending.take_incremental(&header);
                    for (&b, take) in header.blocks.iter().zip(take) {
                        if take {
                            out[b as usize * bs..][..bs].copy_from_slice(&reader[..bs]);
                        }
                        reader = &reader[bs..];
                    }
                }
                FileVersion::Absent => unreachable!(),
            }
        }
        panic!("no full version")
    }

    #[test]
    fn a_rebuilt_directory_gets_a_full_backups_label() {
        let label = "START WAL LOCATION: 0/9000028 (file 000000010000000000000009)\nCHECKPOINT LOCATION: 0/9000080\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-12-07 10:00:00 UTC\nLABEL: x\nSTART TIMELINE: 1\nINCREMENTAL FROM LSN: 0/7000028\nINCREMENTAL FROM TLI: 1\n";
        let rebuilt = label_of_rebuilt(label);
        assert!(!rebuilt.contains("INCREMENTAL"), "{rebuilt}");
        assert!(rebuilt.ends_with("START TIMELINE: 1\n"), "{rebuilt}");
        let full = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nLABEL: y";
        assert_eq!(label_of_rebuilt(full), full);
    }

    #[test]
    fn a_header_is_read_from_a_stream_and_left_at_the_first_block() {
        let (_, bytes) = incremental_with_data(3, &[5, 1], 9);
        let mut reader = &bytes[..];
        let header = read_header(&mut reader, "f", G).unwrap();
        assert_eq!(header.blocks, vec![5, 1]);
        assert_eq!(reader, &bytes[8192..]);
        let empty = header_bytes(&[], 4);
        let mut reader = &empty[..];
        assert_eq!(
            read_header(&mut reader, "f", G)
                .unwrap()
                .truncation_block_length,
            4
        );
        assert!(reader.is_empty());
        // Hostile or short: an error, and no huge allocation first.
        let mut huge = header_bytes(&[], 0);
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_header(&mut &huge[..], "f", G).is_err());
        assert!(read_header(&mut &bytes[..20], "f", G).is_err());
        assert!(read_header(&mut &bytes[..100], "f", G).is_err());
    }

    /// A chain of random versions: a full one first, then incrementals
    /// (sometimes a full one again, as for a relation created anew).
    fn chain() -> impl proptest::strategy::Strategy<Value = Vec<FileVersion>> {
        use proptest::prelude::*;
        let version = prop_oneof![
            1 => (0u64..40).prop_map(|blocks| FileVersion::Full { size: blocks * 8192 }),
            4 => (proptest::collection::btree_set(0u32..40, 0..10), 0u32..40).prop_map(
                |(blocks, truncation)| {
                    let blocks: Vec<u32> = blocks.into_iter().rev().collect();
                    incremental(&blocks, truncation)
                }
            ),
        ];
        ((0u64..40), proptest::collection::vec(version, 0..6)).prop_map(|(first, rest)| {
            let mut chain = vec![full(first)];
            chain.extend(rest);
            chain
        })
    }

    /// A chain like [`chain`], with every version's bytes.
    fn chain_with_data() -> impl proptest::strategy::Strategy<Value = Vec<(FileVersion, Vec<u8>)>> {
        use proptest::prelude::*;
        let version = prop_oneof![
            1 => (0u32..12).prop_map(Err),
            4 => (proptest::collection::btree_set(0u32..12, 0..6), 0u32..12, any::<bool>())
                .prop_map(|(blocks, truncation, reversed)| {
                    let mut blocks: Vec<u32> = blocks.into_iter().collect();
                    if reversed {
                        blocks.reverse();
                    }
                    Ok((blocks, truncation))
                }),
        ];
        ((0u32..12), proptest::collection::vec(version, 0..5)).prop_map(|(first, rest)| {
            let mut chain = vec![full_with_data(0, first)];
            for (i, v) in rest.into_iter().enumerate() {
                let backup = i as u8 + 1;
                chain.push(match v {
                    Err(blocks) => full_with_data(backup, blocks),
                    Ok((blocks, truncation)) => incremental_with_data(backup, &blocks, truncation),
                });
            }
            chain
        })
    }

    proptest::proptest! {
        #[test]
        fn newest_first_rebuilds_exactly_what_the_plan_does(chain in chain_with_data()) {
            let planned = rebuild(&chain);
            let streamed = rebuild_newest_first(&chain);
            proptest::prop_assert_eq!(planned.len(), streamed.len());
            proptest::prop_assert!(planned == streamed, "the rebuilt files differ");
        }
    }

    proptest::proptest! {
        #[test]
        fn plans_read_only_inside_their_sources_and_keep_the_newest_blocks(chain in chain()) {
            let newest = chain.len() - 1;
            match plan_rebuild("f", &chain, G).unwrap() {
                RebuildPlan::Copy { backup } => {
                    // Only a full version of exactly the right length, when
                    // nothing newer changed a block below that length.
                    let FileVersion::Full { size } = chain[backup] else { panic!("copy of an incremental") };
                    if backup != newest {
                        proptest::prop_assert_eq!(size, u64::from(chain_limit(&chain)) * 8192);
                    }
                    for version in &chain[backup + 1..] {
                        let FileVersion::Incremental(h) = version else { panic!("copy past a full version") };
                        proptest::prop_assert!(h.blocks.iter().all(|&b| b >= chain_limit(&chain)));
                    }
                }
                RebuildPlan::Blocks(runs) => {
                    let FileVersion::Incremental(latest) = &chain[newest] else { panic!("blocks for a full version") };
                    let mut next = 0;
                    for (range, source) in &runs {
                        proptest::prop_assert_eq!(range.start, next);
                        next = range.end;
                        if let Backup { backup, offset } = *source {
                            let end = offset + u64::from(range.end - range.start) * 8192;
                            let size = match &chain[backup] {
                                FileVersion::Full { size } => *size,
                                FileVersion::Incremental(h) => h.file_size(G),
                                FileVersion::Absent => 0,
                            };
                            proptest::prop_assert!(end <= size);
                        }
                    }
                    proptest::prop_assert_eq!(next, latest.rebuilt_block_length());
                    for &block in &latest.blocks {
                        let (_, source) = runs.iter().find(|(r, _)| r.contains(&block)).unwrap();
                        let from_newest = matches!(source, Backup { backup, .. } if *backup == newest);
                        proptest::prop_assert!(from_newest);
                    }
                }
            }
        }
    }

    fn chain_limit(chain: &[FileVersion]) -> u32 {
        match chain.last() {
            Some(FileVersion::Incremental(h)) => h.truncation_block_length,
            _ => u32::MAX,
        }
    }
}
