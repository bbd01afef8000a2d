//! TLS for PostgreSQL connections with libpq's `sslmode` rules: the SSLRequest negotiation, the rustls configuration (root, client certificates), and the same TLS for tokio-postgres.
//!
//! One place decides what a mode means, so the control session
//! (tokio-postgres) and the replication client (`negotiate` on its own TCP
//! stream) can never disagree. Unix sockets never use TLS, as in libpq.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// PostgreSQL's SSLRequest: length 8, then the code 1234.5679.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// `sslrootcert=system`: the operating system's trusted roots.
const SYSTEM_ROOTS: &str = "system";

/// libpq's `sslmode`. `allow` (plain first, TLS only on a retry) is not
/// offered: walden does not reconnect in another mode, and `allow` never
/// protects anything that `prefer` does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, without checking its certificate
    /// (libpq's default).
    #[default]
    Prefer,
    /// TLS or nothing; the certificate is checked against a root
    /// certificate only when one is present (then it is `verify-ca`).
    Require,
    /// TLS, with a certificate signed by a trusted CA.
    VerifyCa,
    /// `verify-ca`, and the certificate names the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Whether a server that refuses TLS is refused in turn.
    pub fn requires_tls(self) -> bool {
        !matches!(self, SslMode::Disable | SslMode::Prefer)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => return Err("sslmode \"allow\" is not supported by walden: use \"prefer\" (TLS when the server offers it) or \"disable\"".to_owned()),
            other => return Err(format!(
                "invalid sslmode {other:?}: expected disable, prefer, require, verify-ca or verify-full"
            )),
        })
    }
}

impl TryFrom<String> for SslMode {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl<'de> serde::Deserialize<'de> for SslMode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What libpq's `sslmode`, `sslrootcert`, `sslcert` and `sslkey` say. Unset
/// files take libpq's defaults under `~/.postgresql/` when they exist
/// (see `ConnectOptions::with_pg_env`, which fills `home`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: SslMode,
    /// A PEM file of trusted CA certificates, or `system` for the
    /// operating system's store.
    pub root_cert: Option<PathBuf>,
    /// The client certificate (PEM), for `cert` authentication.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// The home directory whose `.postgresql/` holds the default files.
    pub home: Option<PathBuf>,
}

/// Why a TLS connection could not be made, worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("{what} {path}: {problem}")]
    File {
        what: &'static str,
        path: PathBuf,
        problem: String,
    },
    #[error("sslmode={mode} needs a root certificate to check the server's against, and {path} does not exist: set sslrootcert (--pg-sslrootcert, PGSSLROOTCERT) to the CA's certificate, use sslrootcert=system for the system's trusted roots, or choose a weaker sslmode")]
    NoRootCert { mode: SslMode, path: PathBuf },
    #[error("{0}")]
    Settings(String),
    #[error("the server does not accept TLS connections (sslmode={mode})")]
    Refused { mode: SslMode },
    #[error("TLS handshake with {host} failed: {problem}")]
    Handshake { host: String, problem: String },
    #[error("TLS negotiation with {host} failed: {problem}")]
    Io { host: String, problem: String },
}

/// A connection to the server, encrypted or not.
pub enum PgStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl fmt::Debug for PgStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PgStream::Plain(_) => "PgStream::Plain",
            PgStream::Tls(_) => "PgStream::Tls",
        })
    }
}

impl PgStream {
    pub fn is_tls(&self) -> bool {
        matches!(self, PgStream::Tls(_))
    }

    /// The SCRAM `tls-server-end-point` channel binding data, for
    /// SCRAM-SHA-256-PLUS; `None` in clear or for certificates without one.
    pub fn tls_server_end_point(&self) -> Option<Vec<u8>> {
        match self {
            PgStream::Plain(_) => None,
            PgStream::Tls(tls) => peer_end_point(tls.get_ref().1),
        }
    }
}

impl AsyncRead for PgStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PgStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PgStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PgStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PgStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            PgStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PgStream::Plain(s) => Pin::new(s).poll_flush(cx),
            PgStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PgStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PgStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How the server's certificate is checked, after libpq's defaults and
