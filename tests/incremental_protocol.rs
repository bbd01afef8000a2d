//! PostgreSQL 17's incremental backups at the protocol level, against real PostgreSQL 17 and 18 servers: walden's replication client uploads a full backup's manifest (`UPLOAD_MANIFEST`) and asks for `BASE_BACKUP ( INCREMENTAL )`; every `INCREMENTAL.` file the server sends parses with walden's reader and is exactly as long as its header says; a changed relation comes with its changed blocks, an unchanged one with none. A manifest the server cannot use, and `summarize_wal = off`, are refused with the server's reason.

mod support;

use std::io::Read;

use support::network::*;
use support::*;
use walden::pg::base_backup::{BackupEvent, BaseBackup, BaseBackupOptions};
use walden::pg::incremental::{
    copies_from, copy_blocks, plan_rebuild, BlockGeometry, FileVersion, IncrementalHeader,
    RebuildPlan, INCREMENTAL_PREFIX,
};
use walden::pg::replication::ReplicationConnection;
use walden::pg::ConnectOptions;
use walden::pipeline::Identities;
use walden::repo::catalog;
use walden::repo::part_restore::read_server_manifest;
use walden::storage::local::LocalStore;
use walden::storage::ObjectStore;

/// The main archive's tar and the server's manifest of one backup.
struct Received {
    main_tar: Vec<u8>,
    manifest: Vec<u8>,
}

async fn connect(cluster: &Cluster) -> ReplicationConnection {
    let options = ConnectOptions {
        host: Some("127.0.0.1".into()),
        port: Some(cluster.port),
        user: Some(REPL_USER.into()),
        password: Some(REPL_PASSWORD.into()),
        ..ConnectOptions::default()
    };
    ReplicationConnection::connect(&options).await.unwrap()
}

async fn base_backup(
    connection: &mut ReplicationConnection,
    major: u32,
    incremental: bool,
) -> Result<Received, String> {
    let options = BaseBackupOptions {
        label: "walden incremental test".into(),
        fast_checkpoint: true,
        max_rate: None,
        incremental,
    };
    let mut backup = BaseBackup::start(connection, major, &options)
        .await
        .map_err(|e| e.to_string())?;
    let mut received = Received {
        main_tar: Vec::new(),
        manifest: Vec::new(),
    };
    let mut in_main = false;
    while let Some(event) = backup.next().await.map_err(|e| e.to_string())? {
        match event {
            BackupEvent::ArchiveStart { oid } => in_main = oid.is_none(),
            BackupEvent::ArchiveData(data) if in_main => received.main_tar.extend_from_slice(&data),
            BackupEvent::ManifestData(data) => received.manifest.extend_from_slice(&data),
            _ => {}
        }
    }
    Ok(received)
}

/// The bytes of the file `path` in a tar.
fn file_in(tar: &[u8], path: &str) -> Option<Vec<u8>> {
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == path {
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            return Some(body);
        }
    }
    None
}

/// `path` rebuilt from the full backup's tar and the incremental's, as a
/// restore of the chain does (plan, then each backup's file read once).
fn rebuilt(full_tar: &[u8], incremental_tar: &[u8], path: &str) -> Vec<u8> {
    let geometry = BlockGeometry::default();
    let full = file_in(full_tar, path).unwrap_or_else(|| panic!("{path} not in the full backup"));
    let (dir, name) = path.rsplit_once('/').unwrap();
    let increment = file_in(
        incremental_tar,
        &format!("{dir}/{INCREMENTAL_PREFIX}{name}"),
    )
    .unwrap_or_else(|| panic!("{path} is not incremental"));
    let header = IncrementalHeader::parse(path, &increment, geometry).unwrap();
    let versions = [
        FileVersion::Full {
            size: full.len() as u64,
        },
        FileVersion::Incremental(header),
    ];
    let plan = plan_rebuild(path, &versions, geometry).unwrap();
    let length = plan.block_length().unwrap_or(0) as usize;
    match plan {
        RebuildPlan::Copy { backup } => [full, increment][backup].clone(),
        RebuildPlan::Blocks(runs) => {
            let mut out = std::io::Cursor::new(vec![0u8; length * 8192]);
            for (backup, bytes) in [&full, &increment].into_iter().enumerate() {
                copy_blocks(&bytes[..], &copies_from(&runs, backup), &mut out, geometry).unwrap();
            }
            out.into_inner()
        }
    }
}

