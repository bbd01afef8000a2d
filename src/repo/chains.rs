//! Chains of incremental backups, worked out from the complete backups alone: whether each is full or incremental, how many backups its chain holds, the full backup it ultimately builds on, and, when a link is gone, why it cannot be restored.
//!
//! Pure: commands list the repository and hand the facts here, so
//! `backup-list`, `verify` and `status` tell one story. A repository is
//! hostile input (anyone who can write to the bucket can write a manifest),
//! so every walk down a chain is bounded: a chain that loops is reported as
//! broken, never followed forever.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::repo::catalog::BackupEntry;

/// What the chains need to know of one complete backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    pub name: &'a str,
    /// The backup it builds on; `None` for a full backup.
    pub parent: Option<&'a str>,
    /// The cluster it is a backup of: an incremental backup builds only on
    /// a backup of the same cluster.
    pub system_identifier: &'a str,
}

/// Full or incremental, as `backup-list --json` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupType {
    Full,
    Incremental,
}

impl BackupType {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupType::Full => "full",
            BackupType::Incremental => "incremental",
        }
    }
}

/// Why a backup cannot be built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// No backup of that name in the repository.
    Missing,
    /// There, but not complete: no manifest (interrupted, or still
    /// running), or one that cannot be used.
    Incomplete,
    /// A complete backup, but of another cluster.
    OtherSystem {
        /// The system identifier of the backup naming the parent.
        system_identifier: String,
        /// The parent's.
        parent_system_identifier: String,
    },
    /// Already further up the same chain: following the parents goes round
    /// in a circle and never reaches a full backup.
    Cycle,
}

/// Where a chain breaks: `backup` (the one the chain ends in, or one it
/// builds on) names `parent`, which it cannot be built on, for `why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub backup: String,
    pub parent: String,
    pub why: Why,
}

impl Break {
    /// "backup W builds on Y, which is not in the repository".
    fn what(&self) -> String {
        let what = match &self.why {
            Why::Missing => "is not in the repository".to_string(),
            Why::Incomplete => "is incomplete (no usable manifest)".to_string(),
            Why::OtherSystem {
                system_identifier,
                parent_system_identifier,
            } => format!(
                "is a backup of another cluster (system identifier {parent_system_identifier}, not {system_identifier})"
            ),
            Why::Cycle => {
                "builds on it in turn: the chain goes round in a circle and reaches no full backup"
                    .to_string()
            }
        };
        format!(
            "backup {} builds on {}, which {what}",
            self.backup, self.parent
        )
    }

    /// The break once, with every backup it leaves unrestorable (those that
    /// end in it, oldest name first), for a summary such as `status`'s.
    pub fn describe(&self, affected: &[&str]) -> String {
        let cannot = match affected {
            [] => String::new(),
            [one] => format!(": {one} cannot be restored"),
            [first, rest @ ..] => format!(
                ": {} backups cannot be restored ({first} and {} more)",
                affected.len(),
                rest.len()
            ),
        };
        format!("{}{cannot}", self.what())
    }
}

/// The chain one complete backup ends in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub parent: Option<String>,
    /// Backups in the chain from its base up to this one, both counted: 1
    /// for a full backup, the parent's length + 1 for an incremental one.
    /// For a broken chain, the backups of it that are in the repository.
    pub length: usize,
    /// The oldest backup of the chain in the repository: the full backup
    /// this one ultimately builds on, when the chain is whole.
    pub base: String,
    /// Why this backup cannot be restored; `None` when the chain is whole.
    pub broken: Option<Break>,
}

impl Chain {
    pub fn backup_type(&self) -> BackupType {
        match self.parent {
            None => BackupType::Full,
            Some(_) => BackupType::Incremental,
        }
    }

    /// The full backup this one builds on (itself for a full backup);
    /// `None` when the chain is broken.
    pub fn full(&self) -> Option<&str> {
        self.broken.is_none().then_some(self.base.as_str())
    }

    /// What the chain hangs from: its full backup, or the name at which it
    /// breaks. Backups with the same root are one chain.
    pub fn root(&self) -> &str {
        match &self.broken {
            None => &self.base,
            Some(b) => &b.parent,
        }
    }