/// rules are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verify {
    /// Any certificate (`prefer`, `require` without a root certificate):
    /// encryption against a passive listener only, as in libpq.
    Nothing,
    /// The chain up to a root from this file, or the system's (`None`).
    Chain {
        roots: Option<PathBuf>,
        host_name: bool,
    },
}

/// The decisions `client_config` acts on; pure given which files exist.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    verify: Verify,
    client: Option<(PathBuf, PathBuf)>,
}

impl TlsOptions {
    fn default_file(&self, name: &str) -> Option<PathBuf> {
        self.home
            .as_ref()
            .map(|home| home.join(".postgresql").join(name))
    }

    /// libpq's rules: verify-ca/verify-full need a root certificate;
    /// `require` with one present is verify-ca; `sslrootcert=system` only
    /// with verify-full; a client certificate from sslcert/sslkey or the
    /// default files when present. `exists` says whether a file exists.
    fn plan(&self, exists: impl Fn(&Path) -> bool) -> Result<Plan, TlsError> {
        let mode = self.mode;
        let system = self
            .root_cert
            .as_deref()
            .is_some_and(|p| p == Path::new(SYSTEM_ROOTS));
        let verify = if system {
            if mode != SslMode::VerifyFull && mode != SslMode::Disable {
                return Err(TlsError::Settings(format!(
                    "sslmode={mode} may not be used with sslrootcert=system: the system's roots vouch for any host name they signed, so only verify-full is safe (libpq's rule)"
                )));
            }
            Verify::Chain {
                roots: None,
                host_name: true,
            }
        } else {
            let (root, explicit) = match &self.root_cert {
                Some(path) => (Some(path.clone()), true),
                None => (self.default_file("root.crt"), false),
            };
            let present = root.as_deref().filter(|p| exists(p)).map(Path::to_path_buf);
            match (mode, present) {
                (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                    return Err(match root {
                        Some(path) if explicit => missing("root certificate file", path),
                        Some(path) => TlsError::NoRootCert { mode, path },
                        None => TlsError::NoRootCert {
                            mode,
                            path: PathBuf::from("~/.postgresql/root.crt"),
                        },
                    })
                }
                // An explicitly named root certificate that is missing is
                // a mistake worth stopping for in every mode that would
                // use it (libpq would silently skip the check).
                (SslMode::Require | SslMode::Prefer, None) if explicit => {
                    return Err(missing(
                        "root certificate file",
                        root.expect("explicit root certificate"),
                    ))
                }
                (SslMode::VerifyFull, Some(roots)) => Verify::Chain {
                    roots: Some(roots),
                    host_name: true,
                },
                (SslMode::VerifyCa | SslMode::Require, Some(roots)) => Verify::Chain {
                    roots: Some(roots),
                    host_name: false,
                },
                _ => Verify::Nothing,
            }
        };
        let client = match (&self.cert, &self.key) {
            (Some(cert), key) => {
                if !exists(cert) {
                    return Err(missing("client certificate file", cert.clone()));
                }
                let key = key
                    .clone()
                    .or_else(|| self.default_file("postgresql.key"))
                    .unwrap_or_else(|| cert.with_extension("key"));
                if !exists(&key) {
                    return Err(missing("client certificate key file", key));
                }
                Some((cert.clone(), key))
            }
            (None, key) => match self.default_file("postgresql.crt").filter(|p| exists(p)) {
                Some(cert) => {
                    let key = key
                        .clone()
                        .or_else(|| self.default_file("postgresql.key"))
                        .expect("a home directory, since the default certificate was found");
                    if !exists(&key) {
                        return Err(missing("client certificate key file", key));
                    }
                    Some((cert, key))
                }
                None => None,
            },
        };
        Ok(Plan { verify, client })
    }