/// Every INCREMENTAL file of a tar, by the path of the file it stands for.
fn incremental_files(tar: &[u8]) -> Vec<(String, IncrementalHeader, u64)> {
    let mut archive = tar::Archive::new(tar);
    let mut found = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
        let Some(bare) = name.strip_prefix(INCREMENTAL_PREFIX) else {
            continue;
        };
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        let header = IncrementalHeader::parse(&path, &body, BlockGeometry::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let original = if dir.is_empty() {
            bare.to_owned()
        } else {
            format!("{dir}/{bare}")
        };
        found.push((original, header, body.len() as u64));
    }
    found
}

fn scenario(major: u32) {
    let test = format!("incremental_protocol_pg{major}");
    let Some(bin) = pg_bin_of_major(major, &test) else {
        return;
    };
    let scratch = Scratch::new();
    let mut cluster = Cluster::new(&bin, &scratch, "primary");
    cluster.initdb(&[]).unwrap();
    cluster
        .configure(&[
            ("wal_level", "replica".into()),
            ("summarize_wal", "on".into()),
            ("fsync", "off".into()),
            // Nothing may touch the tables behind the test's back: their
            // files are compared with the rebuilt ones.
            ("autovacuum", "off".into()),
        ])
        .unwrap();
    serve_over_tcp(&mut cluster, "scram-sha-256");
    create_repl_user(&cluster, "scram-sha-256");
    cluster.sql(
        "CREATE TABLE changed (id int PRIMARY KEY, pad text); \
         INSERT INTO changed SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g; \
         CREATE TABLE untouched (id int, pad text); \
         INSERT INTO untouched SELECT g, repeat('y', 200) FROM generate_series(1, 20000) g; \
         CHECKPOINT",
    );
    let changed = cluster.sql("SELECT pg_relation_filepath('changed')");
    let untouched = cluster.sql("SELECT pg_relation_filepath('untouched')");
    let untouched_blocks: u32 = cluster
        .sql("SELECT pg_relation_size('untouched') / 8192")
        .parse()
        .unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut connection = connect(&cluster).await;
        let full = base_backup(&mut connection, major, false).await.unwrap();
        connection.close().await;
        assert!(
            incremental_files(&full.main_tar).is_empty(),
            "{test}: a full backup has no incremental files"
        );
        assert!(full.manifest.starts_with(b"{"), "{test}: no manifest");

        // Change a few blocks of one table only.
        cluster.sql("UPDATE changed SET pad = 'z' WHERE id <= 50");

        let mut connection = connect(&cluster).await;
        connection.upload_manifest(&full.manifest).await.unwrap();
        let incremental = base_backup(&mut connection, major, true).await.unwrap();
        connection.close().await;
        let files = incremental_files(&incremental.main_tar);
        assert!(!files.is_empty(), "{test}: no INCREMENTAL files");
        for (path, header, size) in &files {
            assert_eq!(
                header.file_size(BlockGeometry::default()),
                *size,
                "{test}: {path} is not as long as its header says"
            );
        }
        let find = |path: &str| {
            files.iter().find(|(p, _, _)| p == path).unwrap_or_else(|| {
                panic!(
                    "{test}: {path} is not incremental: {:?}",
                    files.iter().map(|f| &f.0).collect::<Vec<_>>()
                )
            })
        };
        let (_, header, _) = find(&changed);
        assert!(
            !header.blocks.is_empty(),
            "{test}: the changed table sent no blocks"
        );
        let (_, header, _) = find(&untouched);
        assert!(
            header.blocks.is_empty(),
            "{test}: the untouched table sent blocks {:?}",
            header.blocks
        );
        assert_eq!(header.truncation_block_length, untouched_blocks, "{test}");

        // Rebuilt from the chain, both tables are what the server has on
        // disk once it has written out what it holds in memory.
        cluster.sql("CHECKPOINT");
        for path in [&changed, &untouched] {
            let live = std::fs::read(cluster.data.join(path)).unwrap();
            let rebuilt = rebuilt(&full.main_tar, &incremental.main_tar, path);
            assert_eq!(rebuilt.len(), live.len(), "{test}: {path}");
            assert!(
                rebuilt == live,
                "{test}: {path} rebuilt differs from the server's"
            );
        }

        // The server refuses a manifest it did not write.
        let mut connection = connect(&cluster).await;
        let refused = match connection
            .upload_manifest(b"{\"not\": \"a manifest\"}")
            .await
        {
            Err(e) => e.to_string(),
            Ok(()) => base_backup(&mut connection, major, true)
                .await
                .err()
                .expect("an incremental backup on a bogus manifest"),
        };
        assert!(refused.contains("manifest"), "{test}: {refused}");
        drop(connection);

        // Without WAL summaries there is nothing to base an incremental on.
        cluster.sql("ALTER SYSTEM SET summarize_wal = off");
        cluster.sql("SELECT pg_reload_conf()");
        std::thread::sleep(std::time::Duration::from_millis(500));
        let mut connection = connect(&cluster).await;
        connection.upload_manifest(&full.manifest).await.unwrap();
        let err = base_backup(&mut connection, major, true)
            .await
            .err()
            .expect("an incremental backup without summarize_wal");
        assert!(err.contains("summar"), "{test}: {err}");
    });
}