    /// Why this backup cannot be restored, for the operator; `None` when
    /// its chain is whole.
    pub fn problem(&self) -> Option<String> {
        let b = self.broken.as_ref()?;
        let name = &self.name;
        Some(if b.backup == *name {
            format!("{}: {name} cannot be restored", b.what())
        } else {
            format!(
                "backup {name} builds on {}, whose chain is broken: {}; {name} cannot be restored",
                self.parent.as_deref().unwrap_or("?"),
                b.what()
            )
        })
    }
}

/// How many backups of each type, in how many chains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub full: usize,
    pub incremental: usize,
    /// Distinct chains the incremental backups hang from (see
    /// [`Chain::root`]); a full backup nothing builds on is in none.
    pub chains: usize,
    /// Incremental backups whose chain is broken.
    pub broken: usize,
}

/// The chain of every complete backup.
#[derive(Debug, Clone, Default)]
pub struct Chains {
    chains: BTreeMap<String, Chain>,
}

impl Chains {
    /// The chains of the complete backups `links` (names are unique: they
    /// are directories), where `incomplete` names the backups that are in
    /// the repository but not complete.
    pub fn new(links: &[Link<'_>], incomplete: &[&str]) -> Chains {
        let by_name: BTreeMap<&str, &Link> = links.iter().map(|l| (l.name, l)).collect();
        let incomplete: BTreeSet<&str> = incomplete.iter().copied().collect();
        let chains = by_name
            .values()
            .map(|link| (link.name.to_string(), walk(link, &by_name, &incomplete)))
            .collect();
        Chains { chains }
    }

    /// The chains of the backups in a listing: those with a manifest are
    /// complete, the others (interrupted, running, or with a manifest that
    /// cannot be used) are not.
    pub fn of_entries(entries: &[BackupEntry]) -> Chains {
        let links: Vec<Link> = entries
            .iter()
            .filter_map(|e| {
                let m = e.manifest.as_ref()?;
                Some(Link {
                    name: &e.name,
                    parent: m.parent.as_deref(),
                    system_identifier: &m.system_identifier,
                })
            })
            .collect();
        let incomplete: Vec<&str> = entries
            .iter()
            .filter(|e| e.manifest.is_none())
            .map(|e| e.name.as_str())
            .collect();
        Chains::new(&links, &incomplete)
    }

    /// The chain of complete backup `name`.
    pub fn get(&self, name: &str) -> Option<&Chain> {
        self.chains.get(name)
    }

    /// Every chain, by backup name.
    pub fn iter(&self) -> impl Iterator<Item = &Chain> {
        self.chains.values()
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        let mut roots = BTreeSet::new();
        for chain in self.iter() {
            match chain.backup_type() {
                BackupType::Full => summary.full += 1,
                BackupType::Incremental => {
                    summary.incremental += 1;
                    roots.insert(chain.root());
                    if chain.broken.is_some() {
                        summary.broken += 1;
                    }
                }
            }
        }
        summary.chains = roots.len();
        summary
    }

    /// Each place a chain breaks, once, with the backups it leaves
    /// unrestorable.
    pub fn breaks(&self) -> Vec<(&Break, Vec<&str>)> {
        let mut found: Vec<(&Break, Vec<&str>)> = Vec::new();
        for chain in self.iter() {
            let Some(b) = &chain.broken else {
                continue;
            };
            match found.iter_mut().find(|(known, _)| *known == b) {
                Some((_, affected)) => affected.push(&chain.name),
                None => found.push((b, vec![&chain.name])),
            }
        }
        found
    }
}

/// Follows `start`'s parents down to a full backup or to the first link
/// that does not hold. Each step adds a backup not yet on the path (one
/// already on it is a cycle), so the walk takes at most `by_name.len()`
/// steps, however the manifests lie.
fn walk(start: &Link, by_name: &BTreeMap<&str, &Link>, incomplete: &BTreeSet<&str>) -> Chain {
    let mut on_path: BTreeSet<&str> = BTreeSet::from([start.name]);
    let mut current = start;
    let chain = |current: &Link, length: usize, broken: Option<Break>| Chain {
        name: start.name.to_string(),
        parent: start.parent.map(str::to_string),
        length,
        base: current.name.to_string(),
        broken,
    };
    let broken = |current: &Link, parent: &str, why: Why| {
        Some(Break {
            backup: current.name.to_string(),
            parent: parent.to_string(),
            why,
        })
    };
    for _ in 0..=by_name.len() {
        let Some(parent) = current.parent else {
            return chain(current, on_path.len(), None);
        };
        if on_path.contains(parent) {
            return chain(current, on_path.len(), broken(current, parent, Why::Cycle));
        }
        let why = match by_name.get(parent) {
            None if incomplete.contains(parent) => Why::Incomplete,
            None => Why::Missing,
            Some(next) if next.system_identifier != current.system_identifier => Why::OtherSystem {
                system_identifier: current.system_identifier.to_string(),
                parent_system_identifier: next.system_identifier.to_string(),
            },
            Some(next) => {
                on_path.insert(parent);
                current = next;
                continue;
            }
        };
        return chain(current, on_path.len(), broken(current, parent, why));
    }
    // Not reached: the path cannot hold more backups than there are. Said
    // as a cycle rather than trusted.
    let parent = current.parent.unwrap_or(current.name);
    chain(current, on_path.len(), broken(current, parent, Why::Cycle))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYS: &str = "7300000000000000001";

    fn link<'a>(name: &'a str, parent: Option<&'a str>) -> Link<'a> {
        Link {
            name,
            parent,
            system_identifier: SYS,
        }
    }

    /// (name, parent) pairs of one cluster, no incomplete backups.
    fn chains(pairs: &[(&str, Option<&str>)]) -> Chains {
        let links: Vec<Link> = pairs.iter().map(|&(n, p)| link(n, p)).collect();
        Chains::new(&links, &[])
    }

    /// (type, length, full, break as (backup, parent, why)) of a backup.
    type Facts = (
        BackupType,
        usize,
        Option<String>,
        Option<(String, String, Why)>,
    );

    fn facts(chains: &Chains, name: &str) -> Facts {
        let c = chains.get(name).unwrap();
        (
            c.backup_type(),
            c.length,
            c.full().map(str::to_string),
            c.broken.clone().map(|b| (b.backup, b.parent, b.why)),
        )
    }

    fn brk(backup: &str, parent: &str, why: Why) -> Option<(String, String, Why)> {
        Some((backup.into(), parent.into(), why))
    }

    #[test]
    fn a_whole_chain_counts_down_to_its_full_backup() {
        use BackupType::*;
        let c = chains(&[
            ("f", None),
            ("i1", Some("f")),
            ("i2", Some("i1")),
            ("i3", Some("i2")),
            ("g", None),
        ]);
        assert_eq!(facts(&c, "f"), (Full, 1, Some("f".into()), None));
        assert_eq!(facts(&c, "i1"), (Incremental, 2, Some("f".into()), None));
        assert_eq!(facts(&c, "i3"), (Incremental, 4, Some("f".into()), None));
        assert_eq!(facts(&c, "g"), (Full, 1, Some("g".into()), None));
        assert!(c.iter().all(|c| c.problem().is_none()));
        assert_eq!(
            c.summary(),
            Summary {
                full: 2,
                incremental: 3,
                chains: 1,
                broken: 0
            }
        );
        assert!(c.breaks().is_empty());
    }

    #[test]
    fn branches_on_one_full_are_one_chain() {
        // f <- a <- a2, f <- b, g <- c: 4 incrementals in 2 chains.
        let c = chains(&[
            ("f", None),
            ("a", Some("f")),
            ("a2", Some("a")),
            ("b", Some("f")),
            ("g", None),
            ("c", Some("g")),
        ]);
        assert_eq!(c.get("a2").unwrap().length, 3);
        assert_eq!(c.get("b").unwrap().length, 2);
        assert_eq!(
            c.summary(),
            Summary {
                full: 2,
                incremental: 4,
                chains: 2,
                broken: 0
            }
        );
    }

    #[test]
    fn a_missing_middle_link_breaks_everything_above_it() {
        use BackupType::*;
        // f <- i1 (gone) <- i2 <- i3
        let c = chains(&[("f", None), ("i2", Some("i1")), ("i3", Some("i2"))]);
        assert_eq!(facts(&c, "f"), (Full, 1, Some("f".into()), None));
        assert_eq!(
            facts(&c, "i2"),
            (Incremental, 1, None, brk("i2", "i1", Why::Missing))
        );
        assert_eq!(
            facts(&c, "i3"),
            (Incremental, 2, None, brk("i2", "i1", Why::Missing))
        );
        assert_eq!(
            c.get("i2").unwrap().problem().unwrap(),
            "backup i2 builds on i1, which is not in the repository: i2 cannot be restored"
        );
        assert_eq!(
            c.get("i3").unwrap().problem().unwrap(),
            "backup i3 builds on i2, whose chain is broken: backup i2 builds on i1, which is not in the repository; i3 cannot be restored"
        );
        assert_eq!(
            c.summary(),
            Summary {
                full: 1,
                incremental: 2,
                chains: 1,
                broken: 2
            }
        );
        let breaks = c.breaks();
        assert_eq!(breaks.len(), 1, "one break, told once: {breaks:?}");
        assert_eq!(breaks[0].1, ["i2", "i3"]);
        assert_eq!(
            breaks[0].0.describe(&breaks[0].1),
            "backup i2 builds on i1, which is not in the repository: 2 backups cannot be restored (i2 and 1 more)"
        );
    }

    #[test]
    fn an_incomplete_parent_is_told_apart_from_a_missing_one() {
        let links = [link("f", None), link("i", Some("half"))];
        let c = Chains::new(&links, &["half"]);
        assert_eq!(
            c.get("i").unwrap().broken.as_ref().unwrap().why,
            Why::Incomplete
        );
        assert_eq!(
            c.get("i").unwrap().problem().unwrap(),
            "backup i builds on half, which is incomplete (no usable manifest): i cannot be restored"
        );
    }

    #[test]
    fn a_parent_of_another_cluster_does_not_hold() {
        let links = [
            Link {
                name: "other",
                parent: None,
                system_identifier: "42",
            },
            link("i", Some("other")),
            link("j", Some("i")),
        ];
        let c = Chains::new(&links, &[]);
        let why = Why::OtherSystem {
            system_identifier: SYS.into(),
            parent_system_identifier: "42".into(),
        };
        assert_eq!(
            facts(&c, "j"),
            (
                BackupType::Incremental,
                2,
                None,
                brk("i", "other", why.clone())
            )
        );
        assert!(c
            .get("i")
            .unwrap()
            .problem()
            .unwrap()
            .contains("another cluster (system identifier 42, not 7300000000000000001)"));
    }

    #[test]
    fn cycles_end_the_walk_and_are_broken() {
        // a <- b <- c <- a, and d builds on the loop; s names itself.
        let c = chains(&[
            ("a", Some("c")),
            ("b", Some("a")),
            ("c", Some("b")),
            ("d", Some("c")),
            ("s", Some("s")),
        ]);
        for name in ["a", "b", "c"] {
            let chain = c.get(name).unwrap();
            assert_eq!(chain.length, 3, "{name}");
            let b = chain.broken.as_ref().unwrap();
            assert_eq!((&b.parent, &b.why), (&name.to_string(), &Why::Cycle));
            assert!(chain.problem().unwrap().contains("circle"), "{name}");
        }
        let d = c.get("d").unwrap();
        assert_eq!(d.length, 4);
        assert_eq!(
            d.broken.as_ref().unwrap(),
            &Break {
                backup: "a".into(),
                parent: "c".into(),
                why: Why::Cycle
            }
        );
        assert_eq!(
            facts(&c, "s"),
            (BackupType::Incremental, 1, None, brk("s", "s", Why::Cycle))
        );
        assert_eq!(c.summary().broken, 5);
    }

    #[test]
    fn a_long_chain_is_walked_whole() {
        let names: Vec<String> = (0..2000).map(|i| format!("b{i:05}")).collect();
        let links: Vec<Link> = names
            .iter()
            .enumerate()
            .map(|(i, n)| link(n, i.checked_sub(1).map(|p| names[p].as_str())))
            .collect();
        let c = Chains::new(&links, &[]);
        let top = c.get(&names[1999]).unwrap();
        assert_eq!(top.length, 2000);
        assert_eq!(top.full(), Some("b00000"));
        assert_eq!(
            c.summary(),
            Summary {
                full: 1,
                incremental: 1999,
                chains: 1,
                broken: 0
            }
        );
    }

    #[test]
    fn no_backups_no_chains() {
        let c = chains(&[]);
        assert_eq!(c.summary(), Summary::default());
        assert!(c.get("x").is_none());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Backups named n0..nK; each parent picks a name among twice as
        /// many, so some are missing, and some of those are incomplete.
        #[derive(Debug, Clone)]
        struct World {
            backups: Vec<(Option<usize>, u8)>,
            incomplete: Vec<usize>,
        }

        fn world() -> impl Strategy<Value = World> {
            (1usize..14).prop_flat_map(|n| {
                (
                    prop::collection::vec(
                        (
                            prop::option::weighted(0.7, 0..2 * n),
                            prop::sample::select(vec![1u8, 1, 1, 2]),
                        ),
                        n,
                    ),
                    prop::collection::vec(n..2 * n, 0..3),
                )
                    .prop_map(|(backups, incomplete)| World {
                        backups,
                        incomplete,
                    })
            })
        }

        fn name(i: usize) -> String {
            format!("n{i}")
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            #[test]
            fn every_chain_agrees_with_its_parent(w in world()) {
                let names: Vec<String> = (0..2 * w.backups.len()).map(name).collect();
                let systems: Vec<String> = w.backups.iter().map(|(_, s)| s.to_string()).collect();
                let links: Vec<Link> = w
                    .backups
                    .iter()
                    .enumerate()
                    .map(|(i, (parent, _))| Link {
                        name: &names[i],
                        parent: parent.map(|p| names[p].as_str()),
                        system_identifier: &systems[i],
                    })
                    .collect();
                let incomplete: Vec<&str> = w.incomplete.iter().map(|&i| names[i].as_str()).collect();
                let c = Chains::new(&links, &incomplete);
                prop_assert_eq!(c.iter().count(), links.len());
                let mut broken = 0;
                for l in &links {
                    let chain = c.get(l.name).unwrap();
                    prop_assert!(chain.length >= 1 && chain.length <= links.len());
                    prop_assert_eq!(chain.problem().is_some(), chain.broken.is_some());
                    broken += usize::from(chain.broken.is_some());
                    let Some(parent) = l.parent else {
                        prop_assert_eq!(chain.backup_type(), BackupType::Full);
                        prop_assert_eq!((chain.length, chain.full()), (1, Some(l.name)));
                        continue;
                    };
                    prop_assert_eq!(chain.backup_type(), BackupType::Incremental);
                    let here = |why: Why| Some(Break {
                        backup: l.name.to_string(),
                        parent: parent.to_string(),
                        why,
                    });
                    // On a cycle through itself: the walk comes back to it.
                    let on_cycle = chain
                        .broken
                        .as_ref()
                        .is_some_and(|b| b.why == Why::Cycle && b.parent == l.name);
                    match links.iter().find(|p| p.name == parent) {
                        None => {
                            let why = if incomplete.contains(&parent) {
                                Why::Incomplete
                            } else {
                                Why::Missing
                            };
                            prop_assert_eq!(&chain.broken, &here(why));
                            prop_assert_eq!(chain.length, 1);
                        }
                        Some(p) if p.system_identifier != l.system_identifier => {
                            prop_assert_eq!(&chain.broken, &here(Why::OtherSystem {
                                system_identifier: l.system_identifier.to_string(),
                                parent_system_identifier: p.system_identifier.to_string(),
                            }));
                        }
                        Some(_) if on_cycle => {
                            prop_assert!(chain.full().is_none());
                        }
                        Some(p) => {
                            // Parent's length + 1, same full, same break.
                            let up = c.get(p.name).unwrap();
                            prop_assert_eq!(chain.length, up.length + 1);
                            prop_assert_eq!(chain.full(), up.full());
                            prop_assert_eq!(&chain.broken, &up.broken);
                        }
                    }
                }
                let summary = c.summary();
                prop_assert_eq!(summary.full + summary.incremental, links.len());
                prop_assert_eq!(summary.broken, broken);
                prop_assert!(summary.chains <= summary.incremental);
                let told: usize = c.breaks().iter().map(|(_, affected)| affected.len()).sum();
                prop_assert_eq!(told, broken);
            }
        }
    }
}
