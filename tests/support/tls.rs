//! A test certificate authority made with the `openssl` CLI, and a test cluster turned into a TLS-only server on 127.0.0.1 with password, md5 and certificate logins.
//!
//! Usage (see tests/tls_connections.rs):
//! ```ignore
//! let ca = TestCa::new(&site.scratch)?;              // None: openssl missing (loud skip)
//! let server = TlsServer::setup(&mut site.primary, &ca);
//! server.create_role(&site.primary, "alice", Some("pw"), Auth::Scram, "SUPERUSER");
//! // connect to server.host:server.port with sslrootcert = ca.root_cert
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Cluster, Scratch};

/// The role `pg_hba.conf` lets in with a client certificate (`cert`
/// method): the certificate's CN must be this name.
pub const CERT_USER: &str = "walden_cert";
/// The role `pg_hba.conf` authenticates with `md5` (its password must be
/// stored as md5: `Auth::Md5`).
pub const MD5_USER: &str = "walden_md5";

/// A CA, a server certificate for `localhost` and `127.0.0.1`, and a
/// second CA that signed nothing the server has (for "untrusted").
pub struct TestCa {
    pub dir: PathBuf,
    /// The CA's certificate: what a client trusts (`sslrootcert`).
    pub root_cert: PathBuf,
    ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Another CA's certificate, which the server's does not chain to.
    pub untrusted_root_cert: PathBuf,
    run_as: walden::pg::server::RunAs,
}

/// Whether the `openssl` CLI is here; a loud skip (a failure under CI=true)
/// otherwise.
fn openssl_or_skip(test: &str) -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: the openssl CLI is required under CI=true (scripts/install-deps.sh installs it)");
        }
        eprintln!("\n*** SKIPPED {test}: the openssl CLI is not installed ***\n");
    }
    found
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new P-256 key and a certificate signing request for `cn`.
fn key_and_csr(dir: &Path, name: &str, cn: &str) {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
}

fn self_signed_ca(dir: &Path, name: &str, cn: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "3",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

impl TestCa {
    /// Makes everything in `scratch/tls`. `None` when openssl is missing.
    pub fn new(scratch: &Scratch, test: &str) -> Option<TestCa> {
        if !openssl_or_skip(test) {
            return None;
        }
        let dir = scratch.path().join("tls");
        std::fs::create_dir_all(&dir).unwrap();
        self_signed_ca(&dir, "ca", "walden test CA");
        self_signed_ca(&dir, "untrusted-ca", "walden untrusted CA");
        let ca = TestCa {
            root_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            untrusted_root_cert: dir.join("untrusted-ca.crt"),
            run_as: scratch.run_as,
            dir,
        };
        ca.sign(
            "server",
            "localhost",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        );
        // PostgreSQL refuses a key others can read; it runs as run_as.
        ca.private(&ca.server_key);
        Some(ca)
    }

    fn sign(&self, name: &str, cn: &str, extensions: &str) {
        key_and_csr(&self.dir, name, cn);
        let ext = self.dir.join(format!("{name}.ext"));
        std::fs::write(&ext, extensions).unwrap();
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                &self.ca_key.display().to_string(),
                "-CAcreateserial",
                "-days",
                "3",
                "-out",
                &format!("{name}.crt"),
                "-extfile",
                &ext.display().to_string(),
            ],
        );
    }

    /// Mode 0600 and owned by the account PostgreSQL and walden run as.
    fn private(&self, path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        self.run_as.give(path).unwrap();
    }

    /// A client certificate and key for `user` (its CN), the key private
    /// to the account walden runs as in the tests: (certificate, key).
    pub fn client_cert(&self, user: &str) -> (PathBuf, PathBuf) {
        let name = format!("client-{user}");
        self.sign(
            &name,
            user,
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        );
        let key = self.dir.join(format!("{name}.key"));
        self.private(&key);
        (self.dir.join(format!("{name}.crt")), key)
    }
}

/// How a role's password is stored, which decides the authentication
/// exchange: SCRAM-SHA-256, or md5 (only `MD5_USER` is let in with md5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Scram,
    Md5,
}

/// Where a TLS-only server listens.
#[derive(Debug, Clone)]
pub struct TlsServer {
    pub host: String,
    pub port: u16,
}

impl TlsServer {
    /// Restarts `cluster` as a TLS server on 127.0.0.1 (a free port, also
    /// its socket's): `ssl = on` with `ca`'s server certificate, client
    /// certificates checked against `ca`, and a `pg_hba.conf` whose TCP
    /// lines are all `hostssl`: `cert` for `CERT_USER`, `md5` for
    /// `MD5_USER`, SCRAM for every other role, for databases and for
    /// `replication`. The Unix socket stays `trust` for the test's psql.
    pub fn setup(cluster: &mut Cluster, ca: &TestCa) -> TlsServer {
        cluster.stop().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        cluster.0.port = port;
        cluster.0.listen_addresses = "127.0.0.1".to_owned();
        cluster
            .configure(&[
                ("ssl", "on".into()),
                ("ssl_cert_file", ca.server_cert.display().to_string()),
                ("ssl_key_file", ca.server_key.display().to_string()),
                ("ssl_ca_file", ca.root_cert.display().to_string()),
                // PostgreSQL 13 still stores md5 by default.
                ("password_encryption", "scram-sha-256".into()),
            ])
            .unwrap();
        let hba = format!(
            "local all all trust\n\
             local replication all trust\n\
             hostssl all {CERT_USER} 127.0.0.1/32 cert\n\
             hostssl replication {CERT_USER} 127.0.0.1/32 cert\n\
             hostssl all {MD5_USER} 127.0.0.1/32 md5\n\
             hostssl replication {MD5_USER} 127.0.0.1/32 md5\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostssl replication all 127.0.0.1/32 scram-sha-256\n"
        );
        let path = cluster.data.join("pg_hba.conf");
        std::fs::write(&path, hba).unwrap();
        cluster.run_as.give(&path).unwrap();
        cluster.start().unwrap();
        TlsServer {
            host: "127.0.0.1".to_owned(),
            port,
        }
    }

    /// `CREATE ROLE name LOGIN <attributes>` with `password` stored as
    /// `auth` says (e.g. attributes "SUPERUSER" or "REPLICATION").
    pub fn create_role(
        &self,
        cluster: &Cluster,
        name: &str,
        password: Option<&str>,
        auth: Auth,
        attributes: &str,
    ) {
        let encryption = match auth {
            Auth::Scram => "scram-sha-256",
            Auth::Md5 => "md5",
        };
        let password = match password {
            Some(p) => format!("PASSWORD '{}'", p.replace('\'', "''")),
            None => String::new(),
        };
        cluster.sql(&format!(
            "SET password_encryption = '{encryption}'; CREATE ROLE {name} LOGIN {attributes} {password}"
        ));
    }
}
