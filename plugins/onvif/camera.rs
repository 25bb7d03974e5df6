//! The camera side of ONVIF: reads the requests a client sends to the
//! device, media and PTZ services (SOAP 1.1 or 1.2), and checks their
//! WS-Security UsernameToken as a camera must: the digest, `Created`
//! within a freshness window of the camera's clock, each nonce used once,
//! and a plain-text password only when allowed. `virtualptz` serves it
//! over HTTP; `answers` writes what goes back.

use std::collections::{HashSet, VecDeque};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{
    DEVICE_NS, MEDIA_NS, Node, PTZ_NS, SOAP11_NS, SoapVersion, attribute, parse_utc,
    password_digest, walk,
};

/// A request as the camera received it.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    GetSystemDateAndTime,
    GetCapabilities,
    GetServices,
    GetDeviceInformation,
    GetProfiles,
    GetProfile,
    GetNodes,
    GetNode {
        token: String,
    },
    GetConfigurations,
    GetConfiguration {
        token: String,
    },
    GetConfigurationOptions {
        token: String,
    },
    GetPresets,
    SetPreset {
        name: Option<String>,
        token: Option<String>,
    },
    GotoPreset {
        token: String,
    },
    GotoHomePosition,
    ContinuousMove {
        pan: f64,
        tilt: f64,
        zoom: f64,
    },
    Stop {
        pan_tilt: bool,
        zoom: bool,
    },
    AbsoluteMove {
        pan: Option<f64>,
        tilt: Option<f64>,
        zoom: Option<f64>,
    },
    GetStatus,
}

/// Which of the camera's services an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Device,
    Media,
    Ptz,
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::GetSystemDateAndTime => "GetSystemDateAndTime",
            Operation::GetCapabilities => "GetCapabilities",
            Operation::GetServices => "GetServices",
            Operation::GetDeviceInformation => "GetDeviceInformation",
            Operation::GetProfiles => "GetProfiles",
            Operation::GetProfile => "GetProfile",
            Operation::GetNodes => "GetNodes",
            Operation::GetNode { .. } => "GetNode",
            Operation::GetConfigurations => "GetConfigurations",
            Operation::GetConfiguration { .. } => "GetConfiguration",
            Operation::GetConfigurationOptions { .. } => "GetConfigurationOptions",
            Operation::GetPresets => "GetPresets",
            Operation::SetPreset { .. } => "SetPreset",
            Operation::GotoPreset { .. } => "GotoPreset",
            Operation::GotoHomePosition => "GotoHomePosition",
            Operation::ContinuousMove { .. } => "ContinuousMove",
            Operation::Stop { .. } => "Stop",
            Operation::AbsoluteMove { .. } => "AbsoluteMove",
            Operation::GetStatus => "GetStatus",
        }
    }

    pub fn service(&self) -> Service {
        match self {
            Operation::GetSystemDateAndTime
            | Operation::GetCapabilities
            | Operation::GetServices
            | Operation::GetDeviceInformation => Service::Device,
            Operation::GetProfiles | Operation::GetProfile => Service::Media,
            _ => Service::Ptz,
        }
    }

    /// ONVIF's PRE_AUTH operations: a client may call them before it can
    /// authenticate (it needs the clock and the services to do so).
    pub fn pre_auth(&self) -> bool {
        matches!(
            self,
            Operation::GetSystemDateAndTime | Operation::GetCapabilities | Operation::GetServices
        )
    }
}

/// A WS-Security UsernameToken as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub user: String,
    pub password: String,
    /// `PasswordDigest`; otherwise the password is in plain text.
    pub digest: bool,
    pub nonce: Option<String>,
    pub created: Option<String>,
}

/// One request read from its SOAP envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub version: SoapVersion,
    pub operation: Operation,
    /// The `ProfileToken` of the body (empty when it has none).
    pub profile: String,
    pub token: Option<Token>,
}

/// A request the camera turns down: the fault to answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub version: SoapVersion,
    /// ONVIF subcode, e.g. `ter:NotAuthorized`.
    pub code: &'static str,
    pub reason: String,
}

