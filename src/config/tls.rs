//! TLS material for HTTPS backends (`tls`): which roots a
//! backend's certificate must chain to, and the client certificate the
//! gateway shows to mTLS backends.
//!
//! The files are read and checked when the config is loaded, so a missing
//! file, a PEM without certificates or a key that does not belong to its
//! certificate is a config error at its key, not a panic or a handshake
//! failure at the first connection. The result is a ready
//! [`ureq::tls::TlsConfig`] that every agent of the backend shares (one
//! `Arc` of roots, so ureq reuses its pooled connections across agents).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// Largest PEM file read (a CA bundle of the whole Mozilla set is ~220 KiB).
pub const MAX_PEM_BYTES: u64 = 4 * 1024 * 1024;

/// Whether this build carries Mozilla's root certificates (cargo feature
/// `bundled-roots`, on by default).
pub const HAS_BUNDLED_ROOTS: bool = cfg!(feature = "bundled-roots");

/// The TLS settings of one backend, files loaded.
#[derive(Clone)]
pub struct Tls {
    /// `ca_file`: extra trusted roots, as configured.
    pub ca_file: Option<PathBuf>,
    /// `bundled_roots`: whether Mozilla's roots are trusted too.
    pub bundled_roots: bool,
    /// `cert_file`: the client certificate chain, as configured.
    pub cert_file: Option<PathBuf>,
    /// What ureq connects with.
    pub client: TlsConfig,
    /// SHA-256 over the settings and the files' bytes: two `Tls` are equal
    /// when nothing that matters differs, so a reload restarts a backend
    /// whose certificates changed on disk under the same names.
    digest: [u8; 32],
}

impl PartialEq for Tls {
    fn eq(&self, other: &Tls) -> bool {
        self.digest == other.digest
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("ca_file", &self.ca_file)
            .field("bundled_roots", &self.bundled_roots)
            .field("cert_file", &self.cert_file)
            .finish_non_exhaustive()
    }
}

impl Default for Tls {
    /// Mozilla's roots, no client certificate (an empty root set in a
    /// build without them: validation refuses `https` URLs then).
    fn default() -> Tls {
        Tls {
            ca_file: None,
            bundled_roots: HAS_BUNDLED_ROOTS,
            cert_file: None,
            client: TlsConfig::builder()
                .root_certs(RootCerts::Specific(bundled().clone()))
                .build(),
            digest: crate::sha256::digest(b"tls:default"),
        }
    }
}

impl Tls {
    /// Whether some root is trusted at all (an `https` backend needs one).
    pub fn has_roots(&self) -> bool {
        self.bundled_roots || self.ca_file.is_some()
    }

    /// What differs from the default, for `check`'s plan: `None` for
    /// the bundled roots alone and no client certificate.
    pub fn summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(ca) = &self.ca_file {
            parts.push(format!("ca_file {}", ca.display()));
            parts.push(
                if self.bundled_roots {
                    "and the bundled roots"
                } else {
                    "only"
                }
                .to_owned(),
            );
        } else if !self.bundled_roots {
            parts.push("no roots".to_owned());
        }
        if let Some(cert) = &self.cert_file {
            parts.push(format!("client certificate {}", cert.display()));
        }
        (!parts.is_empty()).then(|| format!("tls: {}", parts.join(" ")))
    }
}

