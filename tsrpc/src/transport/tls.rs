//! TLS under either host's connections: rustls with the ring provider.
//! The server's listener accepts TLS when given a [`ServerTls`]; the
//! clients connect to `wss://` and `https://` with a [`ClientTls`].

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::stream::ClientStream;

/// The protocols the server offers in the handshake (ALPN), preferred first.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// ring: light to build (aws-lc-rs needs cmake and builds for minutes).
/// Deprecated by rustls for its lack of post-quantum key exchange, which
/// TSRPC's peers do not offer either.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// A server's TLS: its certificate chain and private key, for `wss://`
/// and `https://` on its port (set with
/// [`ServerBuilder::tls`](crate::ServerBuilder::tls)).
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = tsrpc::tls::ServerTls::from_pem_files("cert.pem", "key.pem")?;
/// let server = tsrpc::Server::builder().port(443).tls(tls).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// From PEM files: the certificate chain (leaf first, as certbot's
    /// `fullchain.pem`) and its private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Self> {
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        let (cert_path, key_path) = (cert.as_ref(), key.as_ref());
        Self::from_pem(&read(cert_path)?, &read(key_path)?).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{} and {}: {e}", cert_path.display(), key_path.display()),
            )
        })
    }

    /// From PEM text: the certificate chain and its private key.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> io::Result<Self> {
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("the certificate chain is not PEM: {e}")))?;
        if chain.is_empty() {
            return Err(invalid("no certificate in the certificate PEM"));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| invalid(format!("no private key in the key PEM: {e}")))?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| invalid(format!("the key does not fit the certificate: {e}")))?;
        Ok(Self::from_rustls(Arc::new(config)))
    }

    /// From a rustls configuration built by hand (client certificates, a
    /// certificate resolver...). Without ALPN protocols of its own, it
    /// offers HTTP/2 and HTTP/1.1.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> Self {
        let config = if config.alpn_protocols.is_empty() {
            let mut config = (*config).clone();
            config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
            Arc::new(config)
        } else {
            config
        };
        ServerTls { config }
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

/// Which servers a client trusts on `wss://` and `https://`: by default
/// the Mozilla roots (webpki-roots); for a private CA or a self-signed
/// certificate, its PEM.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ca = std::fs::read("ca.pem")?;
/// let tls = tsrpc::tls::ClientTls::with_root_pem(&ca)?;
/// let client = tsrpc::WsClient::builder("wss://chat.internal:3000").tls(tls).build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

impl Default for ClientTls {
    fn default() -> Self {
        Self::webpki_roots()
    }
}

impl ClientTls {
    /// Trusts the Mozilla roots (the webpki-roots crate): public servers.
    pub fn webpki_roots() -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::with_roots(roots)
    }

    /// Trusts the certificates of `pem` (one or more): a private CA, or a
    /// server's own self-signed certificate. Nothing else is trusted.
    pub fn with_root_pem(pem: &[u8]) -> io::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| invalid(format!("the root PEM is not PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| invalid(format!("a root certificate is not valid: {e}")))?;
        }
        if roots.is_empty() {
            return Err(invalid("no certificate in the root PEM"));
        }
        Ok(Self::with_roots(roots))
    }

    /// From a rustls configuration built by hand.
    pub fn from_rustls(config: Arc<rustls::ClientConfig>) -> Self {
        ClientTls { config }
    }

    fn with_roots(roots: rustls::RootCertStore) -> Self {
        // The provider's safe defaults cannot fail to build.
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|_| rustls::ClientConfig::builder());
        let config = builder.with_root_certificates(roots).with_no_client_auth();
        ClientTls {
            config: Arc::new(config),
        }
    }

    /// The rustls configuration, for other TLS clients of the same
    /// servers (a load generator's WebSocket connector, say).
    pub fn rustls_config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }

    /// Opens TLS over `tcp` to `host`.
    pub(crate) async fn connect(&self, host: &str, tcp: TcpStream) -> io::Result<ClientStream> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| invalid(format!("{host:?} is not a server name: {e}")))?;
        // A WebSocket upgrade is HTTP/1.1's: offer nothing else.
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = connector.connect(name, tcp).await?;
        Ok(ClientStream::Tls(Box::new(stream)))
    }
}
