//! Camera addresses: the credentials are taken out of the URI as soon as it
//! is set, so only the bare address ever reaches a log, a message or an
//! error, and anything printed can be redacted of them.

use std::borrow::Cow;

/// What replaces a credential wherever it would be shown.
pub const REDACTED: &str = "***";

/// Schemes a camera source reads.
pub const SCHEMES: &[&str] = &["rtsp", "rtsps", "rtspt", "rtspu", "http", "https", "file"];

/// A camera URI split into the address and its credentials (its `Debug`
/// shows them as `***`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CameraUri {
    /// The URI without user and password: safe to log.
    pub address: String,
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl CameraUri {
    /// Parses `uri`, refusing what no camera source could open. Errors never
    /// quote the password.
    pub fn parse(uri: &str) -> Result<CameraUri, String> {
        let uri = uri.trim();
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Err("not a URI: expected scheme://host/path".into());
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err("not a URI: bad scheme".into());
        }
        if !SCHEMES.contains(&scheme.as_str()) {
            return Err(format!(
                "unsupported scheme {scheme}:// (supported: {})",
                SCHEMES.join(", ")
            ));
        }
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        if host.is_empty() && scheme != "file" {
            return Err(format!("no host in the {scheme}:// URI"));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("not a URI: spaces or control characters in the host".into());
        }
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)), Some(percent_decode(p))),
                None => (Some(percent_decode(info)), None),
            },
        };
        Ok(CameraUri {
            address: format!("{scheme}://{host}{path}"),
            scheme,
            user: user.filter(|u| !u.is_empty()),
            password: password.filter(|p| !p.is_empty()),
        })
    }

    /// The URI as shown to people: credentials replaced by [`REDACTED`].
    pub fn display(&self) -> String {
        if self.user.is_none() && self.password.is_none() {
            return self.address.clone();
        }
        let (scheme, rest) = self
            .address
            .split_once("://")
            .unwrap_or(("", &self.address));
        let password = if self.password.is_some() {
            format!(":{REDACTED}")
        } else {
            String::new()
        };
        format!("{scheme}://{REDACTED}{password}@{rest}")
    }
}

impl CameraUri {
    /// The host and TCP port the camera listens on, for a cheap check that
    /// it is back; `None` for a file.
    pub fn endpoint(&self) -> Option<(String, u16)> {
        let default = match self.scheme.as_str() {
            "rtsp" | "rtspt" | "rtspu" => 554,
            "rtsps" => 322,
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let rest = self.address.split_once("://")?.1;
        let host_port = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        let (host, port) = match host_port.strip_prefix('[') {
            // [v6 address]:port
            Some(v6) => {
                let (host, after) = v6.split_once(']')?;
                (host, after.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            },
        };
        let port = match port {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        (!host.is_empty()).then(|| (host.to_string(), port))
    }
}

impl std::fmt::Debug for CameraUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// `text` with every non-empty secret in it replaced by [`REDACTED`].
pub fn redact<'a>(text: &'a str, secrets: &[&str]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(secret) {
            out = Cow::Owned(out.replace(secret, REDACTED));
        }
    }
    out
}

/// `%XX` escapes of a URI part decoded.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_the_host_and_port_a_camera_listens_on() {
        let endpoint = |uri: &str| CameraUri::parse(uri).unwrap().endpoint();
        assert_eq!(
            endpoint("rtsp://admin:pw@10.0.0.5/cam/realmonitor?channel=1"),
            Some(("10.0.0.5".into(), 554))
        );
        assert_eq!(
            endpoint("rtsp://127.0.0.1:8554/cam"),
            Some(("127.0.0.1".into(), 8554))
        );
        assert_eq!(
            endpoint("http://[::1]:8080/video.mjpg"),
            Some(("::1".into(), 8080))
        );
        assert_eq!(
            endpoint("rtsps://cam.local"),
            Some(("cam.local".into(), 322))
        );
        assert_eq!(endpoint("file:///tmp/clip.mp4"), None);
        assert_eq!(endpoint("rtsp://host:notaport/x"), None);
    }

    #[test]
    fn credentials_leave_the_address() {
        let u = CameraUri::parse("rtsp://admin:p%40ss:w@10.0.0.5:554/Streaming/101?x=1").unwrap();
        assert_eq!(u.address, "rtsp://10.0.0.5:554/Streaming/101?x=1");
        assert_eq!(u.user.as_deref(), Some("admin"));
        assert_eq!(u.password.as_deref(), Some("p@ss:w"));
        assert_eq!(u.display(), "rtsp://***:***@10.0.0.5:554/Streaming/101?x=1");
        assert!(!u.display().contains("admin"));
    }

    #[test]
    fn plain_and_file_uris_stay_as_they_are() {
        let u = CameraUri::parse("RTSP://cam/live").unwrap();
        assert_eq!(
            (u.address.as_str(), u.user, u.password),
            ("rtsp://cam/live", None, None)
        );
        let f = CameraUri::parse("file:///srv/clip.mp4").unwrap();
        assert_eq!(f.address, "file:///srv/clip.mp4");
        assert_eq!(f.display(), f.address);
    }

    #[test]
    fn bad_uris_are_refused_without_quoting_the_password() {
        for (uri, says) in [
            ("cam.local/live", "not a URI"),
            ("ftp://u:secret@cam/live", "unsupported scheme ftp://"),
            ("rtsp://u:secret@/live", "no host"),
            ("rtsp://u:secret@ca m/live", "spaces"),
        ] {
            let e = CameraUri::parse(uri).unwrap_err();
            assert!(e.contains(says), "{uri}: {e}");
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn redact_hides_every_secret() {
        assert_eq!(
            redact("auth admin:hunter2 failed", &["hunter2", ""]),
            "auth admin:*** failed"
        );
        assert!(matches!(redact("fine", &["x1"]), Cow::Borrowed(_)));
    }
}
