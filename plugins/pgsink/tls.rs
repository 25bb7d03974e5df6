//! TLS for `pgsink`, with libpq's conninfo keys: `sslmode` (`disable`,
//! `allow`/`prefer`, `require`, `verify-ca`, `verify-full`), `sslrootcert`,
//! `sslcert` and `sslkey` (PEM; the key in PKCS#8). As in libpq, `prefer` and
//! `require` encrypt without checking the certificate unless `sslrootcert`
//! is given; `verify-ca` checks it against the root certificate (or the
//! system's), `verify-full` checks the host name too. The postgres crate
//! does not know these keys beyond `sslmode`, so they are taken out of the
//! conninfo here.

use std::str::FromStr;

use postgres::config::SslMode;
use postgres::{Client, NoTls};
use postgres_native_tls::MakeTlsConnector;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// Encryption only.
    None,
    /// The certificate chain, not the host name.
    Ca,
    /// The chain and the host name.
    Full,
}

pub struct Tls {
    /// `None` with `sslmode=disable`.
    connector: Option<MakeTlsConnector>,
}

impl Tls {
    /// Parses `conninfo` (keyword/value form or a `postgresql://` URL):
    /// the connection settings and the TLS set-up. Errors never echo the
    /// conninfo (it may hold a password).
    pub fn parse(conninfo: &str) -> Result<(postgres::Config, Tls), String> {
        let (rest, ssl) = split_ssl_keys(conninfo)?;
        let mut mode = SslMode::Prefer;
        let mut verify = Verify::None;
        match ssl.get("sslmode").map(String::as_str) {
            None | Some("prefer") | Some("allow") => {}
            Some("disable") => mode = SslMode::Disable,
            Some("require") => mode = SslMode::Require,
            Some("verify-ca") => (mode, verify) = (SslMode::Require, Verify::Ca),
            Some("verify-full") => (mode, verify) = (SslMode::Require, Verify::Full),
            Some(other) => {
                return Err(format!(
                    "unknown sslmode \"{other}\" (disable, allow, prefer, require, verify-ca, verify-full)"
                ));
            }
        }
        let root = ssl.get("sslrootcert");
        if root.is_some() && verify == Verify::None {
            // libpq: a root certificate makes `require` verify the chain.
            verify = Verify::Ca;
        }
        let mut pg = postgres::Config::from_str(&rest).map_err(|e| e.to_string())?;
        pg.ssl_mode(mode);
        let connector = if mode == SslMode::Disable {
            None
        } else {
            let read = |key: &str, path: &String| {
                std::fs::read(path).map_err(|e| format!("cannot read {key} {path}: {e}"))
            };
            let mut builder = native_tls::TlsConnector::builder();
            match verify {
                Verify::None => {
                    builder.danger_accept_invalid_certs(true);
                    builder.danger_accept_invalid_hostnames(true);
                }
                Verify::Ca => {
                    builder.danger_accept_invalid_hostnames(true);
                }
                Verify::Full => {}
            }
            if let Some(path) = root {
                let cert = native_tls::Certificate::from_pem(&read("sslrootcert", path)?)
                    .map_err(|e| format!("invalid sslrootcert {path}: {e}"))?;
                builder.add_root_certificate(cert);
                builder.disable_built_in_roots(true);
            }
            match (ssl.get("sslcert"), ssl.get("sslkey")) {
                (Some(cert), Some(key)) => {
                    let identity = native_tls::Identity::from_pkcs8(
                        &read("sslcert", cert)?,
                        &read("sslkey", key)?,
                    )
                    .map_err(|e| format!("invalid sslcert/sslkey (PEM, key in PKCS#8): {e}"))?;
                    builder.identity(identity);
                }
                (None, None) => {}
                _ => return Err("sslcert and sslkey must be given together".into()),
            }
            let connector = builder
                .build()
                .map_err(|e| format!("cannot set up TLS: {e}"))?;
            Some(MakeTlsConnector::new(connector))
        };
        Ok((pg, Tls { connector }))
    }

    pub fn connect(&self, pg: &postgres::Config) -> Result<Client, postgres::Error> {
        match &self.connector {
            Some(c) => pg.connect(c.clone()),
            None => pg.connect(NoTls),
        }
    }
}

const SSL_KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// Takes the TLS keys out of a conninfo; returns the rest and the keys.
fn split_ssl_keys(
    conninfo: &str,
) -> Result<(String, std::collections::HashMap<&'static str, String>), String> {
    let mut ssl = std::collections::HashMap::new();
    let take = |key: &str, value: String, ssl: &mut std::collections::HashMap<_, _>| match SSL_KEYS
        .iter()
        .find(|k| **k == key)
    {
        Some(k) => {
            ssl.insert(*k, value);
            true
        }
        None => false,
    };
    if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        let Some((base, query)) = conninfo.split_once('?') else {
            return Ok((conninfo.to_string(), ssl));
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                !take(k, v.to_string(), &mut ssl)
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, ssl));
    }
    // keyword = value, values optionally single-quoted with \ escapes.
    let mut rest = String::new();
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("conninfo: missing = after {key}"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut raw = String::new();
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            raw.push('\'');
            loop {
                match chars.next() {
                    None => return Err(format!("conninfo: unterminated quote in {key}")),
                    Some('\'') => break,
                    Some('\\') => {
                        let c = chars
                            .next()
                            .ok_or_else(|| format!("conninfo: unterminated quote in {key}"))?;
                        raw.push('\\');
                        raw.push(c);
                        value.push(c);
                    }
                    Some(c) => {
                        raw.push(c);
                        value.push(c);
                    }
                }
            }
            raw.push('\'');
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                raw.push(c);
                value.push(c);
            }
        }
        if !take(&key, value, &mut ssl) {
            rest.push_str(&format!("{key}={raw} "));
        }
    }
    Ok((rest.trim_end().to_string(), ssl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_keys_are_taken_out_of_both_conninfo_forms() {
        let (rest, ssl) = split_ssl_keys(
            "host=h sslmode = verify-full password='a b\\'c' sslrootcert='/x y/ca.pem' user=u",
        )
        .unwrap();
        assert_eq!(rest, "host=h password='a b\\'c' user=u");
        assert_eq!(ssl["sslmode"], "verify-full");
        assert_eq!(ssl["sslrootcert"], "/x y/ca.pem");
        let (rest, ssl) =
            split_ssl_keys("postgresql://u@h:5/db?sslmode=require&connect_timeout=3").unwrap();
        assert_eq!(rest, "postgresql://u@h:5/db?connect_timeout=3");
        assert_eq!(ssl["sslmode"], "require");
        assert!(split_ssl_keys("host='open").is_err());
    }

    #[test]
    fn modes_and_errors() {
        let (pg, tls) = Tls::parse("host=h user=u").unwrap();
        assert_eq!(pg.get_ssl_mode(), SslMode::Prefer);
        assert!(tls.connector.is_some());
        let (pg, tls) = Tls::parse("host=h user=u sslmode=disable").unwrap();
        assert_eq!(pg.get_ssl_mode(), SslMode::Disable);
        assert!(tls.connector.is_none());
        for (conninfo, says) in [
            ("host=h sslmode=sometimes", "unknown sslmode"),
            (
                "host=h sslmode=verify-ca sslrootcert=/nonexistent.pem",
                "cannot read sslrootcert",
            ),
            ("host=h sslmode=require sslcert=/c.pem", "together"),
        ] {
            let err = Tls::parse(conninfo).err().unwrap();
            assert!(err.contains(says), "{conninfo}: {err}");
        }
    }
}