/// Reads a request to any of the three services.
pub fn parse_request(xml: &str) -> Result<Request, Refusal> {
    let mut version = SoapVersion::V12;
    let mut operation: Option<String> = None;
    let mut fields = Fields::default();
    let mut token: Option<Token> = None;
    let walked = walk(xml, |path, node| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        match (names.as_slice(), node) {
            (["Envelope"], Node::Attributes(a)) => {
                if a.iter().any(|(_, v)| v == SOAP11_NS) {
                    version = SoapVersion::V11;
                }
            }
            ([.., "Body", op], Node::Attributes(_)) => operation = Some(op.to_string()),
            ([.., "UsernameToken"], Node::Attributes(_)) => {
                token = Some(Token {
                    user: String::new(),
                    password: String::new(),
                    digest: false,
                    nonce: None,
                    created: None,
                })
            }
            ([.., "UsernameToken", field], node) => {
                let Some(t) = token.as_mut() else { return };
                match (*field, node) {
                    ("Username", Node::Text(v)) => t.user = v.to_owned(),
                    ("Password", Node::Attributes(a)) => {
                        t.digest = a
                            .iter()
                            .any(|(k, v)| k == "Type" && v.ends_with("#PasswordDigest"))
                    }
                    ("Password", Node::Text(v)) => t.password = v.to_owned(),
                    ("Nonce", Node::Text(v)) => t.nonce = Some(v.trim().to_owned()),
                    ("Created", Node::Text(v)) => t.created = Some(v.trim().to_owned()),
                    _ => {}
                }
            }
            (_, node) => {
                // Below the operation's element.
                if let Some(at) = names.iter().position(|n| *n == "Body")
                    && names.len() > at + 2
                {
                    fields.read(&names[at + 2..], node);
                }
            }
        }
    });
    let refuse = |code, reason| Refusal {
        version,
        code,
        reason,
    };
    if let Err(e) = walked {
        return Err(refuse(
            "ter:WellFormed",
            format!("not well-formed XML: {e}"),
        ));
    }
    let Some(name) = operation else {
        return Err(refuse(
            "ter:WellFormed",
            "no operation in the SOAP body".into(),
        ));
    };
    let f = fields;
    let operation = match name.as_str() {
        "GetSystemDateAndTime" => Operation::GetSystemDateAndTime,
        "GetCapabilities" => Operation::GetCapabilities,
        "GetServices" => Operation::GetServices,
        "GetDeviceInformation" => Operation::GetDeviceInformation,
        "GetProfiles" => Operation::GetProfiles,
        "GetProfile" => Operation::GetProfile,
        "GetNodes" => Operation::GetNodes,
        "GetNode" => Operation::GetNode { token: f.node },
        "GetConfigurations" => Operation::GetConfigurations,
        "GetConfiguration" => Operation::GetConfiguration {
            token: f.configuration,
        },
        "GetConfigurationOptions" => Operation::GetConfigurationOptions {
            token: f.configuration,
        },
        "GetPresets" => Operation::GetPresets,
        "SetPreset" => Operation::SetPreset {
            name: f.preset_name,
            token: f.preset,
        },
        "GotoPreset" => Operation::GotoPreset {
            token: f.preset.unwrap_or_default(),
        },
        "GotoHomePosition" => Operation::GotoHomePosition,
        "ContinuousMove" => Operation::ContinuousMove {
            pan: f.velocity[0].unwrap_or(0.0),
            tilt: f.velocity[1].unwrap_or(0.0),
            zoom: f.velocity[2].unwrap_or(0.0),
        },
        // ONVIF: an absent axis flag means "stop it".
        "Stop" => Operation::Stop {
            pan_tilt: f.stop[0].unwrap_or(true),
            zoom: f.stop[1].unwrap_or(true),
        },
        "AbsoluteMove" => Operation::AbsoluteMove {
            pan: f.position[0],
            tilt: f.position[1],
            zoom: f.position[2],
        },
        "GetStatus" => Operation::GetStatus,
        other => {
            return Err(refuse(
                "ter:ActionNotSupported",
                format!("{other} is not supported"),
            ));
        }
    };
    Ok(Request {
        version,
        operation,
        profile: f.profile,
        token,
    })
}