    /// The rustls configuration for these options; `None` for `disable`.
    /// Reads the certificate files, so it fails with the file's name when
    /// one is missing, unreadable or not what it should be.
    pub fn client_config(&self) -> Result<Option<Arc<ClientConfig>>, TlsError> {
        if self.mode == SslMode::Disable {
            return Ok(None);
        }
        let plan = self.plan(|p| p.exists())?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let inner = match &plan.verify {
            Verify::Nothing => None,
            Verify::Chain { roots, .. } => {
                let store = match roots {
                    Some(path) => root_store_from_file(path)?,
                    None => system_root_store()?,
                };
                let verifier =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                        .build()
                        .map_err(|e| TlsError::Settings(format!("root certificates: {e}")))?;
                Some(verifier)
            }
        };
        let verifier = PgVerifier {
            inner,
            host_name: matches!(
                plan.verify,
                Verify::Chain {
                    host_name: true,
                    ..
                }
            ),
            provider: provider.clone(),
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Settings(format!("TLS protocol versions: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = match &plan.client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = read_certificates("client certificate file", cert)?;
                let key_der = read_private_key(key)?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| TlsError::File {
                        what: "client certificate key file",
                        path: key.clone(),
                        problem: format!("does not match {}: {e}", cert.display()),
                    })?
            }
        };
        // PostgreSQL 17 checks the ALPN name when the client sends one;
        // libpq 17 always does.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Some(Arc::new(config)))
    }
}

fn missing(what: &'static str, path: PathBuf) -> TlsError {
    TlsError::File {
        what,
        path,
        problem: "does not exist".to_owned(),
    }
}

fn file_error(what: &'static str, path: &Path, e: impl fmt::Display) -> TlsError {
    TlsError::File {
        what,
        path: path.to_path_buf(),
        problem: e.to_string(),
    }
}

fn read_certificates(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    // Read first so that a missing or unreadable file says so plainly.
    let bytes = std::fs::read(path).map_err(|e| file_error(what, path, e))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn root_store_from_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let what = "root certificate file";
    let mut store = RootCertStore::empty();
    for cert in read_certificates(what, path)? {
        store
            .add(cert)
            .map_err(|e| file_error(what, path, format!("unusable certificate: {e}")))?;
    }
    Ok(store)
}

fn system_root_store() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(found.certs);
    if added == 0 {
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(TlsError::Settings(format!(
            "sslrootcert=system: no trusted root certificates found in the system's store{}",
            if errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", errors.join("; "))
            }
        )));
    }
    Ok(store)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let what = "client certificate key file";
    let meta = std::fs::metadata(path).map_err(|e| file_error(what, path, e))?;
    check_key_permissions(&meta).map_err(|problem| file_error(what, path, problem))?;
    let bytes = std::fs::read(path).map_err(|e| file_error(what, path, e))?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| file_error(what, path, format!("not a PEM private key: {e}")))
}

/// libpq refuses a private key others can read: the key is the password.
fn check_key_permissions(meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if !meta.is_file() {
        return Err("is not a regular file".to_owned());
    }
    // SAFETY: geteuid has no preconditions.
    let owner_is_us = meta.uid() == unsafe { libc::geteuid() };
    let mode = meta.mode() & 0o777;
    let allowed = if owner_is_us || meta.uid() != 0 {
        0o600
    } else {
        // Owned by root and readable by a group, as libpq allows.
        0o640
    };
    if mode & !allowed != 0 {
        return Err(format!(
            "has permissions {mode:04o}, and a private key must be readable by its owner only (chmod 0600)"
        ));
    }
    Ok(())
}

/// Checks the server's certificate as the plan says; the handshake
/// signatures are always checked, so a certificate is at least proof of
/// the key the session is encrypted to.
#[derive(Debug)]
struct PgVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    host_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PgVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.host_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The name the certificate must carry: a DNS name, or an IP address
/// (matched against the certificate's IP SANs).
fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|e| {
        TlsError::Settings(format!(
            "{host:?} cannot be checked against a certificate: {e}"
        ))
    })
}

