//! A physical replication connection (PostgreSQL's walsender protocol): connect, authenticate, run simple commands and read COPY streams, as pg_basebackup does.
//!
//! tokio-postgres cannot open a replication connection (it has no
//! `replication` startup parameter and always uses the extended query
//! protocol, which a walsender refuses), so this speaks the few messages a
//! base backup needs. Message framing and SCRAM/md5 come from
//! `postgres-protocol`, the crate under tokio-postgres.

use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::sasl::{
    ChannelBinding, ScramSha256, SCRAM_SHA_256, SCRAM_SHA_256_PLUS,
};
use postgres_protocol::message::{backend, frontend};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::pg::control::{is_socket_dir, ConnectOptions, DEFAULT_HOST, DEFAULT_PORT};
use crate::pg::tls;
use crate::pg::WalSegmentSize;

/// How long connecting (TCP, TLS and authentication) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The stream is read for hours while the server sends data; a peer that
/// vanished without a reset (a pulled cable, a dropped NAT entry) is noticed
/// by keepalives within about 20 seconds instead of two hours. The server
/// is silent during its start checkpoint, so a read timeout would not do.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(3);
const KEEPALIVE_RETRIES: u32 = 3;

/// The largest message accepted from the server: a CopyData chunk of a base
/// backup is at most a few hundred KiB, a row far less. A peer that claims
/// more is not a PostgreSQL server speaking this protocol.
const MAX_MESSAGE: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("cannot connect to PostgreSQL ({target}) for replication: {detail}")]
    Connect { target: String, detail: String },
    #[error("PostgreSQL ({target}) refused {what}: {detail}")]
    Server {
        target: String,
        what: String,
        detail: String,
        /// The SQLSTATE, e.g. 28P01 for a wrong password.
        code: String,
    },
    #[error(
        "the replication connection to PostgreSQL ({target}) was lost during {what}: {detail}"
    )]
    Lost {
        target: String,
        what: String,
        detail: String,
    },
    #[error("PostgreSQL ({target}) answered {what} unexpectedly: {detail}")]
    Protocol {
        target: String,
        what: String,
        detail: String,
    },
}

trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// Who the server is, as a replication connection can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerIdentity {
    /// `server_version_num`, e.g. 170002.
    pub version_num: u32,
    pub system_identifier: u64,
    /// The timeline the server is on (`IDENTIFY_SYSTEM`).
    pub timeline: u32,
    pub wal_segment_size: u32,
}

/// One message from the server, as this client needs them.
#[derive(Debug)]
pub enum ServerMessage {
    RowDescription(Vec<String>),
    DataRow(Vec<Option<String>>),
    CommandComplete(String),
    CopyOutResponse,
    /// The server waits for the client's COPY data (`UPLOAD_MANIFEST`).
    CopyInResponse,
    CopyData(Bytes),
    CopyDone,
    /// The command is over; the connection takes the next one.
    ReadyForQuery,
}

/// An authenticated physical replication connection.
pub struct ReplicationConnection {
    stream: Box<dyn Transport>,
    buf: BytesMut,
    target: String,
    server_version: Option<String>,
    /// How long a read may wait for the server (`None`: no limit).
    read_timeout: Option<Duration>,
}