/// The body fields the operations above read, wherever they appear.
#[derive(Default)]
struct Fields {
    profile: String,
    node: String,
    configuration: String,
    preset: Option<String>,
    preset_name: Option<String>,
    velocity: [Option<f64>; 3],
    position: [Option<f64>; 3],
    stop: [Option<bool>; 2],
}

impl Fields {
    /// `path`: below the operation's element.
    fn read(&mut self, path: &[&str], node: Node<'_>) {
        match (path, node) {
            (["ProfileToken"], Node::Text(t)) => self.profile = t.to_owned(),
            (["NodeToken"], Node::Text(t)) => self.node = t.to_owned(),
            (["PTZConfigurationToken" | "ConfigurationToken"], Node::Text(t)) => {
                self.configuration = t.to_owned()
            }
            (["PresetToken"], Node::Text(t)) => self.preset = Some(t.to_owned()),
            (["PresetName"], Node::Text(t)) => self.preset_name = Some(t.to_owned()),
            (["Velocity", "PanTilt"], Node::Attributes(a)) => {
                self.velocity[0] = attribute(a, "x");
                self.velocity[1] = attribute(a, "y");
            }
            (["Velocity", "Zoom"], Node::Attributes(a)) => self.velocity[2] = attribute(a, "x"),
            (["Position", "PanTilt"], Node::Attributes(a)) => {
                self.position[0] = attribute(a, "x");
                self.position[1] = attribute(a, "y");
            }
            (["Position", "Zoom"], Node::Attributes(a)) => self.position[2] = attribute(a, "x"),
            (["PanTilt"], Node::Text(t)) => self.stop[0] = Some(t.trim() == "true"),
            (["Zoom"], Node::Text(t)) => self.stop[1] = Some(t.trim() == "true"),
            _ => {}
        }
    }
}

/// The namespace a service's operations live in.
pub fn namespace(service: Service) -> &'static str {
    match service {
        Service::Device => DEVICE_NS,
        Service::Media => MEDIA_NS,
        Service::Ptz => PTZ_NS,
    }
}

/// Who sent a request, as the camera judged it.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// No UsernameToken.
    Anonymous,
    /// The token proved the password of `user`.
    Valid { user: String },
    /// The token was there and was refused, and why (for the fault).
    Invalid { user: String, why: String },
}

/// How far `Created` may be from the camera's clock, seconds (WS-Security
/// leaves it to the receiver; five minutes is what cameras use).
pub const FRESHNESS: i64 = 300;
/// Nonces remembered at most: a flood of valid requests cannot grow the
/// cache without bound (at one request per millisecond, about a minute).
const MAX_NONCES: usize = 65_536;

/// The camera's side of WS-Security: its login, whether plain-text
/// passwords are allowed, and the nonces seen within the freshness window.
#[derive(Debug, Default)]
pub struct Guard {
    pub login: Option<(String, String)>,
    pub allow_password_text: bool,
    seen: HashSet<String>,
    /// (when it may be forgotten, nonce), oldest first.
    expiry: VecDeque<(i64, String)>,
}

impl Guard {
    pub fn new(login: Option<(String, String)>, allow_password_text: bool) -> Guard {
        Guard {
            login,
            allow_password_text,
            ..Guard::default()
        }
    }