/// What [`load`] reads: paths as configured (relative to the working
/// directory, like `audit.file`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Files {
    /// `ca_file`.
    pub ca_file: Option<PathBuf>,
    /// `bundled_roots`.
    pub bundled_roots: bool,
    /// `cert_file` and `key_file` (both or neither; validation sees to it).
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Which file a [`LoadError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `ca_file`.
    Ca,
    /// `cert_file`.
    Cert,
    /// `key_file`.
    Key,
}

/// Why TLS files could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file at fault.
    pub which: Which,
    /// What is wrong, naming the file.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

/// Mozilla's roots, parsed once per process and shared by every backend.
fn bundled() -> &'static Arc<Vec<Certificate<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<Certificate<'static>>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        #[cfg(feature = "bundled-roots")]
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()))
            .collect();
        #[cfg(not(feature = "bundled-roots"))]
        let roots = Vec::new();
        Arc::new(roots)
    })
}

/// Reads and checks the files, returning settings ready to connect with.
pub fn load(files: &Files) -> Result<Tls, LoadError> {
    if files.ca_file.is_none() && files.client.is_none() && files.bundled_roots {
        return Ok(Tls::default());
    }
    let mut digest_input = format!(
        "tls:bundled={}:ca={}:client={}\n",
        files.bundled_roots,
        files.ca_file.is_some(),
        files.client.is_some()
    )
    .into_bytes();
    let mut roots: Vec<Certificate<'static>> = Vec::new();
    if files.bundled_roots {
        roots.extend(bundled().iter().cloned());
    }
    if let Some(path) = &files.ca_file {
        let bytes = read(path, Which::Ca)?;
        let certificates = certificates(&bytes, path, Which::Ca)?;
        let mut store = rustls::RootCertStore::empty();
        for (n, certificate) in certificates.iter().enumerate() {
            store
                .add(rustls::pki_types::CertificateDer::from(certificate.der()))
                .map_err(|e| LoadError {
                    which: Which::Ca,
                    message: format!(
                        "certificate {} of \"{}\" cannot be a trusted root: {e}",
                        n + 1,
                        path.display()
                    ),
                })?;
        }
        add_file(&mut digest_input, &bytes);
        roots.extend(certificates);
    }
    let mut builder = TlsConfig::builder().root_certs(RootCerts::Specific(Arc::new(roots)));
    if let Some((cert_path, key_path)) = &files.client {
        let cert_bytes = read(cert_path, Which::Cert)?;
        let chain = certificates(&cert_bytes, cert_path, Which::Cert)?;
        let key_bytes = read(key_path, Which::Key)?;
        let key = private_key(&key_bytes, key_path)?;
        check_pair(&chain, &key_bytes, cert_path, key_path)?;
        add_file(&mut digest_input, &cert_bytes);
        add_file(&mut digest_input, &key_bytes);
        builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(Tls {
        ca_file: files.ca_file.clone(),
        bundled_roots: files.bundled_roots,
        cert_file: files.client.as_ref().map(|(cert, _)| cert.clone()),
        client: builder.build(),
        digest: crate::sha256::digest(&digest_input),
    })
}

/// A file's bytes into the digest's input, its length first (so no two
/// sets of files give the same input).
fn add_file(input: &mut Vec<u8>, bytes: &[u8]) {
    input.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    input.extend_from_slice(bytes);
}

fn read(path: &Path, which: Which) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    let fail = |message: String| LoadError { which, message };
    let file = std::fs::File::open(path)
        .map_err(|e| fail(format!("cannot read \"{}\": {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read \"{}\": {e}", path.display())))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(fail(format!(
            "\"{}\" is larger than {} MiB; a PEM file of certificates is far smaller",
            path.display(),
            MAX_PEM_BYTES >> 20
        )));
    }
    Ok(bytes)
}

/// Every certificate of a PEM file, in order; at least one.
fn certificates(
    bytes: &[u8],
    path: &Path,
    which: Which,
) -> Result<Vec<Certificate<'static>>, LoadError> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(bytes) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(LoadError {
                    which,
                    message: format!("\"{}\" is not valid PEM: {e}", path.display()),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(LoadError {
            which,
            message: format!(
                "\"{}\" holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
                path.display()
            ),
        });
    }
    Ok(out)
}

/// The first private key of a PEM file (PKCS#1, PKCS#8 or SEC1).
fn private_key(bytes: &[u8], path: &Path) -> Result<PrivateKey<'static>, LoadError> {
    let fail = |message: String| LoadError {
        which: Which::Key,
        message,
    };
    for item in ureq::tls::parse_pem(bytes) {
        match item {
            Ok(PemItem::PrivateKey(key)) => return Ok(key),
            Ok(_) => {}
            Err(e) => {
                return Err(fail(format!(
                    "\"{}\" is not valid PEM: {e}",
                    path.display()
                )));
            }
        }
    }
    Err(fail(format!(
        "\"{}\" holds no unencrypted PEM private key (\"-----BEGIN PRIVATE KEY-----\", RSA or EC)",
        path.display()
    )))
}

/// Whether rustls accepts the chain and key as a client identity: it
/// parses the key and checks it belongs to the first certificate. (ureq
/// makes the same call when it first connects, and panics on an error.)
fn check_pair(
    chain: &[Certificate<'static>],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), LoadError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |why: String| LoadError {
        which: Which::Key,
        message: format!(
            "\"{}\" is not the key of the certificate in \"{}\": {why}",
            key_path.display(),
            cert_path.display()
        ),
    };
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| fail(e.to_string()))?;
    let chain = chain
        .iter()
        .map(|c| CertificateDer::from(c.der()).into_owned())
        .collect();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_root_certificates(rustls::RootCertStore::empty())
                .with_client_auth_cert(chain, key)
        })
        .map(drop)
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed root made for these tests (public part only).
    const ROOT: &str = "-----BEGIN CERTIFICATE-----
MIIBlDCCATugAwIBAgIUVIhQk8OtVxFQ8cXiyogqJqDjbT4wCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUYXJndXMgdW5pdC10ZXN0IHJvb3QwIBcNMjYxMjAyMTMyMTQ3
WhgPMjEyNjExMDgxMzIxNDdaMB8xHTAbBgNVBAMMFGFyZ3VzIHVuaXQtdGVzdCBy
b290MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEmiokLXMg/By9GGvhPJ2lJtG
5ESKJBBuPHpjlteos5i1Iu9YFwR6cl9+0n7pCXckLa0k5b3JF5Z3UQRX0FSXxqNT
MFEwHQYDVR0OBBYEFNopCTZXmTtiyJWY//S88DuB3nEeMB8GA1UdIwQYMBaAFNop
CTZXmTtiyJWY//S88DuB3nEeMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
RwAwRAIgRNDVMCBQt6EPsIKuRbMbGRvl5lduEmC7dS+a0w/ZH4MCIAXl3++FEX//
h8fKSP+rIkEkCIZBnpT0n7zcSYX4Cb2P
-----END CERTIFICATE-----
";

    fn file(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("argus-unit-tls-{}-{name}", std::process::id()));
        std::fs::write(&dir, text).unwrap();
        dir
    }

    fn roots(tls: &Tls) -> usize {
        match tls.client.root_certs() {
            RootCerts::Specific(certs) => certs.len(),
            _ => panic!("always specific roots"),
        }
    }

    fn ca(path: &Path, bundled_roots: bool) -> Result<Tls, LoadError> {
        load(&Files {
            ca_file: Some(path.to_owned()),
            bundled_roots,
            client: None,
        })
    }

    #[test]
    fn ca_file_roots_come_instead_of_or_beside_the_bundled_ones() {
        let path = file("root.pem", ROOT);
        let bundled = roots(&Tls::default());
        assert_eq!(bundled > 100, HAS_BUNDLED_ROOTS, "{bundled} bundled roots");
        let instead = ca(&path, false).unwrap();
        assert_eq!(roots(&instead), 1);
        assert!(instead.has_roots());
        let beside = ca(&path, true).unwrap();
        assert_eq!(roots(&beside), bundled + 1);
        // Equal when the same settings name the same bytes; a changed file
        // (a rotated CA) under the same name is a different setting.
        assert_eq!(ca(&path, false).unwrap(), instead);
        assert_ne!(beside, instead);
        assert_ne!(instead, Tls::default());
        let doubled = file("root.pem", &format!("{ROOT}{ROOT}"));
        let rotated = ca(&doubled, false).unwrap();
        assert_eq!(roots(&rotated), 2);
        assert_ne!(rotated, instead);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn unusable_files_say_which_and_why() {
        let missing = std::env::temp_dir().join("argus-unit-tls-surely-missing.pem");
        let e = ca(&missing, true).unwrap_err();
        assert_eq!(e.which, Which::Ca);
        assert!(e.message.starts_with("cannot read \""), "{}", e.message);

        let empty = file("empty.pem", "just text\n");
        let e = ca(&empty, true).unwrap_err();
        assert!(
            e.message.contains("holds no PEM certificate"),
            "{}",
            e.message
        );

        let junk = file(
            "junk.pem",
            "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        );
        let e = ca(&junk, true).unwrap_err();
        assert!(
            e.message.contains("certificate 1 of")
                && e.message.contains("cannot be a trusted root"),
            "{}",
            e.message
        );

        let path = file("pair.pem", ROOT);
        let e = load(&Files {
            ca_file: None,
            bundled_roots: true,
            client: Some((path.clone(), path.clone())),
        })
        .unwrap_err();
        assert_eq!(e.which, Which::Key);
        assert!(
            e.message.contains("holds no unencrypted PEM private key"),
            "{}",
            e.message
        );
        for p in [empty, junk, path] {
            let _ = std::fs::remove_file(p);
        }
    }
}