impl fmt::Debug for ReplicationConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicationConnection")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl ReplicationConnection {
    /// Connects as `opts` says (call `with_pg_env` first for libpq's
    /// environment and defaults) with `replication=true`, and authenticates.
    /// The user needs the REPLICATION attribute and a `replication` line in
    /// `pg_hba.conf`.
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, ReplicationError> {
        let target = format!("{}, replication", opts.describe());
        let connect_error = |detail: String| ReplicationError::Connect {
            target: target.clone(),
            detail,
        };
        let (stream, binding) = tokio::time::timeout(CONNECT_TIMEOUT, open_transport(opts))
            .await
            .map_err(|_| connect_error(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(connect_error)?;
        let mut connection = ReplicationConnection {
            stream,
            buf: BytesMut::with_capacity(256 << 10),
            target: target.clone(),
            server_version: None,
            read_timeout: None,
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connection.startup(opts, binding))
            .await
            .map_err(|_| {
                connect_error(format!(
                    "the server did not finish authentication within {CONNECT_TIMEOUT:?}"
                ))
            })??;
        Ok(connection)
    }

    /// What was reached, for messages: host or socket, user, "replication".
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Fails a read that waits longer than `limit` for the server: for the
    /// phases where a healthy server always sends (a base backup's copy),
    /// so that a server or network that hangs without resetting the
    /// connection is noticed (keepalives cannot see a live peer that has
    /// stopped sending).
    pub fn set_read_timeout(&mut self, limit: Option<Duration>) {
        self.read_timeout = limit;
    }

    /// `server_version` as the server reported it at startup, e.g. "17.2".
    pub fn server_version(&self) -> Option<&str> {
        self.server_version.as_deref()
    }

    async fn startup(
        &mut self,
        opts: &ConnectOptions,
        binding: Option<Vec<u8>>,
    ) -> Result<(), ReplicationError> {
        let user = opts.user.clone().unwrap_or_default();
        let mut out = BytesMut::new();
        let params = [
            ("user", user.as_str()),
            ("replication", "true"),
            ("application_name", "walden"),
        ];
        frontend::startup_message(params.iter().copied(), &mut out)
            .map_err(|e| self.io("startup", e))?;
        self.send(&out, "startup").await?;
        let target = self.target.clone();
        // .pgpass lines for a replication connection match the database
        // name "replication", as for pg_basebackup.
        let password = || {
            opts.password_for("replication").ok_or_else(|| ReplicationError::Connect {
                target: target.clone(),
                detail: format!(
                    "the server asks for a password for user {user:?} and none was given: set PGPASSWORD or add a .pgpass line for database \"replication\""
                ),
            })
        };
        loop {
            match self.read_raw("authentication").await? {
                backend::Message::AuthenticationOk => break,
                backend::Message::AuthenticationCleartextPassword => {
                    let password = password()?;
                    let mut out = BytesMut::new();
                    frontend::password_message(password.as_bytes(), &mut out)
                        .map_err(|e| self.io("authentication", e))?;
                    self.send(&out, "authentication").await?;
                }
                backend::Message::AuthenticationMd5Password(body) => {
                    let password = password()?;
                    let hash = postgres_protocol::authentication::md5_hash(
                        user.as_bytes(),
                        password.as_bytes(),
                        body.salt(),
                    );
                    let mut out = BytesMut::new();
                    frontend::password_message(hash.as_bytes(), &mut out)
                        .map_err(|e| self.io("authentication", e))?;
                    self.send(&out, "authentication").await?;
                }
                backend::Message::AuthenticationSasl(body) => {
                    let mechanisms: Vec<String> = body
                        .mechanisms()
                        .map(|m| Ok(m.to_owned()))
                        .collect()
                        .map_err(|e| self.io("authentication", e))?;
                    let plus = mechanisms.iter().any(|m| m == SCRAM_SHA_256_PLUS);
                    if !plus && !mechanisms.iter().any(|m| m == SCRAM_SHA_256) {
                        return Err(self.protocol(
                            "authentication",
                            format!("no supported SASL mechanism among {mechanisms:?}"),
                        ));
                    }
                    // Over TLS, bind the authentication to the server's
                    // certificate when the server offers it, as libpq's
                    // channel_binding=prefer does.
                    let (mechanism, channel) = match (&binding, plus) {
                        (Some(data), true) => (
                            SCRAM_SHA_256_PLUS,
                            ChannelBinding::tls_server_end_point(data.clone()),
                        ),
                        (Some(_), false) => (SCRAM_SHA_256, ChannelBinding::unrequested()),
                        (None, _) => (SCRAM_SHA_256, ChannelBinding::unsupported()),
                    };
                    self.scram(password()?.as_bytes(), mechanism, channel)
                        .await?;
                }
                backend::Message::ErrorResponse(body) => {
                    let (code, detail) = error_fields(&body);
                    return Err(ReplicationError::Server {
                        target: self.target.clone(),
                        what: "the connection".into(),
                        detail,
                        code,
                    });
                }
                other => {
                    return Err(self.protocol(
                        "authentication",
                        format!(
                            "unsupported authentication request {}",
                            message_name(&other)
                        ),
                    ))
                }
            }
        }
        // ParameterStatus and BackendKeyData until the server is ready.
        loop {
            match self.read_raw("startup").await? {
                backend::Message::ReadyForQuery(_) => return Ok(()),
                backend::Message::ParameterStatus(body)
                    if body.name().ok() == Some("server_version") =>
                {
                    self.server_version = body.value().ok().map(str::to_owned);
                }
                backend::Message::ErrorResponse(body) => {
                    let (code, detail) = error_fields(&body);
                    return Err(ReplicationError::Server {
                        target: self.target.clone(),
                        what: "the connection".into(),
                        detail,
                        code,
                    });
                }
                _ => {}
            }
        }
    }

    /// SCRAM-SHA-256, with channel binding when `mechanism` is the -PLUS one.
    async fn scram(
        &mut self,
        password: &[u8],
        mechanism: &str,
        channel: ChannelBinding,
    ) -> Result<(), ReplicationError> {
        let mut scram = ScramSha256::new(password, channel);
        let mut out = BytesMut::new();
        frontend::sasl_initial_response(mechanism, scram.message(), &mut out)
            .map_err(|e| self.io("authentication", e))?;
        self.send(&out, "authentication").await?;
        let first = self.sasl_answer(false).await?;
        scram
            .update(&first)
            .map_err(|e| self.protocol("authentication", e.to_string()))?;
        let mut out = BytesMut::new();
        frontend::sasl_response(scram.message(), &mut out)
            .map_err(|e| self.io("authentication", e))?;
        self.send(&out, "authentication").await?;
        let last = self.sasl_answer(true).await?;
        // Proves the server knew the password too.
        scram.finish(&last).map_err(|e| {
            self.protocol(
                "authentication",
                format!("the server's SCRAM proof is wrong: {e}"),
            )
        })
    }

    /// The server's next SCRAM message: a continuation, or the final one.
    async fn sasl_answer(&mut self, last: bool) -> Result<Vec<u8>, ReplicationError> {
        match (self.read_raw("authentication").await?, last) {
            (backend::Message::AuthenticationSaslContinue(body), false) => Ok(body.data().to_vec()),
            (backend::Message::AuthenticationSaslFinal(body), true) => Ok(body.data().to_vec()),
            (backend::Message::ErrorResponse(body), _) => {
                Err(self.server_error("authentication", &body))
            }
            (other, _) => Err(self.protocol(
                "authentication",
                format!("{} during SCRAM", message_name(&other)),
            )),
        }
    }

    /// Runs a command that answers with at most one result set (such as
    /// `IDENTIFY_SYSTEM` or `SHOW`) and returns its rows.
    pub async fn query_rows(
        &mut self,
        command: &str,
    ) -> Result<Vec<Vec<Option<String>>>, ReplicationError> {
        self.send_command(command).await?;
        let mut rows = Vec::new();
        loop {
            match self.next(command).await? {
                ServerMessage::DataRow(row) => rows.push(row),
                ServerMessage::ReadyForQuery => return Ok(rows),
                ServerMessage::CopyOutResponse
                | ServerMessage::CopyInResponse
                | ServerMessage::CopyData(_)
                | ServerMessage::CopyDone => {
                    return Err(
                        self.protocol(command, "a COPY stream where rows were expected".into())
                    )
                }
                _ => {}
            }
        }
    }

    /// The server's version, system identifier, timeline and WAL segment
    /// size: `SHOW` and `IDENTIFY_SYSTEM`, which need no SQL access.
    pub async fn identify(&mut self) -> Result<ServerIdentity, ReplicationError> {
        let version = self.show("server_version_num").await?;
        let version_num = version.trim().parse().map_err(|_| {
            self.protocol(
                "SHOW server_version_num",
                format!("{version:?} is not a number"),
            )
        })?;
        let size = self.show("wal_segment_size").await?;
        let wal_segment_size = parse_size(&size)
            .and_then(|bytes| u32::try_from(bytes).ok())
            .and_then(|bytes| WalSegmentSize::new(bytes).ok())
            .map(WalSegmentSize::bytes)
            .ok_or_else(|| {
                self.protocol(
                    "SHOW wal_segment_size",
                    format!("{size:?} is not a WAL segment size"),
                )
            })?;
        let rows = self.query_rows("IDENTIFY_SYSTEM").await?;
        let field = |i: usize| rows.first().and_then(|row| row.get(i).cloned().flatten());
        let system_identifier = field(0).and_then(|text| text.parse().ok());
        let timeline = field(1).and_then(|text| text.parse().ok());
        let (Some(system_identifier), Some(timeline)) = (system_identifier, timeline) else {
            return Err(self.protocol("IDENTIFY_SYSTEM", format!("{rows:?}")));
        };
        Ok(ServerIdentity {
            version_num,
            system_identifier,
            timeline,
            wal_segment_size,
        })
    }

    /// `UPLOAD_MANIFEST` (PostgreSQL 17+): sends a previous backup's
    /// `backup_manifest`, exactly as the server wrote it, so that the next
    /// `BASE_BACKUP ( INCREMENTAL )` on this connection sends only what
    /// changed since that backup. The server checks the manifest (its own
    /// checksum, its system identifier, that its WAL range is summarized)
    /// when the backup starts, and refuses it with an error then.
    pub async fn upload_manifest(&mut self, manifest: &[u8]) -> Result<(), ReplicationError> {
        const WHAT: &str = "UPLOAD_MANIFEST";
        /// CopyData messages of at most this many bytes.
        const PIECE: usize = 64 << 10;
        self.send_command(WHAT).await?;
        match self.next(WHAT).await? {
            ServerMessage::CopyInResponse => {}
            other => {
                return Err(self.protocol(WHAT, format!("{other:?} where COPY IN was expected")))
            }
        }
        let mut out = BytesMut::new();
        for piece in manifest.chunks(PIECE) {
            out.clear();
            frontend::CopyData::new(piece)
                .map_err(|e| self.io(WHAT, e))?
                .write(&mut out);
            self.send(&out, WHAT).await?;
        }
        out.clear();
        frontend::copy_done(&mut out);
        self.send(&out, WHAT).await?;
        loop {
            match self.next(WHAT).await? {
                ServerMessage::ReadyForQuery => return Ok(()),
                ServerMessage::CommandComplete(_) => {}
                other => {
                    return Err(
                        self.protocol(WHAT, format!("unexpected {other:?} after the manifest"))
                    )
                }
            }
        }
    }

    /// `SHOW name` on the walsender, which accepts it for any setting.
    pub async fn show(&mut self, name: &str) -> Result<String, ReplicationError> {
        let command = format!("SHOW {name}");
        let rows = self.query_rows(&command).await?;
        rows.into_iter()
            .next()
            .and_then(|row| row.into_iter().next().flatten())
            .ok_or_else(|| self.protocol(&command, "no value".into()))
    }

    /// Sends a command in the simple query protocol; read the answer with `next`.
    pub async fn send_command(&mut self, command: &str) -> Result<(), ReplicationError> {
        let mut out = BytesMut::new();
        frontend::query(command, &mut out).map_err(|e| self.io(command, e))?;
        self.send(&out, command).await
    }

    /// The next message of the command's answer. A server error ends the
    /// command: it becomes `ReplicationError::Server` naming `what`.
    /// Notices (a checksum failure, for one) are logged as warnings.
    pub async fn next(&mut self, what: &str) -> Result<ServerMessage, ReplicationError> {
        loop {
            let message = match self.read_raw(what).await? {
                backend::Message::RowDescription(body) => ServerMessage::RowDescription(
                    body.fields()
                        .map(|f| Ok(f.name().to_owned()))
                        .collect()
                        .map_err(|e| self.io(what, e))?,
                ),
                backend::Message::DataRow(body) => {
                    let buffer = body.buffer();
                    let row = body
                        .ranges()
                        .map(|range| {
                            Ok(range.map(|r| String::from_utf8_lossy(&buffer[r]).into_owned()))
                        })
                        .collect()
                        .map_err(|e| self.io(what, e))?;
                    ServerMessage::DataRow(row)
                }
                backend::Message::CommandComplete(body) => {
                    ServerMessage::CommandComplete(body.tag().unwrap_or_default().to_owned())
                }
                backend::Message::CopyOutResponse(_) => ServerMessage::CopyOutResponse,
                backend::Message::CopyInResponse(_) => ServerMessage::CopyInResponse,
                backend::Message::CopyData(body) => ServerMessage::CopyData(body.into_bytes()),
                backend::Message::CopyDone => ServerMessage::CopyDone,
                backend::Message::ReadyForQuery(_) => ServerMessage::ReadyForQuery,
                backend::Message::ErrorResponse(body) => {
                    let error = self.server_error(what, &body);
                    // The server sends ReadyForQuery after an error; a lost
                    // connection afterwards changes nothing.
                    return Err(error);
                }
                backend::Message::NoticeResponse(body) => {
                    let mut fields = body.fields();
                    let mut severity = String::new();
                    let mut message = String::new();
                    while let Ok(Some(field)) = fields.next() {
                        match field.type_() {
                            b'S' => {
                                severity = String::from_utf8_lossy(field.value_bytes()).into_owned()
                            }
                            b'M' => {
                                message = String::from_utf8_lossy(field.value_bytes()).into_owned()
                            }
                            _ => {}
                        }
                    }
                    tracing::warn!(server = %self.target, severity = %severity, "PostgreSQL: {message}");
                    continue;
                }
                backend::Message::EmptyQueryResponse | backend::Message::ParameterStatus(_) => {
                    continue
                }
                other => {
                    return Err(
                        self.protocol(what, format!("unexpected message {}", message_name(&other)))
                    )
                }
            };
            return Ok(message);
        }
    }

    async fn read_raw(&mut self, what: &str) -> Result<backend::Message, ReplicationError> {
        loop {
            if let Some(message) = backend::Message::parse(&mut self.buf)
                .map_err(|e| self.protocol(what, e.to_string()))?
            {
                return Ok(message);
            }
            if self.buf.len() >= 5 {
                let claimed =
                    u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                        as usize;
                if claimed > MAX_MESSAGE {
                    return Err(self.protocol(
                        what,
                        format!("a message of {claimed} bytes, more than walden accepts"),
                    ));
                }
            }
            if self.buf.capacity() - self.buf.len() < 64 << 10 {
                self.buf.reserve(256 << 10);
            }
            let read = self.stream.read_buf(&mut self.buf);
            let n = match self.read_timeout {
                None => read.await,
                Some(limit) => match tokio::time::timeout(limit, read).await {
                    Ok(read) => read,
                    Err(_) => {
                        return Err(self.lost(
                            what,
                            format!("no data from the server for {} s", limit.as_secs()),
                        ))
                    }
                },
            }
            .map_err(|e| self.lost(what, e.to_string()))?;
            if n == 0 {
                return Err(self.lost(what, "the server closed the connection".into()));
            }
        }
    }

    async fn send(&mut self, bytes: &[u8], what: &str) -> Result<(), ReplicationError> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| self.lost(what, e.to_string()))?;
        self.stream
            .flush()
            .await
            .map_err(|e| self.lost(what, e.to_string()))
    }

    /// Ends the session politely.
    pub async fn close(mut self) {
        let mut out = BytesMut::new();
        frontend::terminate(&mut out);
        let _ = self.stream.write_all(&out).await;
        let _ = self.stream.shutdown().await;
    }

    fn server_error(&self, what: &str, body: &backend::ErrorResponseBody) -> ReplicationError {
        let (code, detail) = error_fields(body);
        ReplicationError::Server {
            target: self.target.clone(),
            what: what.to_owned(),
            detail,
            code,
        }
    }

    fn lost(&self, what: &str, detail: String) -> ReplicationError {
        ReplicationError::Lost {
            target: self.target.clone(),
            what: what.to_owned(),
            detail,
        }
    }

    fn protocol(&self, what: &str, detail: String) -> ReplicationError {
        ReplicationError::Protocol {
            target: self.target.clone(),
            what: what.to_owned(),
            detail,
        }
    }

    fn io(&self, what: &str, e: std::io::Error) -> ReplicationError {
        self.protocol(what, e.to_string())
    }
}

