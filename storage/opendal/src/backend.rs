//! [`OpendalBackend`]: one OpenDAL operator shared by every session, built
//! from a storage URI and checked at start.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ftpsh_core::{Backend, Capabilities, Storage, User};
use futures_util::StreamExt as _;
use opendal::layers::{RetryLayer, TimeoutLayer};
use sha2::{Digest, Sha256};

use crate::error::{Error, service_code, short_reason};
use crate::storage::OpendalStorage;
use crate::uri;

/// How long the start-up check waits for the endpoint.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Worker threads of the runtime OpenDAL's futures run on (HTTP
/// connections, timers); the blocking calls wait on their own threads.
const RUNTIME_WORKERS: usize = 2;

/// The process-wide tokio runtime behind OpenDAL's blocking API, created
/// on first use. OpenDAL also gets its service registry and HTTP transport
/// installed, and rustls its `ring` provider (if the process has none yet).
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        // Err means another provider is installed already: keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        opendal::install_default();
        install_http_client();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_WORKERS)
            .thread_name("ftpsh-opendal")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the object-store runtime: {e}"))
    })
}

/// How long one request may take (stat, list page, delete, a server-side
/// copy of up to 5 GiB).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one step of a transfer may take: a part of an upload
/// ([`CHUNK`](crate::CHUNK) bytes: at least ~140 KB/s towards the store),
/// one read of a download.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a TCP connection to the endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// OpenDAL's HTTP transport: reqwest over rustls (with the process's
/// crypto provider), connections that give up after [`CONNECT_TIMEOUT`].
fn install_http_client() {
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_keepalive(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("cannot build the HTTP client: {e}"));
    opendal::HttpTransporter::install_default(
        opendal_http_transport_reqwest::ReqwestTransport::new(client),
    );
}

/// What the sessions of one back-end share.
pub(crate) struct Shared {
    /// Blocking calls (stat, list, delete, copy, readers).
    pub op: opendal::blocking::Operator,
    /// The same operator, for the writers (their `abort` is async only).
    pub aop: opendal::Operator,
    /// The runtime's handle, to drive `aop`'s futures.
    pub handle: tokio::runtime::Handle,
    /// For logs: the URI without secrets.
    pub describe: String,
    /// Mixed into [`Metadata::unique`](ftpsh_core::Metadata::unique) so
    /// that keys of different buckets differ.
    pub namespace: String,
    /// Parts of one upload sent at once (`upload_parts`): each holds
    /// [`CHUNK`](crate::CHUNK) bytes of memory while in flight.
    pub upload_parts: usize,
}

// By hand: OpenDAL's own Debug shows a service's configuration, which for
// some services may include credentials.
impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("storage", &self.describe)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// MLST's `unique` fact for `key` (RFC 3659 §7.5.2): a hash of the
    /// storage and the full key, stable across restarts.
    pub fn unique(&self, key: &str) -> (u64, u64) {
        let digest = Sha256::new()
            .chain_update(self.namespace.as_bytes())
            .chain_update([0])
            .chain_update(key.trim_start_matches('/').as_bytes())
            .finalize();
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&digest[i..i + 8]);
            u64::from_be_bytes(b)
        };
        (word(0), word(8))
    }
}

/// An object store (S3, or any OpenDAL service) serving every account
/// below one prefix: `user.root` is a key prefix below it (`/` for the
/// prefix itself). See the crate docs for what each command does on it.
#[derive(Clone)]
pub struct OpendalBackend {
    shared: Arc<Shared>,
    /// The operator without retries or timeouts, for [`Self::check`]: a
    /// wrong endpoint should fail in seconds, not after back-offs.
    raw: opendal::Operator,
    bucket: Option<String>,
}

impl OpendalBackend {
    /// A back-end from a storage URI (see the crate docs), not yet
    /// checked: call [`OpendalBackend::check`], or use
    /// [`backend_from_uri`](crate::backend_from_uri) which does both.
    ///
    /// # Errors
    /// [`Error::Uri`] for a malformed URI, [`Error::Config`] for options
    /// OpenDAL refuses or a service not compiled in.
    pub fn from_uri(uri: &str) -> Result<Self, Error> {
        let parsed = uri::parse(uri)?;
        runtime();
        let op =
            opendal::Operator::via_iter(&parsed.scheme, parsed.options.clone()).map_err(|e| {
                Error::Config {
                    storage: parsed.describe.clone(),
                    reason: if e.message().contains("not registered") {
                        format!(
                            "service {:?} is not compiled into this build (these are: {})",
                            parsed.scheme,
                            crate::SERVICES.join(", ")
                        )
                    } else {
                        short_reason(&e)
                    },
                }
            })?;
        let mut backend = Self::from_operator(op, parsed.describe);
        backend.bucket = parsed.bucket;
        if let Some(shared) = Arc::get_mut(&mut backend.shared) {
            shared.upload_parts = parsed.upload_parts;
        }
        Ok(backend)
    }