#[test]
fn incremental_backups_over_the_protocol_on_postgresql_17() {
    scenario(17);
}

#[test]
fn incremental_backups_over_the_protocol_on_postgresql_18() {
    scenario(18);
}

/// The base of an incremental backup is a walden backup taken over the
/// replication protocol: the server's manifest it keeps reads back through
/// the restore path's checks and is accepted by the server; a backup taken
/// from the data directory keeps none and is refused as a base.
#[test]
fn a_network_backups_server_manifest_is_the_base_of_an_incremental_one() {
    let test = "a_network_backups_server_manifest_is_the_base_of_an_incremental_one";
    let Some(bin) = pg_bin_of_major(17, test) else {
        return;
    };
    let mut site = site::Site::on(bin, RepoKind::Local, test, &[]).expect("a local repository");
    site.primary
        .configure(&[("summarize_wal", "on".into())])
        .unwrap();
    create_repl_user(&site.primary, "scram-sha-256");
    serve_over_tcp(&mut site.primary, "scram-sha-256");
    site.batch(1);
    let out = network_backup(&site, &site.repo, &site.primary, &[])
        .output()
        .unwrap();
    site::assert_ok(&out, "backup-push over the network");

    let store: std::sync::Arc<dyn ObjectStore> =
        std::sync::Arc::new(LocalStore::new(site.repo.local_dir()));
    let newest = |store: std::sync::Arc<dyn ObjectStore>| async move {
        let listed = catalog::list(store.as_ref()).await.unwrap();
        std::sync::Arc::new(listed.into_iter().rev().find_map(|b| b.manifest).unwrap())
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let manifest = newest(store.clone()).await;
        let server_manifest = read_server_manifest(store.clone(), manifest, Identities::default())
            .await
            .unwrap();
        assert!(server_manifest.starts_with(b"{"), "{test}");
        site.batch(2);
        let mut connection = connect(&site.primary).await;
        connection.upload_manifest(&server_manifest).await.unwrap();
        let incremental = base_backup(&mut connection, 17, true).await.unwrap();
        connection.close().await;
        assert!(
            !incremental_files(&incremental.main_tar).is_empty(),
            "{test}: no INCREMENTAL files"
        );
    });

    site::assert_ok(&site.backup(&[]), "backup-push --pgdata");
    runtime.block_on(async {
        let manifest = newest(store.clone()).await;
        let err = read_server_manifest(store.clone(), manifest, Identities::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("--pgdata"), "{test}: {err}");
    });
}
