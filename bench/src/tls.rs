//! The `wss` rows: a certificate made once per machine (in the temporary
//! folder) that the server serves and the load generator trusts.

use std::path::PathBuf;
use std::sync::Arc;

use tsrpc::tls::rustls;

fn dir() -> PathBuf {
    std::env::temp_dir().join("tsrpc-bench-tls")
}

/// The certificate and key PEM, made when missing.
fn cert() -> (String, String) {
    let dir = dir();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    if let (Ok(cert), Ok(key)) = (
        std::fs::read_to_string(&cert_path),
        std::fs::read_to_string(&key_path),
    ) {
        return (cert, key);
    }
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a certificate");
    let (cert, key) = (made.cert.pem(), made.signing_key.serialize_pem());
    // Written aside, then renamed: a reader sees a whole pair or none.
    let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("a folder for the certificate");
    std::fs::write(tmp.join("cert.pem"), &cert).expect("cert.pem written");
    std::fs::write(tmp.join("key.pem"), &key).expect("key.pem written");
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another process made it first: use theirs.
        let _ = std::fs::remove_dir_all(&tmp);
        return (
            std::fs::read_to_string(&cert_path).expect("cert.pem"),
            std::fs::read_to_string(&key_path).expect("key.pem"),
        );
    }
    (cert, key)
}

/// What the `tsrpc-tls` server serves.
pub(crate) fn server_tls() -> tsrpc::tls::ServerTls {
    let (cert, key) = cert();
    tsrpc::tls::ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).expect("a valid certificate")
}

/// The load generator's client configuration, trusting that certificate.
pub(crate) fn client_config() -> Arc<rustls::ClientConfig> {
    let (cert, _) = cert();
    tsrpc::tls::ClientTls::with_root_pem(cert.as_bytes())
        .expect("a PEM certificate")
        .rustls_config()
}