    /// A back-end over an operator built by the caller (tests use OpenDAL's
    /// `memory` service). Timeouts ([`REQUEST_TIMEOUT`], [`IO_TIMEOUT`])
    /// and retries of temporary failures (3, with jittered back-off) are
    /// added here.
    pub fn from_operator(op: opendal::Operator, describe: String) -> Self {
        let rt = runtime();
        let info = op.info();
        let namespace = format!("{}://{}{}", info.scheme(), info.name(), info.root());
        let raw = op.clone();
        let aop = op
            .layer(
                TimeoutLayer::new()
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_io_timeout(IO_TIMEOUT),
            )
            .layer(RetryLayer::new().with_jitter());
        let op = {
            let _entered = rt.enter();
            opendal::blocking::Operator::new(aop.clone())
                .unwrap_or_else(|e| panic!("the runtime was entered: {e}"))
        };
        Self {
            shared: Arc::new(Shared {
                op,
                aop,
                handle: rt.handle().clone(),
                describe,
                namespace,
                upload_parts: 1,
            }),
            raw,
            bucket: None,
        }
    }

    /// Verifies that the endpoint answers and the bucket exists, by listing
    /// the prefix, within [`CHECK_TIMEOUT`] and without retries: the
    /// daemon calls it at start and stops with its one-line error.
    ///
    /// # Errors
    /// [`Error::Unreachable`], [`Error::NoBucket`], [`Error::Denied`], or
    /// [`Error::Other`] with what the endpoint answered.
    pub fn check(&self) -> Result<(), Error> {
        let storage = self.shared.describe.clone();
        let raw = self.raw.clone();
        let probe = async move {
            let mut lister = raw
                .lister_options(
                    "/",
                    opendal::options::ListOptions {
                        limit: Some(1),
                        ..Default::default()
                    },
                )
                .await?;
            lister.next().await.transpose().map(|_| ())
        };
        let outcome = self
            .shared
            .handle
            .block_on(async { tokio::time::timeout(CHECK_TIMEOUT, probe).await });
        let err = match outcome {
            Ok(Ok(())) => return Ok(()),
            Err(_) => {
                return Err(Error::Unreachable {
                    storage,
                    reason: format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
                });
            }
            Ok(Err(e)) => e,
        };
        let reason = short_reason(&err);
        if service_code(&err) == Some("NoSuchBucket") {
            return Err(Error::NoBucket {
                storage,
                bucket: self.bucket.clone().unwrap_or_else(|| "?".to_owned()),
            });
        }
        Err(match err.kind() {
            opendal::ErrorKind::NotFound => Error::NoBucket {
                storage,
                bucket: self.bucket.clone().unwrap_or_else(|| "?".to_owned()),
            },
            opendal::ErrorKind::PermissionDenied => Error::Denied { storage, reason },
            opendal::ErrorKind::ConfigInvalid => Error::Config { storage, reason },
            _ if err.is_temporary() => Error::Unreachable { storage, reason },
            _ => Error::Other { storage, reason },
        })
    }

    /// The storage of the account root `root` (a key prefix below the
    /// back-end's prefix; `/` for the prefix itself), as
    /// [`Backend::open_root`] opens it.
    ///
    /// # Errors
    /// `InvalidInput` for a root that is not UTF-8.
    pub fn storage(&self, root: &std::path::Path) -> io::Result<OpendalStorage> {
        OpendalStorage::new(self.shared.clone(), root)
    }
}

impl std::fmt::Debug for OpendalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpendalBackend")
            .field("storage", &self.shared.describe)
            .finish_non_exhaustive()
    }
}

impl Backend for OpendalBackend {
    fn capabilities(&self) -> Capabilities {
        Capabilities::OBJECT_STORE
    }

    fn open_root(&self, user: &User) -> io::Result<Arc<dyn Storage>> {
        Ok(Arc::new(self.storage(&user.root)?))
    }

    fn describe(&self) -> String {
        self.shared.describe.clone()
    }
}

/// The back-end of a storage URI, checked: the endpoint answers and the
/// bucket exists ([`OpendalBackend::check`]). What the daemon calls for
/// `--storage URI` at start.
///
/// # Errors
/// The one-line [`Error`] to print before exiting.
pub fn backend_from_uri(uri: &str) -> Result<Arc<dyn Backend>, Error> {
    let backend = OpendalBackend::from_uri(uri)?;
    backend.check()?;
    Ok(Arc::new(backend))
}