/// The rustls error inside an I/O error, worded for the operator.
fn handshake_error(host: &str, e: io::Error, options: &TlsOptions) -> TlsError {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return TlsError::Io {
            host: host.to_owned(),
            problem: e.to_string(),
        };
    };
    let roots = match options.root_cert.as_deref() {
        Some(path) => path.display().to_string(),
        None => "the root certificate".to_owned(),
    };
    let problem = match tls {
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => format!(
            "the server's certificate is not signed by a trusted CA (untrusted certificate; trusted roots: {roots})"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the server's certificate does not name {host} (host name mismatch; sslmode=verify-full checks it, verify-ca does not)"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's certificate has expired".to_owned(),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "the server's certificate is not valid yet (check the clocks)".to_owned(),
        rustls::Error::AlertReceived(alert) => format!(
            "the server refused the handshake ({alert:?}); if it wants a client certificate, set sslcert and sslkey"
        ),
        other => other.to_string(),
    };
    TlsError::Handshake {
        host: host.to_owned(),
        problem,
    }
}

/// Starts TLS on a fresh TCP connection as libpq does: for `disable`,
/// nothing; otherwise PostgreSQL's SSLRequest, then a TLS handshake if the
/// server answers 'S', checked against `host` as the options say. A server
/// answering 'N' is refused for `require` and the verify modes, used in
/// clear for `prefer`. (libpq would retry `prefer` without TLS after a
/// failed handshake; walden reports it instead.)
pub async fn negotiate(
    mut stream: TcpStream,
    host: &str,
    options: &TlsOptions,
) -> Result<PgStream, TlsError> {
    let Some(config) = options.client_config()? else {
        return Ok(PgStream::Plain(stream));
    };
    let name = server_name(host)?;
    let io_error = |e: io::Error| TlsError::Io {
        host: host.to_owned(),
        problem: e.to_string(),
    };
    stream.write_all(&SSL_REQUEST).await.map_err(io_error)?;
    // Exactly one byte: anything the server sent after it must go through
    // the handshake, never be read as if it came over TLS (CVE-2021-23222).
    let answer = stream.read_u8().await.map_err(io_error)?;
    match answer {
        b'S' => {
            let connector = tokio_rustls::TlsConnector::from(config);
            let tls = connector
                .connect(name, stream)
                .await
                .map_err(|e| handshake_error(host, e, options))?;
            Ok(PgStream::Tls(Box::new(tls)))
        }
        b'N' if options.mode.requires_tls() => Err(TlsError::Refused { mode: options.mode }),
        b'N' => Ok(PgStream::Plain(stream)),
        // An error message ('E') from a server too old for SSLRequest, or
        // something that is not PostgreSQL.
        other => Err(TlsError::Io {
            host: host.to_owned(),
            problem: format!(
                "unexpected answer {:?} to the SSL request: is this a PostgreSQL server?",
                other as char
            ),
        }),
    }
}

/// tokio-postgres' side of the same TLS: `MakeTlsConnect` for the control
/// session. tokio-postgres sends the SSLRequest itself; `ssl_mode` is what
/// to set on its `Config` so that a refusal is handled as the mode says.
#[derive(Clone)]
pub struct MakeRustls {
    config: Option<Arc<ClientConfig>>,
    options: TlsOptions,
}

impl MakeRustls {
    /// Fails early, with the file's name, when a certificate file is wrong.
    pub fn new(options: &TlsOptions) -> Result<Self, TlsError> {
        Ok(MakeRustls {
            config: options.client_config()?,
            options: options.clone(),
        })
    }

    /// The mode tokio-postgres should negotiate with.
    pub fn ssl_mode(&self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as Tp;
        match (self.options.mode, &self.config) {
            (SslMode::Disable, _) | (_, None) => Tp::Disable,
            (SslMode::Prefer, _) => Tp::Prefer,
            _ => Tp::Require,
        }
    }
}

impl tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = TlsError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, TlsError> {
        Ok(RustlsConnect {
            config: self.config.clone(),
            host: domain.to_owned(),
            options: self.options.clone(),
        })
    }
}

