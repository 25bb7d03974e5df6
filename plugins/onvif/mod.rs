//! ONVIF over SOAP: the client `ptzservo` drives cameras with (discovery
//! from the device service, then PTZ) and the camera side `virtualptz`
//! serves (device, media and PTZ services). Both share the namespaces, the
//! WS-Security UsernameToken digest, the clock format and the XML walk here.

pub mod answers;
pub mod camera;
pub mod client;
pub mod discovery;

pub use client::{Credentials, Error, MoveStatus, Ptz, Status};
pub use discovery::Found;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use quick_xml::events::Event;
use sha1::{Digest, Sha1};

pub(crate) const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
pub(crate) const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub(crate) const DEVICE_NS: &str = "http://www.onvif.org/ver10/device/wsdl";
pub(crate) const MEDIA_NS: &str = "http://www.onvif.org/ver10/media/wsdl";
pub(crate) const PTZ_NS: &str = "http://www.onvif.org/ver20/ptz/wsdl";
pub(crate) const SCHEMA_NS: &str = "http://www.onvif.org/ver10/schema";
pub(crate) const ERROR_NS: &str = "http://www.onvif.org/ver10/error";
pub(crate) const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub(crate) const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub(crate) const DIGEST_TYPE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
pub(crate) const BASE64_TYPE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// The generic spaces every ONVIF PTZ node offers.
pub(crate) const PAN_TILT_VELOCITY_SPACE: &str =
    "http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace";
pub(crate) const ZOOM_VELOCITY_SPACE: &str =
    "http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace";

/// The envelope's version: a camera answers in the version it was asked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    V11,
    V12,
}

impl SoapVersion {
    pub fn namespace(self) -> &'static str {
        match self {
            SoapVersion::V11 => SOAP11_NS,
            SoapVersion::V12 => SOAP12_NS,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            SoapVersion::V11 => "text/xml; charset=utf-8",
            SoapVersion::V12 => "application/soap+xml; charset=utf-8",
        }
    }
}

/// WS-Security's PasswordDigest: base64(sha1(nonce + created + password)).
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(nonce);
    sha.update(created.as_bytes());
    sha.update(password.as_bytes());
    BASE64.encode(sha.finalize())
}

/// Seconds since the epoch, by this machine's clock.
pub(crate) fn unix_now() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.map_or(0, |d| d.as_secs() as i64)
}

/// `2024-02-29T12:34:56Z`: the messages' UTC format, to the second.
pub(crate) fn utc_timestamp(secs: i64) -> String {
    let full = cctv::message::format_utc(secs * 1000);
    format!("{}Z", &full[..19])
}

/// Days since 1970-01-01 of a civil (proleptic Gregorian) date.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of an `xs:dateTime` in UTC (`...Z`, `+00:00`
/// or no zone) or with an offset; fractions of a second are dropped.
pub(crate) fn parse_utc(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let (year, month, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (clock, zone) = match time.find(['Z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, ""),
    };
    let mut t = clock.splitn(3, ':');
    let (hour, minute): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let second: f64 = t.next()?.parse().ok()?;
    let offset = match zone {
        "" | "Z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0.0..61.0).contains(&second);
    valid.then(|| {
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second as i64
            - offset
    })
}

pub(crate) enum Node<'a> {
    /// A start tag's attributes, values unescaped.
    Attributes(&'a [(String, String)]),
    /// An element's whole text, entities and character references
    /// resolved (quick-xml hands it over in pieces split at each `&...;`).
    Text(&'a str),
}

/// Walks `xml`, calling `f` with the path of local element names and the
/// element's attributes (at its start tag) or its text (at its end tag;
/// whitespace-only text between elements is skipped).
pub(crate) fn walk(xml: &str, mut f: impl FnMut(&[String], Node<'_>)) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let at = |reader: &quick_xml::Reader<&[u8]>, e: &dyn std::fmt::Display| {
        format!("{e} at byte {}", reader.buffer_position())
    };
    loop {
        let event = reader.read_event().map_err(|e| at(&reader, &e))?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                text.clear();
                path.push(e.local_name().as_ref().to_owned());
                let mut attrs = Vec::new();
                for a in e.attributes() {
                    let a = a.map_err(|e| at(&reader, &e))?;
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| at(&reader, &e))?;
                    let key = a.key.local_name().as_ref().to_owned();
                    attrs.push((key, value.into_owned()));
                }
                f(&path, Node::Attributes(&attrs));
                if empty {
                    path.pop();
                }
            }
            Event::End(_) => {
                if !text.trim().is_empty() {
                    f(&path, Node::Text(&text));
                }
                text.clear();
                path.pop();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| at(&reader, &e))? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| at(&reader, &format!("unknown entity &{};", &*r)))?
                        .to_owned(),
                };
                text.push_str(&resolved);
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

pub(crate) fn attribute(attrs: &[(String, String)], name: &str) -> Option<f64> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.trim().parse().ok())
}

pub(crate) fn attribute_text<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn timestamps_are_utc_civil_dates_and_read_back() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(utc_timestamp(4_107_542_399), "2100-02-28T23:59:59Z");
        for secs in [0, 951_782_400, 1_709_210_096, 4_107_542_399] {
            assert_eq!(parse_utc(&utc_timestamp(secs)), Some(secs));
        }
        // What other clients write: fractions, numeric zones.
        assert_eq!(parse_utc("2024-02-29T12:34:56.789Z"), Some(1_709_210_096));
        assert_eq!(parse_utc("2024-02-29T12:34:56+00:00"), Some(1_709_210_096));
        assert_eq!(parse_utc("2024-02-29T14:34:56+02:00"), Some(1_709_210_096));
        assert_eq!(parse_utc("2024-02-29T12:04:56-00:30"), Some(1_709_210_096));
        for bad in [
            "",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-02-29T25:00:00Z",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    /// Text and attribute values with entities and character references
    /// come out whole (quick-xml splits text at each reference).
    #[test]
    fn text_with_entities_reads_whole() {
        let xml = "<a><user>op&amp;x</user><pw> a &lt;b&gt; &#x41;&#66; </pw>\
                   <t v=\"&quot;q&apos; &amp; r\"/><c><![CDATA[<raw>]]></c><n>\n  </n></a>";
        let mut seen = Vec::new();
        walk(xml, |path, node| match node {
            Node::Text(t) => seen.push((path.last().unwrap().clone(), t.to_owned())),
            Node::Attributes(a) if !a.is_empty() => {
                seen.push((a[0].0.clone(), a[0].1.clone()));
            }
            Node::Attributes(_) => {}
        })
        .unwrap();
        let expected = [
            ("user", "op&x"),
            ("pw", " a <b> AB "),
            ("v", "\"q' & r"),
            ("c", "<raw>"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(seen, expected);
        assert!(walk("<a>&bogus;</a>", |_, _| {}).is_err());
    }
}
