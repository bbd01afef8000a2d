//! backup-push against a TLS-only PostgreSQL over TCP, in both modes (reading the data directory, and over the replication protocol): libpq's sslmode rules, client certificates, SCRAM and md5 passwords, the password file, and clear failures.

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use support::site::*;
use support::tls::{Auth, TestCa, TlsServer, CERT_USER, MD5_USER};
use support::*;

/// A site whose primary only takes TLS over TCP, and its CA.
fn tls_site(test: &str) -> Option<(Site, TestCa, TlsServer)> {
    let mut site = Site::new(test)?;
    let ca = TestCa::new(&site.scratch, test)?;
    let server = TlsServer::setup(&mut site.primary, &ca);
    Some((site, ca, server))
}

/// The two ways backup-push reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `--pgdata`: a control session over TCP, the files from disk.
    DataDirectory,
    /// No `--pgdata`: BASE_BACKUP over a replication connection.
    Network,
}

impl Mode {
    /// The database field a .pgpass line must match.
    fn pgpass_database(self) -> &'static str {
        match self {
            Mode::DataDirectory => "postgres",
            Mode::Network => "replication",
        }
    }
}

/// backup-push of the primary over TCP, with `args` and `env` added.
fn backup_over_tcp(
    site: &Site,
    server: &TlsServer,
    mode: Mode,
    user: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Output, Duration) {
    let began = Instant::now();
    let mut cmd = site.command(&site.repo);
    cmd.arg("backup-push");
    if mode == Mode::DataDirectory {
        cmd.arg("--pgdata").arg(&site.primary.data);
    }
    let out = cmd
        .args(["--pg-host", &server.host])
        .args(["--pg-port", &server.port.to_string()])
        .args(["--pg-user", user, "--pg-database", "postgres"])
        .args(["--checkpoint", "fast"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out, began.elapsed())
}

#[test]
fn verify_full_backup_over_tls_restores() {
    verify_full_backup_restores(Mode::DataDirectory, "verify_full_backup_over_tls_restores");
}

#[test]
fn verify_full_backup_over_tls_restores_in_network_mode() {
    verify_full_backup_restores(
        Mode::Network,
        "verify_full_backup_over_tls_restores_in_network_mode",
    );
}

fn verify_full_backup_restores(mode: Mode, test: &str) {
    let Some((site, ca, server)) = tls_site(test) else {
        return;
    };
    server.create_role(
        &site.primary,
        "walden_scram",
        Some("scram pw"),
        Auth::Scram,
        "SUPERUSER",
    );
    site.batch(1);
    let root = ca.root_cert.display().to_string();
    let (out, _) = backup_over_tcp(
        &site,
        &server,
        mode,
        "walden_scram",
        &["--pg-sslmode", "verify-full", "--pg-sslrootcert", &root],
        &[("PGPASSWORD", "scram pw")],
    );
    // pg_hba.conf has only hostssl lines for TCP: success means TLS.
    assert_ok(&out, "backup-push with verify-full");
    site.batch(2);
    site.archive_everything();
    assert_eq!(site.restore_and_count("restored", &["latest"]), "1,2");
}

#[test]
fn certificates_passwords_and_failures() {
    certificates_passwords_and_failures_in(
        Mode::DataDirectory,
        "certificates_passwords_and_failures",
    );
}

#[test]
fn certificates_passwords_and_failures_in_network_mode() {
    certificates_passwords_and_failures_in(
        Mode::Network,
        "certificates_passwords_and_failures_in_network_mode",
    );
}

fn certificates_passwords_and_failures_in(mode: Mode, test: &str) {
    let Some((site, ca, server)) = tls_site(test) else {
        return;
    };
    let root = ca.root_cert.display().to_string();
    let verify_full = ["--pg-sslmode", "verify-full", "--pg-sslrootcert", &root];
    server.create_role(&site.primary, CERT_USER, None, Auth::Scram, "SUPERUSER");
    server.create_role(
        &site.primary,
        MD5_USER,
        Some("md5 pw"),
        Auth::Md5,
        "SUPERUSER",
    );
    server.create_role(
        &site.primary,
        "walden_scram",
        Some("right pw"),
        Auth::Scram,
        "SUPERUSER",
    );

    // A client certificate logs in without any password.
    let (cert, key) = ca.client_cert(CERT_USER);
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let mut with_cert = verify_full.to_vec();
    with_cert.extend(["--pg-sslcert", &cert, "--pg-sslkey", &key]);
    let (out, _) = backup_over_tcp(&site, &server, mode, CERT_USER, &with_cert, &[]);
    assert_ok(&out, "backup-push with a client certificate");

    // md5, with the settings from the environment this time.
    let (out, _) = backup_over_tcp(
        &site,
        &server,
        mode,
        MD5_USER,
        &[],
        &[
            ("PGSSLMODE", "verify-ca"),
            ("PGSSLROOTCERT", &root),
            ("PGPASSWORD", "md5 pw"),
        ],
    );
    assert_ok(&out, "backup-push with md5 authentication");

    // The password file, as libpq reads it.
    let passfile = site.scratch.path().join("pgpass");
    std::fs::write(
        &passfile,
        format!(
            "127.0.0.1:{}:{}:walden_scram:right pw\n",
            server.port,
            mode.pgpass_database()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    site.scratch.run_as.give(&passfile).unwrap();
    let passfile = passfile.display().to_string();
    let (out, _) = backup_over_tcp(
        &site,
        &server,
        mode,
        "walden_scram",
        &verify_full,
        &[("PGPASSFILE", &passfile)],
    );
    assert_ok(&out, "backup-push with a password from PGPASSFILE");

    // A certificate from a CA the client does not trust.
    let untrusted = ca.untrusted_root_cert.display().to_string();
    let (out, took) = backup_over_tcp(
        &site,
        &server,
        mode,
        "walden_scram",
        &["--pg-sslmode", "verify-ca", "--pg-sslrootcert", &untrusted],
        &[("PGPASSWORD", "right pw")],
    );
    let text = stderr(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {text}");
    assert!(
        text.contains("not signed by a trusted CA") && text.contains("untrusted certificate"),
        "{text}"
    );
    // The server answered: a hint that it may not be running would mislead.
    assert!(!text.contains("is the server running"), "{text}");

    // No TLS against a hostssl-only server: the server's refusal is shown.
    let (out, took) = backup_over_tcp(
        &site,
        &server,
        mode,
        "walden_scram",
        &["--pg-sslmode", "disable"],
        &[("PGPASSWORD", "right pw")],
    );
    let text = stderr(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {text}");
    assert!(
        text.contains("no pg_hba.conf entry") && text.contains("no encryption"),
        "{text}"
    );

    // A wrong password: fast, clear, and never printed.
    let (out, took) = backup_over_tcp(
        &site,
        &server,
        mode,
        "walden_scram",
        &verify_full,
        &[("PGPASSWORD", "wrong pw 7731")],
    );
    let text = stderr(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {text}");
    assert!(
        text.contains("password authentication failed for user \"walden_scram\""),
        "{text}"
    );
    assert!(!text.contains("wrong pw 7731"), "{text}");

    // No password anywhere: say where one is looked for.
    let (out, took) = backup_over_tcp(&site, &server, mode, "walden_scram", &verify_full, &[]);
    let text = stderr(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {text}");
    assert!(
        text.contains("asks for a password")
            && text.contains("PGPASSWORD")
            && text.contains(".pgpass"),
        "{text}"
    );

    // A bad sslmode is a configuration error.
    let (out, _) = backup_over_tcp(
        &site,
        &server,
        mode,
        "walden_scram",
        &[],
        &[("PGSSLMODE", "verify_full")],
    );
    let text = stderr(&out);
    assert_eq!(code(&out), 2, "{text}");
    assert!(text.contains("PGSSLMODE: invalid sslmode"), "{text}");
}

/// The negotiation the replication client uses, against the real server:
/// the TLS stream carries PostgreSQL's protocol, verify-full checks the
/// name (an IP address against the certificate's IP SAN), verify-ca not.
#[test]
fn negotiate_checks_names_only_for_verify_full() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use walden::pg::tls::{negotiate, SslMode, TlsOptions};
    let Some((_site, ca, server)) = tls_site("negotiate_checks_names_only_for_verify_full") else {
        return;
    };
    let options = |mode| TlsOptions {
        mode,
        root_cert: Some(ca.root_cert.clone()),
        ..TlsOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let connect = || tokio::net::TcpStream::connect((server.host.as_str(), server.port));
        let mut stream = negotiate(
            connect().await.unwrap(),
            "127.0.0.1",
            &options(SslMode::VerifyFull),
        )
        .await
        .unwrap();
        assert!(stream.is_tls());
        // A startup message for a SCRAM user: the server asks for a
        // password ('R'), over TLS.
        let mut body = Vec::new();
        body.extend_from_slice(&196608u32.to_be_bytes());
        for part in ["user", "nobody_here", "database", "postgres", ""] {
            body.extend_from_slice(part.as_bytes());
            body.push(0);
        }
        let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        message.extend_from_slice(&body);
        stream.write_all(&message).await.unwrap();
        let kind = stream.read_u8().await.unwrap();
        assert_eq!(kind, b'R', "the server's first answer");

        // The certificate names localhost and 127.0.0.1, not 127.0.0.2.
        let err = negotiate(
            connect().await.unwrap(),
            "127.0.0.2",
            &options(SslMode::VerifyFull),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("does not name 127.0.0.2") && err.contains("host name mismatch"),
            "{err}"
        );
        let ca_only = negotiate(
            connect().await.unwrap(),
            "127.0.0.2",
            &options(SslMode::VerifyCa),
        )
        .await
        .unwrap();
        assert!(ca_only.is_tls());
        let by_name = negotiate(
            connect().await.unwrap(),
            "localhost",
            &options(SslMode::VerifyFull),
        )
        .await
        .unwrap();
        assert!(by_name.is_tls());

        let untrusted = TlsOptions {
            root_cert: Some(ca.untrusted_root_cert.clone()),
            ..options(SslMode::VerifyCa)
        };
        let err = negotiate(connect().await.unwrap(), "127.0.0.1", &untrusted)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not signed by a trusted CA"), "{err}");
    });
}

/// SCRAM over TLS binds the password exchange to the server's certificate
/// (SCRAM-SHA-256-PLUS, libpq's channel_binding=prefer), so a man in the
/// middle of a `require` connection cannot relay it.
#[test]
fn scram_is_bound_to_the_tls_channel() {
    use tokio_postgres::config::ChannelBinding;
    use walden::pg::tls::{MakeRustls, SslMode, TlsOptions};
    let Some((site, _ca, server)) = tls_site("scram_is_bound_to_the_tls_channel") else {
        return;
    };
    server.create_role(&site.primary, "walden_plus", Some("pw"), Auth::Scram, "");
    let tls = MakeRustls::new(&TlsOptions {
        mode: SslMode::Require,
        ..TlsOptions::default()
    })
    .unwrap();
    let mut config = tokio_postgres::Config::new();
    config
        .host(&server.host)
        .port(server.port)
        .user("walden_plus")
        .password("pw")
        .dbname("postgres")
        .ssl_mode(tls.ssl_mode())
        .channel_binding(ChannelBinding::Require);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = config
            .connect(tls)
            .await
            .unwrap_or_else(|e| panic!("channel binding required: {e:?}"));
        tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        assert!(row.get::<_, bool>(0));
    });
}

/// A server without TLS: `require` refuses it, `prefer` goes on in clear.
#[test]
fn require_refuses_a_server_without_tls_and_prefer_does_not() {
    let Some(mut site) = Site::new("require_refuses_a_server_without_tls_and_prefer_does_not")
    else {
        return;
    };
    let primary = &mut site.primary;
    primary.stop().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    primary.0.port = port;
    primary.0.listen_addresses = "127.0.0.1".to_owned();
    primary.configure(&[("ssl", "off".into())]).unwrap();
    let hba = primary.data.join("pg_hba.conf");
    std::fs::write(
        &hba,
        "local all all trust\nhost all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    primary.run_as.give(&hba).unwrap();
    primary.start().unwrap();
    let server = TlsServer {
        host: "127.0.0.1".to_owned(),
        port,
    };

    let (out, took) = backup_over_tcp(
        &site,
        &server,
        Mode::DataDirectory,
        "postgres",
        &["--pg-sslmode", "require"],
        &[],
    );
    let text = stderr(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {text}");
    assert!(
        text.contains("the server does not accept TLS connections (sslmode=require)"),
        "{text}"
    );
    assert!(!text.contains("is the server running"), "{text}");

    let (out, _) = backup_over_tcp(
        &site,
        &server,
        Mode::DataDirectory,
        "postgres",
        &["--pg-sslmode", "prefer"],
        &[],
    );
    assert_ok(
        &out,
        "backup-push with sslmode=prefer against a server without TLS",
    );
}