/// One connection's TLS handshake for tokio-postgres.
pub struct RustlsConnect {
    config: Option<Arc<ClientConfig>>,
    host: String,
    options: TlsOptions,
}

impl tokio_postgres::tls::TlsConnect<tokio_postgres::Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = TlsError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream, TlsError>> + Send>>;

    fn connect(self, stream: tokio_postgres::Socket) -> Self::Future {
        Box::pin(async move {
            let config = self.config.ok_or_else(|| {
                TlsError::Settings("TLS asked for with sslmode=disable".to_owned())
            })?;
            let name = server_name(&self.host)?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|e| handshake_error(&self.host, e, &self.options))?;
            Ok(RustlsStream(Box::new(tls)))
        })
    }
}

/// tokio-postgres' TLS stream.
pub struct RustlsStream(Box<tokio_rustls::client::TlsStream<tokio_postgres::Socket>>);

impl tokio_postgres::tls::TlsStream for RustlsStream {
    /// SCRAM-SHA-256-PLUS when the server's certificate allows it, as
    /// libpq's `channel_binding=prefer` does.
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        match peer_end_point(self.0.get_ref().1) {
            Some(hash) => tokio_postgres::tls::ChannelBinding::tls_server_end_point(hash),
            None => tokio_postgres::tls::ChannelBinding::none(),
        }
    }
}

fn peer_end_point(connection: &rustls::ClientConnection) -> Option<Vec<u8>> {
    let cert = connection.peer_certificates()?.first()?;
    tls_server_end_point(cert)
}

/// The `tls-server-end-point` channel binding data (RFC 5929) of a server
/// certificate: its hash with the hash function of its signature, SHA-256
/// for MD5 and SHA-1. `None` for signatures without one hash function
/// (Ed25519, RSASSA-PSS), for which PostgreSQL offers no binding either.
pub fn tls_server_end_point(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    use sha2::Digest;
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
    let (_, certificate, _) = der_element(cert.as_ref(), 0x30)?;
    let (_, _, after_tbs) = der_element(certificate, 0x30)?;
    let (_, algorithm, _) = der_element(after_tbs, 0x30)?;
    let (_, oid, _) = der_element(algorithm, 0x06)?;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04];
    let bits = match oid {
        [prefix @ .., last] if prefix == RSA => match last {
            0x04 | 0x05 | 0x0b => 256,
            0x0c => 384,
            0x0d => 512,
            _ => return None,
        },
        [prefix @ .., 0x01] if prefix == ECDSA => 256,
        [prefix @ .., 0x03, last] if prefix == ECDSA => match last {
            0x02 => 256,
            0x03 => 384,
            0x04 => 512,
            _ => return None,
        },
        _ => return None,
    };
    let der = cert.as_ref();
    Some(match bits {
        256 => sha2::Sha256::digest(der).to_vec(),
        384 => sha2::Sha384::digest(der).to_vec(),
        _ => sha2::Sha512::digest(der).to_vec(),
    })
}

