//! How URLs become driver options: the parameters passed to the drivers, TLS modes, and
//! the refusals of what cannot be honoured.

#[cfg(any(feature = "postgresql", feature = "mysql"))]
use crate::url::DatabaseUrl;

#[cfg(any(feature = "postgresql", feature = "mysql"))]
fn url(raw: &str) -> DatabaseUrl {
    DatabaseUrl::parse(raw).unwrap()
}

#[cfg(feature = "postgresql")]
mod postgresql {
    use super::url;
    use crate::backend::postgres::{conninfo, session};

    #[test]
    fn a_refused_certificate_gets_a_hint_naming_the_root_certificate_or_the_way_out() {
        use crate::backend::tls::hint;
        use rustls::{CertificateError, Error};
        let root = std::path::Path::new("/etc/ca.pem");
        let wrong_ca = hint(&Error::InvalidCertificate(CertificateError::UnknownIssuer), Some(root)).unwrap();
        assert!(wrong_ca.contains("sslrootcert /etc/ca.pem") && wrong_ca.contains("CA certificate"), "{wrong_ca}");
        let name = hint(&Error::InvalidCertificate(CertificateError::NotValidForName), Some(root)).unwrap();
        assert!(name.contains("sslmode=verify-ca"), "{name}");
        assert_eq!(hint(&Error::InvalidCertificate(CertificateError::Expired), Some(root)), None);
        assert_eq!(hint(&Error::DecryptError, None), None);
    }

    #[test]
    fn conninfo_quotes_values_and_leaves_tls_to_strata() {
        let info = conninfo(&url(
            "postgresql://ks:it%27s%5Cme@db.example.org:5433/keystone?sslmode=require&sslrootcert=/ca.pem&application_name=x&foo=bar",
        ));
        assert!(info.contains(r"password='it\'s\\me'"), "{info}");
        assert!(info.contains("host='db.example.org'") && info.contains("port='5433'"), "{info}");
        assert!(info.contains("application_name='x'") && info.contains("connect_timeout='10'"), "{info}");
        assert!(!info.contains("ssl") && !info.contains("foo"), "{info}");
        // tokio-postgres reads it back as libpq would.
        let config: tokio_postgres::Config = info.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"it's\\me"[..]));
        assert_eq!(config.get_ports(), [5433]);
    }

    #[test]
    fn no_host_means_the_local_socket_directory() {
        if std::env::var_os("PGHOST").is_some() {
            return;
        }
        let info = conninfo(&url("postgresql://ks@/keystone"));
        assert!(info.contains("host='/var/run/postgresql'"), "{info}");
        let explicit = conninfo(&url("postgresql://ks@/keystone?host=/tmp"));
        assert!(explicit.contains("host='/tmp'") && !explicit.contains("/var/run"), "{explicit}");
    }

    #[test]
    fn sslmode_decides_whether_tls_is_set_up() {
        let tls_of = |raw: &str| session(&url(raw)).map(|session| session.tls.is_some());
        assert!(!tls_of("postgresql://u@h/db?sslmode=disable").unwrap());
        assert!(tls_of("postgresql://u@h/db?sslmode=require").unwrap());
        let error = tls_of("postgresql://u@h/db?sslmode=sometimes").unwrap_err().to_string();
        assert!(error.contains("sslmode 'sometimes' is not one of"), "{error}");
        let error = tls_of("postgresql://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/root.crt")
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot read sslrootcert /nonexistent/root.crt"), "{error}");
        let error = tls_of("postgresql://u@h/db?sslmode=require&sslcert=/c.pem").unwrap_err().to_string();
        assert!(error.contains("sslcert and sslkey go together"), "{error}");
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::url;
    use crate::backend::mysql::{client_options, ssl_options};

    #[test]
    fn localhost_is_the_socket_and_other_hosts_tcp() {
        let local = client_options(&url("mysql://root@localhost/keystone")).unwrap();
        assert!(local.socket().is_some());
        let remote = client_options(&url("mysql://ks:pw@db.example.org:3307/keystone?charset=utf8")).unwrap();
        assert_eq!((remote.ip_or_hostname(), remote.tcp_port(), remote.socket()), ("db.example.org", 3307, None));
        assert_eq!((remote.user(), remote.pass(), remote.db_name()), (Some("ks"), Some("pw"), Some("keystone")));
        assert!(!remote.prefer_socket(), "a TCP address is never swapped for the server's socket");
        let socket = client_options(&url("mysql://root@localhost/keystone?unix_socket=/tmp/my.sock")).unwrap();
        assert_eq!(socket.socket(), Some("/tmp/my.sock"));
    }

    #[test]
    fn ssl_mode_decides_what_is_checked() {
        let opts = |raw: &str| ssl_options(&url(raw));
        assert!(opts("mysql://u@h/db?ssl_mode=DISABLED").unwrap().is_none());
        // PREFERRED encrypts unchecked, as REQUIRED does; it only differs in falling back to
        // no TLS when the server offers none.
        let preferred = opts("mysql://u@h/db?ssl_mode=preferred").unwrap().unwrap();
        assert!(preferred.accept_invalid_certs() && preferred.skip_domain_validation());
        let default = opts("mysql://u@h/db").unwrap().unwrap();
        assert!(default.accept_invalid_certs() && default.skip_domain_validation());
        let required = opts("mysql://u@h/db?ssl_mode=required").unwrap().unwrap();
        assert!(required.accept_invalid_certs() && required.skip_domain_validation());
        let ca = opts("mysql://u@h/db?ssl_ca=/ca.pem").unwrap().unwrap();
        assert!(!ca.accept_invalid_certs() && ca.skip_domain_validation() && ca.disable_built_in_roots());
        assert_eq!(ca.root_certs().len(), 1);
        let identity = opts("mysql://u@h/db?ssl_mode=VERIFY_IDENTITY&ssl_cert=/c.pem&ssl_key=/k.pem").unwrap().unwrap();
        assert!(!identity.accept_invalid_certs() && !identity.skip_domain_validation());
        assert!(identity.client_identity().is_some());
        assert!(opts("mysql://u@h/db?ssl_mode=SOMETIMES").unwrap_err().contains("is not one of DISABLED"));
        assert!(opts("mysql://u@h/db?ssl_key=/k.pem").unwrap_err().contains("go together"));
    }
}
