//! The camera side of ONVIF PTZ: reads the requests a client sends,
//! checks their UsernameToken digest, and writes the answers and faults.
//! `virtualptz` serves it over HTTP; it is enough for `ptzservo` and for
//! ONVIF tools that only move a camera.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use quick_xml::escape::escape;

use super::{MoveStatus, Status};
use super::{Node, PTZ_NS, SCHEMA_NS, SOAP_NS, attribute, password_digest, utc_timestamp, walk};

/// A PTZ operation as the camera received it.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    ContinuousMove { pan: f64, tilt: f64, zoom: f64 },
    Stop { pan_tilt: bool, zoom: bool },
    GetStatus,
    GotoHomePosition,
    GotoPreset { token: String },
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::ContinuousMove { .. } => "ContinuousMove",
            Operation::Stop { .. } => "Stop",
            Operation::GetStatus => "GetStatus",
            Operation::GotoHomePosition => "GotoHomePosition",
            Operation::GotoPreset { .. } => "GotoPreset",
        }
    }
}

/// What the request said about who sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// No UsernameToken.
    Anonymous,
    /// The digest matched the password of `user`.
    Valid { user: String },
    /// The token was there and did not match (unknown user, bad digest).
    Invalid { user: String },
}

/// One request read from its SOAP envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub operation: Operation,
    pub profile: String,
    pub auth: Auth,
}

/// Reads a PTZ request; `password_of(user)` gives the password to check the
/// digest against (`None`: unknown user). Errors are faults to send back
/// (see [`fault`]): `(code, reason)`.
pub fn parse_request(
    xml: &str,
    password_of: impl Fn(&str) -> Option<String>,
) -> Result<Request, (&'static str, String)> {
    let mut operation = None;
    let (mut profile, mut user, mut digest, mut nonce, mut created) = Default::default();
    let (mut pan, mut tilt, mut zoom) = (0.0, 0.0, 0.0);
    let (mut stop_pan_tilt, mut stop_zoom) = (None::<bool>, None::<bool>);
    let mut preset = String::new();
    walk(xml, |path, node| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        match (names.as_slice(), node) {
            ([.., "Body", op], Node::Attributes(_)) => operation = Some(op.to_string()),
            ([.., "Body", _, "ProfileToken"], Node::Text(t)) => profile = t.to_owned(),
            ([.., "Body", _, "PresetToken"], Node::Text(t)) => preset = t.to_owned(),
            ([.., "Velocity", "PanTilt"], Node::Attributes(a)) => {
                pan = attribute(a, "x").unwrap_or(0.0);
                tilt = attribute(a, "y").unwrap_or(0.0);
            }
            ([.., "Velocity", "Zoom"], Node::Attributes(a)) => {
                zoom = attribute(a, "x").unwrap_or(0.0)
            }
            ([.., "Stop", "PanTilt"], Node::Text(t)) => stop_pan_tilt = Some(t.trim() == "true"),
            ([.., "Stop", "Zoom"], Node::Text(t)) => stop_zoom = Some(t.trim() == "true"),
            ([.., "UsernameToken", "Username"], Node::Text(t)) => user = Some(t.to_owned()),
            ([.., "UsernameToken", "Password"], Node::Text(t)) => digest = t.to_owned(),
            ([.., "UsernameToken", "Nonce"], Node::Text(t)) => nonce = t.to_owned(),
            ([.., "UsernameToken", "Created"], Node::Text(t)) => created = t.to_owned(),
            _ => {}
        }
    })
    .map_err(|e| ("ter:WellFormed", format!("not well-formed XML: {e}")))?;
    let operation = match operation.as_deref() {
        Some("ContinuousMove") => Operation::ContinuousMove { pan, tilt, zoom },
        // ONVIF: an absent axis flag means "stop it".
        Some("Stop") => Operation::Stop {
            pan_tilt: stop_pan_tilt.unwrap_or(true),
            zoom: stop_zoom.unwrap_or(true),
        },
        Some("GetStatus") => Operation::GetStatus,
        Some("GotoHomePosition") => Operation::GotoHomePosition,
        Some("GotoPreset") => Operation::GotoPreset { token: preset },
        Some(other) => {
            return Err((
                "ter:ActionNotSupported",
                format!("{other} is not supported"),
            ));
        }
        None => return Err(("ter:WellFormed", "no operation in the SOAP body".into())),
    };
    let auth = match user {
        None => Auth::Anonymous,
        Some(user) => {
            let matches = password_of(&user).is_some_and(|password| {
                BASE64
                    .decode(nonce.trim())
                    .is_ok_and(|n| password_digest(&n, &created, &password) == digest)
            });
            if matches {
                Auth::Valid { user }
            } else {
                Auth::Invalid { user }
            }
        }
    };
    Ok(Request {
        operation,
        profile,
        auth,
    })
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"{SOAP_NS}\" xmlns:tptz=\"{PTZ_NS}\" xmlns:tt=\"{SCHEMA_NS}\" \
         xmlns:ter=\"http://www.onvif.org/ver10/error\"><s:Body>{body}</s:Body></s:Envelope>"
    )
}