/// One DER element of type `tag` at the start of `input`: (tag, its
/// contents, what follows it).
fn der_element(input: &[u8], tag: u8) -> Option<(u8, &[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((found, &rest[..len], &rest[len..]))
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().0.as_mut()).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().0.as_mut()).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn sslmode_spellings_are_libpqs() {
        for mode in [
            SslMode::Disable,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            assert_eq!(mode.to_string().parse::<SslMode>(), Ok(mode));
        }
        assert_eq!(SslMode::default(), SslMode::Prefer);
        let allow = "allow".parse::<SslMode>().unwrap_err();
        assert!(allow.contains("not supported"), "{allow}");
        let bad = "verify_full".parse::<SslMode>().unwrap_err();
        assert!(bad.contains("verify-full"), "{bad}");
        assert!(
            "Require".parse::<SslMode>().is_err(),
            "case matters in libpq"
        );
    }

    fn options(mode: SslMode) -> TlsOptions {
        TlsOptions {
            mode,
            home: Some(PathBuf::from("/home/op")),
            ..TlsOptions::default()
        }
    }

    fn existing(files: &[&str]) -> impl Fn(&Path) -> bool {
        let set: HashSet<PathBuf> = files.iter().map(PathBuf::from).collect();
        move |p| set.contains(p)
    }

    #[test]
    fn require_with_a_root_certificate_is_verify_ca() {
        let plan = options(SslMode::Require)
            .plan(existing(&["/home/op/.postgresql/root.crt"]))
            .unwrap();
        assert_eq!(
            plan.verify,
            Verify::Chain {
                roots: Some(PathBuf::from("/home/op/.postgresql/root.crt")),
                host_name: false
            }
        );
        let bare = options(SslMode::Require).plan(existing(&[])).unwrap();
        assert_eq!(bare.verify, Verify::Nothing);
        // prefer never checks, as libpq documents.
        let prefer = options(SslMode::Prefer)
            .plan(existing(&["/home/op/.postgresql/root.crt"]))
            .unwrap();
        assert_eq!(prefer.verify, Verify::Nothing);
    }

    #[test]
    fn verify_modes_need_a_root_certificate() {
        let err = options(SslMode::VerifyFull)
            .plan(existing(&[]))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/home/op/.postgresql/root.crt") && text.contains("sslrootcert"),
            "{text}"
        );
        let named = TlsOptions {
            root_cert: Some(PathBuf::from("/etc/ca.pem")),
            ..options(SslMode::VerifyCa)
        };
        let text = named.plan(existing(&[])).unwrap_err().to_string();
        assert_eq!(text, "root certificate file /etc/ca.pem: does not exist");
        let full = TlsOptions {
            mode: SslMode::VerifyFull,
            ..named.clone()
        }
        .plan(existing(&["/etc/ca.pem"]))
        .unwrap();
        assert_eq!(
            full.verify,
            Verify::Chain {
                roots: Some(PathBuf::from("/etc/ca.pem")),
                host_name: true
            }
        );
        let ca = named.plan(existing(&["/etc/ca.pem"])).unwrap();
        assert_eq!(
            ca.verify,
            Verify::Chain {
                roots: Some(PathBuf::from("/etc/ca.pem")),
                host_name: false
            }
        );
    }

    #[test]
    fn system_roots_only_with_verify_full() {
        let system = |mode| TlsOptions {
            root_cert: Some(PathBuf::from("system")),
            ..options(mode)
        };
        let err = system(SslMode::Require).plan(existing(&[])).unwrap_err();
        assert!(err.to_string().contains("verify-full"), "{err}");
        assert_eq!(
            system(SslMode::VerifyFull)
                .plan(existing(&[]))
                .unwrap()
                .verify,
            Verify::Chain {
                roots: None,
                host_name: true
            }
        );
    }

    #[test]
    fn client_certificates_from_options_or_defaults() {
        let none = options(SslMode::Prefer).plan(existing(&[])).unwrap();
        assert_eq!(none.client, None);
        let defaults = options(SslMode::Prefer)
            .plan(existing(&[
                "/home/op/.postgresql/postgresql.crt",
                "/home/op/.postgresql/postgresql.key",
            ]))
            .unwrap();
        assert_eq!(
            defaults.client,
            Some((
                PathBuf::from("/home/op/.postgresql/postgresql.crt"),
                PathBuf::from("/home/op/.postgresql/postgresql.key")
            ))
        );
        let named = TlsOptions {
            cert: Some(PathBuf::from("/etc/c.crt")),
            key: Some(PathBuf::from("/etc/c.key")),
            ..options(SslMode::Require)
        };
        let err = named.plan(existing(&["/etc/c.key"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "client certificate file /etc/c.crt: does not exist"
        );
        let err = named.plan(existing(&["/etc/c.crt"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "client certificate key file /etc/c.key: does not exist"
        );
    }

    #[test]
    fn certificate_file_problems_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("ca.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let opts = TlsOptions {
            mode: SslMode::VerifyFull,
            root_cert: Some(garbage.clone()),
            ..TlsOptions::default()
        };
        let err = opts.client_config().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("root certificate file {}:", garbage.display())),
            "{err}"
        );
        assert!(err.contains("no PEM certificate"), "{err}");

        let unreadable = TlsOptions {
            root_cert: Some(dir.path().to_path_buf()),
            ..opts.clone()
        };
        let err = unreadable.client_config().unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");

        // A key anyone can read is refused, as libpq does.
        let key = dir.path().join("client.key");
        std::fs::write(&key, "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_private_key(&key).unwrap_err().to_string();
        assert!(
            err.contains("0644") && err.contains(&key.display().to_string()),
            "{err}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = read_private_key(&key).unwrap_err().to_string();
        assert!(err.contains("not a PEM private key"), "{err}");
    }

    /// A certificate's skeleton: SEQUENCE { SEQUENCE {}, SEQUENCE { OID },
    /// BIT STRING }, which is all the end point reads.
    fn skeleton(oid: &[u8]) -> Vec<u8> {
        let mut algorithm = vec![0x06, oid.len() as u8];
        algorithm.extend_from_slice(oid);
        let mut body = vec![0x30, 0x00, 0x30, algorithm.len() as u8];
        body.extend_from_slice(&algorithm);
        body.extend_from_slice(&[0x03, 0x01, 0x00]);
        let mut der = vec![0x30, body.len() as u8];
        der.extend_from_slice(&body);
        der
    }

    #[test]
    fn end_point_hash_follows_the_signature_hash() {
        use sha2::Digest;
        let ecdsa_sha256 = skeleton(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);
        let rsa_sha384 = skeleton(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c]);
        let rsa_sha1 = skeleton(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05]);
        let ed25519 = skeleton(&[0x2b, 0x65, 0x70]);
        let hash = |der: &Vec<u8>| tls_server_end_point(&CertificateDer::from(der.clone()));
        assert_eq!(
            hash(&ecdsa_sha256),
            Some(sha2::Sha256::digest(&ecdsa_sha256).to_vec())
        );
        assert_eq!(
            hash(&rsa_sha384),
            Some(sha2::Sha384::digest(&rsa_sha384).to_vec())
        );
        // RFC 5929: MD5 and SHA-1 are replaced by SHA-256.
        assert_eq!(
            hash(&rsa_sha1),
            Some(sha2::Sha256::digest(&rsa_sha1).to_vec())
        );
        assert_eq!(hash(&ed25519), None);
        assert_eq!(hash(&vec![0x30, 0x05, 0x30]), None, "truncated");
    }

    #[test]
    fn streams_can_move_between_tasks() {
        fn usable<T: AsyncRead + AsyncWrite + Unpin + Send + 'static>() {}
        usable::<PgStream>();
        usable::<RustlsStream>();
    }

    #[test]
    fn disable_needs_no_files() {
        let opts = TlsOptions {
            mode: SslMode::Disable,
            root_cert: Some(PathBuf::from("/nonexistent")),
            ..TlsOptions::default()
        };
        assert!(opts.client_config().unwrap().is_none());
    }

    #[tokio::test]
    async fn a_server_refusing_tls_is_refused_unless_tls_is_optional() {
        use tokio::net::TcpListener;
        async fn answer(byte: u8, mode: SslMode) -> Result<PgStream, TlsError> {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 8];
                socket.read_exact(&mut request).await.unwrap();
                assert_eq!(request, SSL_REQUEST);
                socket.write_all(&[byte]).await.unwrap();
                socket
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            let result = negotiate(
                stream,
                "127.0.0.1",
                &TlsOptions {
                    mode,
                    ..TlsOptions::default()
                },
            )
            .await;
            drop(server.await.unwrap());
            result
        }
        let err = answer(b'N', SslMode::Require).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the server does not accept TLS connections (sslmode=require)"
        );
        assert!(!answer(b'N', SslMode::Prefer).await.unwrap().is_tls());
        let err = answer(b'E', SslMode::Prefer).await.unwrap_err();
        assert!(err.to_string().contains("PostgreSQL server"), "{err}");
    }
}