    /// Judges `token` at the camera's time `now` (seconds since the epoch).
    pub fn check(&mut self, token: Option<&Token>, now: i64) -> Auth {
        let Some(token) = token else {
            return Auth::Anonymous;
        };
        let invalid = |why: &str| Auth::Invalid {
            user: token.user.clone(),
            why: why.to_owned(),
        };
        let Some(password) = self
            .login
            .as_ref()
            .filter(|(user, _)| *user == token.user)
            .map(|(_, p)| p.clone())
        else {
            return invalid("unknown user or wrong password");
        };
        if !token.digest && !self.allow_password_text {
            return invalid("a plain-text password is not accepted: use PasswordDigest");
        }
        let created = match (&token.created, token.digest) {
            (Some(c), _) => match parse_utc(c) {
                Some(t) => Some(t),
                None => return invalid("Created is not a date"),
            },
            (None, true) => return invalid("no Created: the message's age cannot be checked"),
            (None, false) => None,
        };
        if let Some(created) = created
            && (created - now).abs() > FRESHNESS
        {
            return invalid(&format!(
                "Created is {} s from the camera's clock (more than {FRESHNESS} s): \
                 read GetSystemDateAndTime and write Created in the camera's time",
                created - now
            ));
        }
        let proved = if token.digest {
            let nonce = token.nonce.as_deref().unwrap_or_default();
            BASE64.decode(nonce).is_ok_and(|n| {
                password_digest(&n, token.created.as_deref().unwrap_or_default(), &password)
                    == token.password
            })
        } else {
            token.password == password
        };
        if !proved {
            return invalid("unknown user or wrong password");
        }
        if let Some(nonce) = &token.nonce
            && !self.remember(nonce, now)
        {
            return invalid("this nonce was used before (a replayed message)");
        }
        Auth::Valid {
            user: token.user.clone(),
        }
    }