impl ReplicationError {
    /// The SQLSTATE when the server refused, e.g. "28P01".
    pub fn code(&self) -> Option<&str> {
        match self {
            ReplicationError::Server { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// "FATAL: password authentication failed for user "x"", with DETAIL and
/// HINT when the server gave them, and the SQLSTATE.
fn error_fields(body: &backend::ErrorResponseBody) -> (String, String) {
    let mut severity = String::new();
    let mut code = String::new();
    let mut message = String::new();
    let mut extra = Vec::new();
    let mut fields = body.fields();
    while let Ok(Some(field)) = fields.next() {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'S' => severity = value,
            b'C' => code = value,
            b'M' => message = value,
            b'D' => extra.push(format!("DETAIL: {value}")),
            b'H' => extra.push(format!("HINT: {value}")),
            _ => {}
        }
    }
    let mut text = if severity.is_empty() {
        message
    } else {
        format!("{severity}: {message}")
    };
    for part in extra {
        text.push_str("; ");
        text.push_str(&part);
    }
    if !code.is_empty() {
        text.push_str(&format!(" (SQLSTATE {code})"));
    }
    (code, text)
}

/// "16MB" → 16 MiB, as `SHOW` prints memory and size settings.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let unit: u64 = match &text[digits..] {
        "" | "B" => 1,
        "kB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return None,
    };
    number.checked_mul(unit)
}

fn message_name(message: &backend::Message) -> &'static str {
    match message {
        backend::Message::AuthenticationGss | backend::Message::AuthenticationGssContinue(_) => {
            "GSSAPI"
        }
        backend::Message::AuthenticationSspi => "SSPI",
        backend::Message::AuthenticationKerberosV5 => "Kerberos V5",
        backend::Message::AuthenticationScmCredential => "SCM credentials",
        backend::Message::CopyInResponse(_) => "CopyInResponse",
        _ => "message",
    }
}

