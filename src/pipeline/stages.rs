//! Which stages an object goes through, and how object names spell them (`.zst`, `.sz`, `.age`).

use std::{fmt, str::FromStr};

/// How to compress objects being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Zstd { level: i32 },
    Snappy,
}

impl Compression {
    /// zstd's own default, what `zstd` without a level means.
    pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

    /// The zstd levels walden accepts: zstd's "fast" levels down to -7 and
    /// 1 to 19 (0 would silently mean zstd's default; above 19 needs far
    /// more memory to decode).
    pub fn check_zstd_level(level: i32) -> Result<i32, String> {
        if (-7..=-1).contains(&level) || (1..=19).contains(&level) {
            Ok(level)
        } else {
            Err(format!(
                "zstd level {level} is not accepted: use -7 to -1 (fastest) or 1 to 19"
            ))
        }
    }

    /// The codec objects written with this setting carry.
    pub fn codec(&self) -> Codec {
        match self {
            Compression::None => Codec::None,
            Compression::Zstd { .. } => Codec::Zstd,
            Compression::Snappy => Codec::Snappy,
        }
    }
}

/// A compression setting that is not `none`, `zstd`, `zstd:LEVEL` or `snappy`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression {0:?}: expected none, zstd, zstd:LEVEL (-7 to -1, 1 to 19) or snappy")]
pub struct UnknownCompression(pub String);

impl FromStr for Compression {
    type Err = UnknownCompression;

    /// Accepts `none`, `zstd` (level 3), `zstd:LEVEL` and `snappy`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownCompression(s.to_string());
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "none" => Ok(Compression::None),
            "snappy" => Ok(Compression::Snappy),
            "zstd" => Ok(Compression::Zstd {
                level: Self::DEFAULT_ZSTD_LEVEL,
            }),
            other => {
                let level = other.strip_prefix("zstd:").ok_or_else(unknown)?;
                let level: i32 = level.parse().map_err(|_| unknown())?;
                let level = Self::check_zstd_level(level).map_err(|_| unknown())?;
                Ok(Compression::Zstd { level })
            }
        }
    }
}

impl fmt::Display for Compression {
    /// Prints what `FromStr` reads back (`zstd` for the default level).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => f.write_str("none"),
            Compression::Snappy => f.write_str("snappy"),
            Compression::Zstd { level } if *level == Self::DEFAULT_ZSTD_LEVEL => {
                f.write_str("zstd")
            }
            Compression::Zstd { level } => write!(f, "zstd:{level}"),
        }
    }
}

/// The compression an existing object was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    None,
    Zstd,
    Snappy,
}

impl Codec {
    /// The name suffix this codec adds (empty for `None`).
    pub fn extension(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Zstd => ".zst",
            Codec::Snappy => ".sz",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Codec::None => "none",
            Codec::Zstd => "zstd",
            Codec::Snappy => "snappy",
        })
    }
}

/// The stages an object went through, in the order applied: compress, then encrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stages {
    pub codec: Codec,
    pub encrypted: bool,
}

const AGE_EXTENSION: &str = ".age";

impl Stages {
    /// Stored bytes are the plaintext.
    pub const PLAIN: Stages = Stages {
        codec: Codec::None,
        encrypted: false,
    };

    /// The name suffix, stages in the order applied, so that a manual
    /// restore reads right to left: `age -d | zstd -d`.
    pub fn suffix(&self) -> String {
        let age = if self.encrypted { AGE_EXTENSION } else { "" };
        format!("{}{age}", self.codec.extension())
    }

    /// Splits a stored name into the logical name and its stages.
    ///
    /// Only the end of the name is examined (`.age`, then `.zst`/`.sz`), so
    /// names that contain dots themselves (`….00000028.backup.zst`) keep them.
    pub fn split_name(name: &str) -> (&str, Stages) {
        let (rest, encrypted) = match name.strip_suffix(AGE_EXTENSION) {
            Some(rest) => (rest, true),
            None => (name, false),
        };
        for codec in [Codec::Zstd, Codec::Snappy] {
            if let Some(base) = rest.strip_suffix(codec.extension()) {
                return (base, Stages { codec, encrypted });
            }
        }
        let codec = Codec::None;
        (rest, Stages { codec, encrypted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_CODECS: [Codec; 3] = [Codec::None, Codec::Zstd, Codec::Snappy];

    fn all_stages() -> impl Iterator<Item = Stages> {
        ALL_CODECS.into_iter().flat_map(|codec| {
            [false, true]
                .into_iter()
                .map(move |encrypted| Stages { codec, encrypted })
        })
    }

    #[test]
    fn suffixes_name_stages_in_order() {
        let got: Vec<String> = all_stages().map(|s| s.suffix()).collect();
        assert_eq!(got, ["", ".age", ".zst", ".zst.age", ".sz", ".sz.age"]);
    }

    #[test]
    fn split_name_inverts_suffix_for_every_combination() {
        let bases = [
            "000000010000000A000000FE",
            "000000010000000000000002.00000028.backup",
            "00000002.history",
            "000000010000000000000003.partial",
            "part.0001.tar",
        ];
        for base in bases {
            for stages in all_stages() {
                let name = format!("{base}{}", stages.suffix());
                assert_eq!(Stages::split_name(&name), (base, stages), "{name}");
            }
        }
    }

    #[test]
    fn split_name_examples() {
        let zstd_age = Stages {
            codec: Codec::Zstd,
            encrypted: true,
        };
        assert_eq!(Stages::split_name("X.zst.age"), ("X", zstd_age));
        assert_eq!(Stages::split_name("X"), ("X", Stages::PLAIN));
        let (base, stages) = Stages::split_name("000000010000000000000002.00000028.backup.zst");
        assert_eq!(base, "000000010000000000000002.00000028.backup");
        assert_eq!(stages.codec, Codec::Zstd);
        assert!(!stages.encrypted);
    }

    #[test]
    fn split_name_only_looks_at_the_end() {
        // `.age` before `.zst` is not a stage order we ever write.
        let (base, stages) = Stages::split_name("X.age.zst");
        assert_eq!(
            (base, stages.codec, stages.encrypted),
            ("X.age", Codec::Zstd, false)
        );
        assert_eq!(Stages::split_name("X.zst.sz").0, "X.zst");
        assert_eq!(Stages::split_name("X.zstd"), ("X.zstd", Stages::PLAIN));
        assert_eq!(Stages::split_name("X.tar"), ("X.tar", Stages::PLAIN));
    }

    #[test]
    fn compression_parses_and_displays() {
        let cases = [
            ("none", Compression::None),
            ("zstd", Compression::Zstd { level: 3 }),
            ("snappy", Compression::Snappy),
            ("zstd:19", Compression::Zstd { level: 19 }),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Compression>().unwrap(), want);
            assert_eq!(want.to_string(), text);
        }
        assert_eq!(
            "ZSTD".parse::<Compression>().unwrap(),
            Compression::Zstd { level: 3 }
        );
        assert_eq!(Compression::Zstd { level: 3 }.codec(), Codec::Zstd);
    }

    #[test]
    fn compression_rejects_unknown_and_bad_levels() {
        for bad in [
            "lz4", "", "zstd:", "zstd:0", "zstd:-8", "zstd:20", "zstd:x", "gzip",
        ] {
            let err = bad.parse::<Compression>().unwrap_err();
            assert!(
                err.to_string().contains("expected none, zstd"),
                "{bad}: {err}"
            );
        }
    }
}