    /// Records a nonce; false when it was seen within the window.
    fn remember(&mut self, nonce: &str, now: i64) -> bool {
        while self
            .expiry
            .front()
            .is_some_and(|(until, _)| *until < now || self.seen.len() >= MAX_NONCES)
        {
            let (_, old) = self.expiry.pop_front().expect("checked");
            self.seen.remove(&old);
        }
        if !self.seen.insert(nonce.to_owned()) {
            return false;
        }
        // A nonce older than the window comes with a stale Created anyway.
        self.expiry
            .push_back((now + 2 * FRESHNESS, nonce.to_owned()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::client::tests::soap_request;
    use super::super::{BASE64_TYPE, WSSE_NS, WSU_NS, unix_now, utc_timestamp};
    use super::*;

    fn guard() -> Guard {
        Guard::new(Some(("op".into(), "s3cret".into())), false)
    }

    #[test]
    fn requests_written_by_the_client_are_read_back() {
        let (body, _) = soap_request(|c| c.continuous_move(0.25, -0.5, 1.0), Some("s3cret"));
        let r = parse_request(&body).unwrap();
        assert_eq!(r.version, SoapVersion::V12);
        assert_eq!(
            r.operation,
            Operation::ContinuousMove {
                pan: 0.25,
                tilt: -0.5,
                zoom: 1.0
            }
        );
        assert_eq!(r.profile, "Profile_1");
        let mut g = guard();
        assert_eq!(
            g.check(r.token.as_ref(), unix_now()),
            Auth::Valid { user: "op".into() }
        );
        // The same envelope again is a replay.
        assert!(matches!(
            g.check(r.token.as_ref(), unix_now()),
            Auth::Invalid { why, .. } if why.contains("replayed")
        ));

        let (body, _) = soap_request(|c| c.stop(), Some("wrong"));
        let r = parse_request(&body).unwrap();
        assert_eq!(
            r.operation,
            Operation::Stop {
                pan_tilt: true,
                zoom: true
            }
        );
        assert!(matches!(
            guard().check(r.token.as_ref(), unix_now()),
            Auth::Invalid { user, .. } if user == "op"
        ));

        let (body, _) = soap_request(|c| c.goto_preset("7&8"), None);
        let r = parse_request(&body).unwrap();
        assert_eq!(
            r.operation,
            Operation::GotoPreset {
                token: "7&8".into()
            }
        );
        assert_eq!(guard().check(r.token.as_ref(), unix_now()), Auth::Anonymous);
    }

    /// A digest made `age` seconds before the camera's clock says.
    fn token(age: i64, password: &str, nonce: &[u8]) -> Token {
        let created = utc_timestamp(unix_now() - age);
        Token {
            user: "op".into(),
            password: password_digest(nonce, &created, password),
            digest: true,
            nonce: Some(BASE64.encode(nonce)),
            created: Some(created),
        }
    }

    #[test]
    fn created_must_be_fresh_by_the_camera_clock() {
        let mut g = guard();
        let now = unix_now();
        assert!(matches!(
            g.check(Some(&token(240, "s3cret", b"a")), now),
            Auth::Valid { .. }
        ));
        assert!(matches!(
            g.check(Some(&token(-240, "s3cret", b"b")), now),
            Auth::Valid { .. }
        ));
        for age in [3600, -86_400, 301] {
            let refused = g.check(
                Some(&token(age, "s3cret", format!("{age}").as_bytes())),
                now,
            );
            assert!(
                matches!(&refused, Auth::Invalid { why, .. } if why.contains("from the camera's clock")),
                "{age}: {refused:?}"
            );
        }
        // A camera whose clock is 10 minutes ahead accepts a Created in its time.
        let ahead = now + 600;
        let mut t = token(0, "s3cret", b"c");
        t.created = Some(utc_timestamp(ahead));
        t.password = password_digest(b"c", t.created.as_deref().unwrap(), "s3cret");
        assert!(matches!(g.check(Some(&t), ahead), Auth::Valid { .. }));
        assert!(matches!(g.check(Some(&t), now), Auth::Invalid { .. }));
    }

    #[test]
    fn plain_text_passwords_only_when_allowed() {
        let plain = Token {
            user: "op".into(),
            password: "s3cret".into(),
            digest: false,
            nonce: None,
            created: None,
        };
        assert!(matches!(
            guard().check(Some(&plain), unix_now()),
            Auth::Invalid { why, .. } if why.contains("plain-text")
        ));
        let mut allowing = Guard::new(Some(("op".into(), "s3cret".into())), true);
        assert!(matches!(
            allowing.check(Some(&plain), unix_now()),
            Auth::Valid { .. }
        ));
        let wrong = Token {
            password: "other".into(),
            ..plain
        };
        assert!(matches!(
            allowing.check(Some(&wrong), unix_now()),
            Auth::Invalid { .. }
        ));
    }

    /// SOAP 1.1, a PasswordText token without Type, entities in the user
    /// name: what other clients send.
    #[test]
    fn soap_11_and_tokens_with_entities_are_read() {
        let xml = format!(
            "<soap:Envelope xmlns:soap=\"{SOAP11_NS}\"><soap:Header>\
             <Security xmlns=\"{WSSE_NS}\"><UsernameToken><Username>op&amp;x</Username>\
             <Password>p&lt;w</Password><Nonce EncodingType=\"{BASE64_TYPE}\">AAEC</Nonce>\
             <Created xmlns=\"{WSU_NS}\">2024-01-01T00:00:00Z</Created></UsernameToken></Security>\
             </soap:Header><soap:Body><GetProfile xmlns=\"{MEDIA_NS}\">\
             <ProfileToken>a&amp;b</ProfileToken></GetProfile></soap:Body></soap:Envelope>"
        );
        let r = parse_request(&xml).unwrap();
        assert_eq!(r.version, SoapVersion::V11);
        assert_eq!(r.operation, Operation::GetProfile);
        assert_eq!(r.profile, "a&b");
        let t = r.token.unwrap();
        assert_eq!(
            (t.user.as_str(), t.password.as_str(), t.digest),
            ("op&x", "p<w", false)
        );
    }

    #[test]
    fn bad_requests_are_faults() {
        assert_eq!(parse_request("<a><b>").unwrap_err().code, "ter:WellFormed");
        let other = format!(
            "<s:Envelope xmlns:s=\"{SOAP11_NS}\"><s:Body><tptz:RelativeMove xmlns:tptz=\"{PTZ_NS}\"/>\
             </s:Body></s:Envelope>"
        );
        let refusal = parse_request(&other).unwrap_err();
        assert_eq!(refusal.code, "ter:ActionNotSupported");
        assert_eq!(refusal.version, SoapVersion::V11);
        assert!(refusal.reason.contains("RelativeMove"));
    }
}