/// A TCP connection (with keepalives, then TLS as sslmode says) or a Unix
/// socket, and the TLS channel-binding data when TLS is on.
async fn open_transport(
    opts: &ConnectOptions,
) -> Result<(Box<dyn Transport>, Option<Vec<u8>>), String> {
    let host = opts.host.as_deref().unwrap_or(DEFAULT_HOST);
    let port = opts.port.unwrap_or(DEFAULT_PORT);
    if is_socket_dir(host) {
        let path = format!("{}/.s.PGSQL.{port}", host.trim_end_matches('/'));
        let stream = tokio::net::UnixStream::connect(&path)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        return Ok((Box::new(stream), None));
    }
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_RETRIES);
    socket2::SockRef::from(&stream)
        .set_tcp_keepalive(&keepalive)
        .map_err(|e| format!("setting TCP keepalives: {e}"))?;
    let stream = tls::negotiate(stream, host, &opts.tls)
        .await
        .map_err(|e| e.to_string())?;
    let binding = stream.tls_server_end_point();
    Ok((Box::new(stream), binding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_with_their_units() {
        assert_eq!(parse_size("16MB"), Some(16 << 20));
        assert_eq!(parse_size("1GB"), Some(1 << 30));
        assert_eq!(parse_size("8kB"), Some(8 << 10));
        assert_eq!(parse_size("16 MB"), None);
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn server_errors_read_like_psql() {
        // An ErrorResponse as PostgreSQL sends it for a wrong password.
        let mut body = Vec::new();
        for (field, value) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "28P01"),
            (b'M', "password authentication failed for user \"repl\""),
        ] {
            body.push(field);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut message = BytesMut::new();
        message.extend_from_slice(b"E");
        message.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        message.extend_from_slice(&body);
        let Some(backend::Message::ErrorResponse(body)) =
            backend::Message::parse(&mut message).unwrap()
        else {
            panic!("not an ErrorResponse");
        };
        let (code, text) = error_fields(&body);
        assert_eq!(code, "28P01");
        assert_eq!(
            text,
            "FATAL: password authentication failed for user \"repl\" (SQLSTATE 28P01)"
        );
    }
}
