//! TLS for the relay: always on, TLS 1.3 only (QUIC), rustls with the ring
//! provider, ALPN [`ALPN`].
//!
//! Two ways to trust an ingest:
//! - a cluster CA: [`server_config`] from a cert+key PEM (with a client-CA
//!   PEM for mutual TLS) and [`ClientTls::new`] trusting the CA PEM (with a
//!   client cert+key PEM when the ingest asks for one);
//! - zero configuration: the ingest generates a self-signed certificate at
//!   start ([`SelfSigned::generate`]), publishes its DER/PEM in its node info,
//!   and edges pin exactly that certificate ([`crate::Upstream::pinned_cert`]).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The ALPN protocol of relay version 1.
pub const ALPN: &[u8] = b"tributary-relay/1";

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM input held nothing usable.
    #[error("{what}: {reason}")]
    Pem {
        /// Which input.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
    /// Certificate generation failed.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The client has nothing to trust an ingest with.
    #[error("no CA configured and the upstream has no pinned certificate")]
    NoTrustAnchor,
    /// quinn refused the rustls configuration.
    #[error("tls configuration unusable for QUIC: {0}")]
    Quic(String),
}

/// The ring crypto provider, the one the workspace uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(what: &'static str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

fn key(what: &'static str, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Pem {
        what,
        reason: e.to_string(),
    })
}

fn roots(what: &'static str, pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certs(what, pem)? {
        roots.add(c)?;
    }
    Ok(roots)
}

/// The ingest's TLS configuration: its certificate chain and key (PEM), and
/// when `client_ca_pem` is set, mutual TLS: only clients with a certificate
/// issued by that CA get in.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<rustls::ServerConfig, TlsError> {
    let chain = certs("server certificate", cert_pem)?;
    let key = key("server key", key_pem)?;
    server_config_der(chain, key, client_ca_pem)
}

fn server_config_der(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca_pem: Option<&[u8]>,
) -> Result<rustls::ServerConfig, TlsError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match client_ca_pem {
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots("client CA", ca)?),
                provider(),
            )
            .build()
            .map_err(|e| TlsError::Pem {
                what: "client CA",
                reason: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// A certificate generated at start, for clusters without a CA: the ingest
/// serves it and publishes [`SelfSigned::cert_der`] (or the PEM) in its node
/// info; edges pin it.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
}

impl SelfSigned {
    /// A new key pair and certificate for `names` (DNS names or IP
    /// addresses; the pinning client does not check them).
    pub fn generate(names: &[String]) -> Result<Self, TlsError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = rcgen::CertificateParams::new(names.to_vec())?.self_signed(&key)?;
        Ok(Self {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The server configuration serving this certificate, with optional
    /// mutual TLS as in [`server_config`].
    pub fn server_config(&self, client_ca_pem: Option<&[u8]>) -> Result<rustls::ServerConfig, TlsError> {
        server_config(self.cert_pem.as_bytes(), self.key_pem.as_bytes(), client_ca_pem)
    }
}

/// The edge's TLS settings: the CA it trusts (none: pinned upstreams only)
/// and its own certificate for ingests that require mutual TLS.
#[derive(Clone)]
pub struct ClientTls {
    roots: Option<Arc<RootCertStore>>,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    ca: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca", &self.roots.is_some())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl ClientTls {
    /// Trusts the CA certificates in `ca_pem` (if any) and presents the
    /// client certificate chain + key `identity` (PEM) when asked.
    pub fn new(ca_pem: Option<&[u8]>, identity: Option<(&[u8], &[u8])>) -> Result<Self, TlsError> {
        let roots = ca_pem.map(|p| roots("CA", p)).transpose()?.map(Arc::new);
        let identity = identity
            .map(|(c, k)| {
                Ok::<_, TlsError>((certs("client certificate", c)?, Arc::new(key("client key", k)?)))
            })
            .transpose()?;
        let mut tls = Self {
            roots,
            identity,
            ca: None,
        };
        if let Some(r) = &tls.roots {
            let b = rustls::ClientConfig::builder_with_provider(provider())
                .with_protocol_versions(&[&rustls::version::TLS13])?
                .with_root_certificates(r.clone());
            tls.ca = Some(Arc::new(tls.finish(b)?));
        }
        Ok(tls)
    }

    /// Only pinned upstreams, no client certificate.
    pub fn pinned_only() -> Self {
        Self {
            roots: None,
            identity: None,
            ca: None,
        }
    }

    fn finish(
        &self,
        b: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>,
    ) -> Result<rustls::ClientConfig, TlsError> {
        let mut config = match &self.identity {
            Some((chain, key)) => b.with_client_auth_cert(chain.clone(), key.clone_key())?,
            None => b.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(config)
    }

    /// The configuration for one upstream: pinning `pinned` when given,
    /// else trusting the CA.
    pub fn config_for(
        &self,
        pinned: Option<&CertificateDer<'static>>,
    ) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        match pinned {
            Some(cert) => {
                let b = rustls::ClientConfig::builder_with_provider(provider())
                    .with_protocol_versions(&[&rustls::version::TLS13])?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Pinned {
                        cert: cert.clone(),
                        provider: provider(),
                    }));
                Ok(Arc::new(self.finish(b)?))
            }
            None => self.ca.clone().ok_or(TlsError::NoTrustAnchor),
        }
    }
}

/// Accepts exactly one certificate (byte for byte), whatever the name;
/// handshake signatures are still verified with its key.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the ingest's certificate is not the pinned one".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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

/// The quinn server configuration for a rustls one.
pub(crate) fn quic_server(config: rustls::ServerConfig) -> Result<quinn::ServerConfig, TlsError> {
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(config)
        .map_err(|e| TlsError::Quic(e.to_string()))?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(quic)))
}

/// The quinn client configuration for a rustls one.
pub(crate) fn quic_client(config: Arc<rustls::ClientConfig>) -> Result<quinn::ClientConfig, TlsError> {
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(config)
        .map_err(|e| TlsError::Quic(e.to_string()))?;
    Ok(quinn::ClientConfig::new(Arc::new(quic)))
}
