//! ONVIF PTZ over SOAP 1.2: the client `ptzservo` drives cameras with and
//! the camera side `virtualptz` serves. Both share the namespaces, the
//! WS-Security UsernameToken digest and the XML walk here.

pub mod camera;
pub mod client;

pub use client::{Client, Credentials, Error, MoveStatus, Status};

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use quick_xml::events::Event;
use sha1::{Digest, Sha1};

pub(crate) const SOAP_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
pub(crate) const PTZ_NS: &str = "http://www.onvif.org/ver20/ptz/wsdl";
pub(crate) const SCHEMA_NS: &str = "http://www.onvif.org/ver10/schema";
pub(crate) const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub(crate) const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub(crate) const DIGEST_TYPE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
pub(crate) const BASE64_TYPE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// WS-Security's PasswordDigest: base64(sha1(nonce + created + password)).
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(nonce);
    sha.update(created.as_bytes());
    sha.update(password.as_bytes());
    BASE64.encode(sha.finalize())
}

/// `2024-02-29T12:34:56Z`: the messages' UTC format, to the second.
pub(crate) fn utc_timestamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let full = cctv::message::format_utc(secs as i64 * 1000);
    format!("{}Z", &full[..19])
}

/// Walks `xml`, calling `f` with the path of local element names, the
/// element's attributes (for start tags) or its text.
pub(crate) fn walk(xml: &str, mut f: impl FnMut(&[String], Node<'_>)) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("{e} at byte {}", reader.buffer_position()))?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                path.push(e.local_name().as_ref().to_owned());
                let attrs: Vec<(String, String)> = e
                    .attributes()
                    .flatten()
                    .map(|a| (a.key.local_name().as_ref().to_owned(), a.value.to_string()))
                    .collect();
                f(&path, Node::Attributes(&attrs));
                if empty {
                    path.pop();
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => f(&path, Node::Text(&t.xml10_content())),
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

pub(crate) enum Node<'a> {
    Attributes(&'a [(String, String)]),
    Text(&'a str),
}

pub(crate) fn attribute(attrs: &[(String, String)], name: &str) -> Option<f64> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn digest_matches_an_independent_computation() {
        // Python: base64(sha1(bytes(range(16)) + created + password)).
        let nonce: Vec<u8> = (0..16).collect();
        assert_eq!(
            password_digest(&nonce, "2024-02-29T12:34:56Z", "s3cret"),
            "m1SIDH7ChtgTW5bfJJCQOfkJBiU="
        );
    }

    #[test]
    fn timestamps_are_utc_civil_dates() {
        let at = |secs| utc_timestamp(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }
}