/// The answer to a request that succeeded; `status` for GetStatus.
pub fn response(operation: &Operation, status: &Status) -> String {
    if *operation != Operation::GetStatus {
        return envelope(&format!("<tptz:{}Response/>", operation.name()));
    }
    let word = |m: Option<MoveStatus>| match m {
        Some(MoveStatus::Moving) => "MOVING",
        Some(MoveStatus::Idle) => "IDLE",
        _ => "UNKNOWN",
    };
    envelope(&format!(
        "<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>\
         <tt:PanTilt x=\"{:.6}\" y=\"{:.6}\" \
         space=\"http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace\"/>\
         <tt:Zoom x=\"{:.6}\" space=\"http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace\"/>\
         </tt:Position><tt:MoveStatus><tt:PanTilt>{}</tt:PanTilt><tt:Zoom>{}</tt:Zoom></tt:MoveStatus>\
         <tt:UtcTime>{}</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>",
        status.pan.unwrap_or(0.0),
        status.tilt.unwrap_or(0.0),
        status.zoom.unwrap_or(0.0),
        word(status.pan_tilt_status),
        word(status.zoom_status),
        utc_timestamp(std::time::SystemTime::now()),
    ))
}

/// A SOAP fault: a sender fault with ONVIF subcode `code` (e.g.
/// `ter:NotAuthorized`).
pub fn fault(code: &str, reason: &str) -> String {
    envelope(&format!(
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>{}</s:Value>\
         </s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">{}</s:Text></s:Reason></s:Fault>",
        escape(code),
        escape(reason)
    ))
}

#[cfg(test)]
mod tests {
    use super::super::client::tests::soap_request;
    use super::*;

    fn password(user: &str) -> Option<String> {
        (user == "op").then(|| "s3cret".to_string())
    }

    #[test]
    fn requests_written_by_the_client_are_read_back() {
        let (body, _) = soap_request(|c| c.continuous_move(0.25, -0.5, 1.0), Some("s3cret"));
        let r = parse_request(&body, password).unwrap();
        assert_eq!(
            r.operation,
            Operation::ContinuousMove {
                pan: 0.25,
                tilt: -0.5,
                zoom: 1.0
            }
        );
        assert_eq!(r.profile, "Profile_1");
        assert_eq!(r.auth, Auth::Valid { user: "op".into() });

        let (body, _) = soap_request(|c| c.stop(), Some("wrong"));
        let r = parse_request(&body, password).unwrap();
        assert_eq!(
            r.operation,
            Operation::Stop {
                pan_tilt: true,
                zoom: true
            }
        );
        assert_eq!(r.auth, Auth::Invalid { user: "op".into() });

        let (body, _) = soap_request(|c| c.goto_preset("7"), None);
        let r = parse_request(&body, password).unwrap();
        assert_eq!(r.operation, Operation::GotoPreset { token: "7".into() });
        assert_eq!(r.auth, Auth::Anonymous);
    }

    #[test]
    fn bad_requests_are_faults() {
        assert_eq!(
            parse_request("<a><b>", password).unwrap_err().0,
            "ter:WellFormed"
        );
        let other = format!(
            "<s:Envelope xmlns:s=\"{SOAP_NS}\"><s:Body><tptz:AbsoluteMove/></s:Body></s:Envelope>"
        );
        let (code, reason) = parse_request(&other, password).unwrap_err();
        assert_eq!(code, "ter:ActionNotSupported");
        assert!(reason.contains("AbsoluteMove"));
    }

    #[test]
    fn status_answers_read_back_with_the_client_parser() {
        let status = Status {
            pan: Some(0.5),
            tilt: Some(-0.25),
            zoom: Some(0.125),
            pan_tilt_status: Some(MoveStatus::Moving),
            zoom_status: Some(MoveStatus::Idle),
        };
        let xml = response(&Operation::GetStatus, &status);
        assert_eq!(super::super::client::parse_status(&xml).unwrap(), status);
        let f = fault("ter:NotAuthorized", "who are you");
        assert_eq!(
            super::super::client::parse_fault(&f),
            Some(super::super::Error::Fault {
                code: "ter:NotAuthorized".into(),
                reason: "who are you".into()
            })
        );
    }
}
