//! TLS for PostgreSQL connections (rustls, no system library), as libpq's `sslmode`,
//! `sslrootcert`, `sslcert` and `sslkey` describe it:
//!
//! - `disable`: no TLS;
//! - `allow`, `prefer` (libpq's default): TLS if the server offers it, certificate not checked;
//! - `require`: TLS or fail, certificate not checked, unless a root certificate is given
//!   (then checked as `verify-ca`, as libpq does);
//! - `verify-ca`: the chain must lead to the root certificate; `verify-full`: and name the host.
//!
//! The root certificate is `sslrootcert`, else libpq's `~/.postgresql/root.crt`.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How a PostgreSQL connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it.
    Prefer,
    /// TLS, certificate unchecked (or checked as `VerifyCa` with a root certificate).
    Require,
    /// TLS, certificate chain checked.
    VerifyCa,
    /// TLS, certificate chain and host name checked.
    VerifyFull,
}

impl SslMode {
    /// libpq's name of a mode.
    pub(crate) fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// The files a TLS connection may use.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsFiles {
    /// `sslrootcert`.
    pub root_cert: Option<PathBuf>,
    /// `sslcert`.
    pub client_cert: Option<PathBuf>,
    /// `sslkey`.
    pub client_key: Option<PathBuf>,
    /// Whether `sslpassword` was given: encrypted keys are not supported, so it only
    /// explains why such a key is refused.
    pub key_password_given: bool,
}

/// The rustls client configuration for a mode, or `None` for [`SslMode::Disable`].
pub(crate) fn client_config(mode: SslMode, files: &TlsFiles) -> Result<Option<ClientConfig>, String> {
    if mode == SslMode::Disable {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("cannot set up TLS: {error}"))?;
    let root_cert = root_cert(files);
    let check = match (mode, &root_cert) {
        (SslMode::VerifyFull, _) => Check::Full,
        (SslMode::VerifyCa, _) | (SslMode::Require, Some(_)) => Check::Chain,
        _ => Check::Nothing,
    };
    let builder = match check {
        Check::Nothing => builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider))),
        Check::Chain | Check::Full => {
            let Some(path) = &root_cert else {
                return Err(format!(
                    "sslmode={} needs a root certificate: give sslrootcert=FILE (libpq's default ~/.postgresql/root.crt does not exist)",
                    if mode == SslMode::VerifyFull { "verify-full" } else { "verify-ca" }
                ));
            };
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|error| format!("cannot read sslrootcert {}: {error}", path.display()))?
            {
                let cert = cert.map_err(|error| format!("cannot read sslrootcert {}: {error}", path.display()))?;
                roots.add(cert).map_err(|error| format!("sslrootcert {}: {error}", path.display()))?;
            }
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|error| format!("sslrootcert {}: {error}", path.display()))?;
            if check == Check::Full {
                builder.with_webpki_verifier(verifier)
            } else {
                builder.dangerous().with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
            }
        }
    };
    let config = match (&files.client_cert, &files.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|error| format!("cannot read sslcert {}: {error}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|error| {
                let hint = if files.key_password_given {
                    " (encrypted keys are not supported: give sslkey an unencrypted key)"
                } else {
                    ""
                };
                format!("cannot read sslkey {}: {error}{hint}", key.display())
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|error| format!("sslcert/sslkey: {error}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("sslcert and sslkey go together: give both or neither".to_owned()),
    };
    Ok(Some(config))
}

/// The root certificate a connection checks the server's against: `sslrootcert`, else
/// libpq's default `~/.postgresql/root.crt` if it exists.
pub(crate) fn root_cert(files: &TlsFiles) -> Option<PathBuf> {
    files.root_cert.clone().or_else(|| {
        let default = PathBuf::from(std::env::var_os("HOME")?).join(".postgresql/root.crt");
        default.exists().then_some(default)
    })
}

/// What to do about a refused server certificate, when rustls's words do not say it.
pub(crate) fn hint(error: &rustls::Error, root_cert: Option<&std::path::Path>) -> Option<String> {
    use rustls::CertificateError;
    let rustls::Error::InvalidCertificate(error) = error else { return None };
    let root = root_cert.map_or_else(|| "sslrootcert".to_owned(), |path| format!("sslrootcert {}", path.display()));
    match error {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => Some(format!(
            "the server's certificate was not issued by a certificate in {root}: give the CA certificate that issued it"
        )),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => Some(
            "connect by a host name the certificate names, or use sslmode=verify-ca to check the certificate chain only"
                .to_owned(),
        ),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    Full,
}

/// `prefer`/`require` without a root certificate: encryption without authentication, as
/// libpq does.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain is checked, the host name is not.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
