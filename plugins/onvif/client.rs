//! A small synchronous ONVIF client (SOAP 1.2 over HTTP) with WS-Security
//! UsernameToken digest authentication whose `Created` follows the
//! camera's clock: [`Soap`] carries the calls, [`Ptz`] the few a servo
//! needs once `discovery` found the service, profile and velocity limits.
//! Blocking: call it from a worker thread, never from the streaming thread.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use quick_xml::escape::escape;

use super::{
    BASE64_TYPE, DEVICE_NS, DIGEST_TYPE, MEDIA_NS, Node, PTZ_NS, SCHEMA_NS, SOAP12_NS, WSSE_NS,
    WSU_NS, attribute, password_digest, unix_now, utc_timestamp, walk,
};

/// User name and password; `Debug` never shows the password.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The camera could not be reached or the exchange broke off.
    Transport(String),
    /// The camera answered with a SOAP fault (1.1 or 1.2), with this HTTP status.
    Fault {
        status: u16,
        code: String,
        reason: String,
    },
    /// An HTTP error status without a SOAP fault.
    Http { status: u16, body: String },
    /// The answer was not the XML expected.
    Parse(String),
}

impl Error {
    /// The camera refused the credentials: an ONVIF NotAuthorized fault, or
    /// HTTP 401 whatever the fault says (cameras differ in the subcode).
    pub fn is_unauthorized(&self) -> bool {
        match self {
            Error::Fault { status, code, .. } => *status == 401 || code.contains("NotAuthorized"),
            Error::Http { status, .. } => *status == 401,
            _ => false,
        }
    }

    /// Retrying may help: the camera is away or busy, not refusing.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport(_) => true,
            Error::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The camera does not know the operation (or the service).
    pub fn is_not_supported(&self) -> bool {
        match self {
            Error::Fault { code, .. } => {
                code.contains("ActionNotSupported") || code.contains("NotSupported")
            }
            Error::Http { status, .. } => *status == 404 || *status == 405,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transport(e) => write!(f, "camera unreachable: {e}"),
            Error::Fault {
                status,
                code,
                reason,
            } => write!(f, "camera refused ({code}, HTTP {status}): {reason}"),
            Error::Http { status, body } => write!(f, "HTTP {status}: {body}"),
            Error::Parse(e) => write!(f, "unexpected answer: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Carries SOAP 1.2 calls to any of a camera's services.
#[derive(Clone)]
pub struct Soap {
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    /// The camera's clock minus ours, seconds: every `Created` is written
    /// in the camera's time, as its freshness check wants.
    clock_offset: i64,
}

impl Soap {
    pub fn new(credentials: Option<Credentials>, timeout: Duration) -> Soap {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build();
        Soap {
            agent: ureq::Agent::new_with_config(config),
            credentials,
            clock_offset: 0,
        }
    }

    pub fn set_clock_offset(&mut self, seconds: i64) {
        self.clock_offset = seconds;
    }

    pub fn clock_offset(&self) -> i64 {
        self.clock_offset
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// Calls `action` of the service with namespace `ns` at `url`; with
    /// `authenticate` false no UsernameToken is sent (for the calls ONVIF
    /// allows before authentication, such as the clock). The answer's XML.
    pub fn call(
        &self,
        url: &str,
        ns: &str,
        action: &str,
        body: &str,
        authenticate: bool,
    ) -> Result<String, Error> {
        let header = match &self.credentials {
            Some(c) if authenticate => security_header(c, unix_now() + self.clock_offset),
            _ => String::new(),
        };
        let envelope = envelope(body, &header);
        let content_type = format!("application/soap+xml; charset=utf-8; action=\"{ns}/{action}\"");
        let mut response = self
            .agent
            .post(url)
            .header("Content-Type", &content_type)
            .send(envelope.as_str())
            .map_err(|e| Error::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| Error::Transport(e.to_string()))?;
        if let Some((code, reason)) = parse_fault(&text) {
            return Err(Error::Fault {
                status,
                code,
                reason,
            });
        }
        if !(200..300).contains(&status) {
            let body = text.chars().take(200).collect();
            return Err(Error::Http { status, body });
        }
        Ok(text)
    }
}

/// The velocity ranges a camera's PTZ node accepts in the generic spaces
/// (`None`: the axis cannot move continuously, e.g. no zoom lens).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VelocityLimits {
    pub pan: Option<(f64, f64)>,
    pub tilt: Option<(f64, f64)>,
    pub zoom: Option<(f64, f64)>,
}

impl Default for VelocityLimits {
    /// The generic space's full range on every axis.
    fn default() -> Self {
        VelocityLimits {
            pan: Some((-1.0, 1.0)),
            tilt: Some((-1.0, 1.0)),
            zoom: Some((-1.0, 1.0)),
        }
    }
}

/// What an axis group is doing, as the camera reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveStatus {
    Idle,
    Moving,
    Unknown,
}

impl MoveStatus {
    fn parse(text: &str) -> MoveStatus {
        match text.trim() {
            "IDLE" => MoveStatus::Idle,
            "MOVING" => MoveStatus::Moving,
            _ => MoveStatus::Unknown,
        }
    }
}

/// A GetStatus answer; positions are in the camera's generic spaces.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub pan: Option<f64>,
    pub tilt: Option<f64>,
    pub zoom: Option<f64>,
    pub pan_tilt_status: Option<MoveStatus>,
    pub zoom_status: Option<MoveStatus>,
}

/// The PTZ service of one camera, driving one media profile.
pub struct Ptz {
    soap: Soap,
    url: String,
    profile: String,
    limits: VelocityLimits,
}

impl Ptz {
    /// The PTZ service at `url` (e.g. `http://camera/onvif/ptz_service`)
    /// driving media profile `profile` within `limits`.
    pub fn new(soap: Soap, url: &str, profile: &str, limits: VelocityLimits) -> Ptz {
        Ptz {
            soap,
            url: url.to_owned(),
            profile: profile.to_owned(),
            limits,
        }
    }

    pub fn soap(&self) -> &Soap {
        &self.soap
    }

    pub fn soap_mut(&mut self) -> &mut Soap {
        &mut self.soap
    }

    /// Velocities in the generic space, each in [-1, 1], clamped to the
    /// node's ranges; axes it cannot move are left out.
    pub fn continuous_move(&self, pan: f64, tilt: f64, zoom: f64) -> Result<(), Error> {
        let clamp = |v: f64, range: (f64, f64)| v.clamp(range.0, range.1);
        let pan_tilt = match (self.limits.pan, self.limits.tilt) {
            (Some(p), Some(t)) => format!(
                "<tt:PanTilt x=\"{:.4}\" y=\"{:.4}\"/>",
                clamp(pan, p),
                clamp(tilt, t)
            ),
            _ => String::new(),
        };
        let zoom = self
            .limits
            .zoom
            .map(|z| format!("<tt:Zoom x=\"{:.4}\"/>", clamp(zoom, z)))
            .unwrap_or_default();
        let body = format!(
            "<tptz:ContinuousMove>{}<tptz:Velocity>{pan_tilt}{zoom}</tptz:Velocity>\
             </tptz:ContinuousMove>",
            self.profile_token()
        );
        self.call("ContinuousMove", &body).map(drop)
    }

    pub fn stop(&self) -> Result<(), Error> {
        let flag = |axis: Option<(f64, f64)>| axis.is_some();
        let body = format!(
            "<tptz:Stop>{}<tptz:PanTilt>{}</tptz:PanTilt><tptz:Zoom>{}</tptz:Zoom></tptz:Stop>",
            self.profile_token(),
            flag(self.limits.pan),
            flag(self.limits.zoom)
        );
        self.call("Stop", &body).map(drop)
    }

    pub fn goto_preset(&self, preset: &str) -> Result<(), Error> {
        let body = format!(
            "<tptz:GotoPreset>{}<tptz:PresetToken>{}</tptz:PresetToken></tptz:GotoPreset>",
            self.profile_token(),
            escape(preset)
        );
        self.call("GotoPreset", &body).map(drop)
    }

    pub fn goto_home(&self) -> Result<(), Error> {
        let body = format!(
            "<tptz:GotoHomePosition>{}</tptz:GotoHomePosition>",
            self.profile_token()
        );
        self.call("GotoHomePosition", &body).map(drop)
    }

    pub fn status(&self) -> Result<Status, Error> {
        let body = format!("<tptz:GetStatus>{}</tptz:GetStatus>", self.profile_token());
        parse_status(&self.call("GetStatus", &body)?)
    }

    fn profile_token(&self) -> String {
        format!(
            "<tptz:ProfileToken>{}</tptz:ProfileToken>",
            escape(self.profile.as_str())
        )
    }

    fn call(&self, action: &str, body: &str) -> Result<String, Error> {
        self.soap.call(&self.url, PTZ_NS, action, body, true)
    }
}

fn envelope(body: &str, header: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"{SOAP12_NS}\" xmlns:tds=\"{DEVICE_NS}\" xmlns:trt=\"{MEDIA_NS}\" \
         xmlns:tptz=\"{PTZ_NS}\" xmlns:tt=\"{SCHEMA_NS}\">\
         <s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )
}

/// A UsernameToken with a fresh nonce, `Created` at `now` (the camera's time).
fn security_header(credentials: &Credentials, now: i64) -> String {
    let mut nonce = [0u8; 16];
    if getrandom::fill(&mut nonce).is_err() {
        // Unique enough for a replay cache: the clock's nanoseconds.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        nonce = nanos.to_le_bytes();
    }
    let created = utc_timestamp(now);
    format!(
        "<wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"{WSSE_NS}\" xmlns:wsu=\"{WSU_NS}\">\
         <wsse:UsernameToken><wsse:Username>{}</wsse:Username>\
         <wsse:Password Type=\"{DIGEST_TYPE}\">{}</wsse:Password>\
         <wsse:Nonce EncodingType=\"{BASE64_TYPE}\">{}</wsse:Nonce>\
         <wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>",
        escape(credentials.username.as_str()),
        password_digest(&nonce, &created, &credentials.password),
        BASE64.encode(nonce)
    )
}

pub(super) fn parse_status(xml: &str) -> Result<Status, Error> {
    let mut status = Status {
        pan: None,
        tilt: None,
        zoom: None,
        pan_tilt_status: None,
        zoom_status: None,
    };
    let mut found = false;
    walk(xml, |path, node| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        match (names.as_slice(), node) {
            ([.., "PTZStatus"], _) => found = true,
            ([.., "Position", "PanTilt"], Node::Attributes(a)) => {
                status.pan = attribute(a, "x");
                status.tilt = attribute(a, "y");
            }
            ([.., "Position", "Zoom"], Node::Attributes(a)) => status.zoom = attribute(a, "x"),
            ([.., "MoveStatus", "PanTilt"], Node::Text(t)) => {
                status.pan_tilt_status = Some(MoveStatus::parse(t))
            }
            ([.., "MoveStatus", "Zoom"], Node::Text(t)) => {
                status.zoom_status = Some(MoveStatus::parse(t))
            }
            _ => {}
        }
    })
    .map_err(Error::Parse)?;
    if !found {
        return Err(Error::Parse("no PTZStatus in the GetStatus answer".into()));
    }
    Ok(status)
}

/// The fault in `xml`, if it is one: its most specific code (SOAP 1.2:
/// the innermost subcode; SOAP 1.1: `faultcode`) and its reason.
pub(super) fn parse_fault(xml: &str) -> Option<(String, String)> {
    let (mut fault, mut code, mut reason) = (false, String::new(), String::new());
    walk(xml, |path, node| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        let Some(at) = names.iter().position(|n| *n == "Fault") else {
            return;
        };
        fault = true;
        let Node::Text(t) = node else { return };
        match &names[at + 1..] {
            ["Code", .., "Value"] | ["faultcode"] => code = t.trim().to_owned(),
            ["Reason", "Text"] | ["faultstring"] => reason = t.to_owned(),
            _ => {}
        }
    })
    .ok()?;
    fault.then_some((code, reason))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use sha1::{Digest, Sha1};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = Credentials {
            username: "admin".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    /// A one-request-per-connection HTTP server on 127.0.0.1 answering
    /// each request with the next of `answers` (where `http://cam` stands
    /// for its own address); sends back the request headers and bodies it got.
    pub fn camera(answers: Vec<(u16, String)>) -> (String, mpsc::Receiver<(String, String)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let own = format!("http://{}", listener.local_addr().unwrap());
        let url = format!("{own}/onvif/ptz");
        let answers: Vec<(u16, String)> = answers
            .into_iter()
            .map(|(status, a)| (status, a.replace("http://cam", &own)))
            .collect();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for (status, answer) in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let (mut headers, mut length) = (String::new(), 0);
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    headers.push_str(&line);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                tx.send((headers, String::from_utf8(body).unwrap()))
                    .unwrap();
                let mut stream = reader.into_inner();
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/soap+xml\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                )
                .unwrap();
            }
        });
        (url, rx)
    }

    fn ptz(url: &str, credentials: Option<Credentials>, limits: VelocityLimits) -> Ptz {
        let soap = Soap::new(credentials, Duration::from_secs(5));
        Ptz::new(soap, url, "Profile_1", limits)
    }

    /// The body `op` sends, as user `op` with `password` (or anonymous).
    pub fn soap_request(
        op: impl FnOnce(&Ptz) -> Result<(), Error>,
        password: Option<&str>,
    ) -> (String, String) {
        let (url, requests) = camera(vec![(200, soap("<tptz:Response/>"))]);
        let credentials = password.map(|p| Credentials {
            username: "op".into(),
            password: p.into(),
        });
        op(&ptz(&url, credentials, VelocityLimits::default())).unwrap();
        let (headers, body) = requests.recv().unwrap();
        (body, headers)
    }

    pub fn soap(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" \
             xmlns:tds=\"{DEVICE_NS}\" xmlns:trt=\"{MEDIA_NS}\" xmlns:tptz=\"{PTZ_NS}\" \
             xmlns:tt=\"{SCHEMA_NS}\"><env:Body>{body}</env:Body></env:Envelope>"
        )
    }

    /// The text between `<prefix:name ...>` and `</prefix:name>`.
    pub fn element<'a>(xml: &'a str, name: &str) -> &'a str {
        let start = xml.find(name).unwrap();
        let open_end = start + xml[start..].find('>').unwrap() + 1;
        let close = open_end + xml[open_end..].find(&format!("</{name}")).unwrap();
        &xml[open_end..close]
    }

    #[test]
    fn commands_carry_profile_velocities_and_a_valid_digest() {
        let ok = (200, soap("<tptz:ContinuousMoveResponse/>"));
        let (url, requests) = camera(vec![ok.clone(); 4]);
        let credentials = Credentials {
            username: "op<erator>".into(),
            password: "pa&ss".into(),
        };
        let client = ptz(&url, Some(credentials), VelocityLimits::default());
        client.continuous_move(0.25, -0.5, 1.0).unwrap();
        client.stop().unwrap();
        client.goto_preset("3").unwrap();
        client.goto_home().unwrap();

        let (headers, body) = requests.recv().unwrap();
        assert!(
            headers.contains(&format!("action=\"{PTZ_NS}/ContinuousMove\"")),
            "{headers}"
        );
        assert!(body.contains("<tptz:ProfileToken>Profile_1</tptz:ProfileToken>"));
        assert!(
            body.contains("<tt:PanTilt x=\"0.2500\" y=\"-0.5000\"/>"),
            "{body}"
        );
        assert!(body.contains("<tt:Zoom x=\"1.0000\"/>"));
        assert!(body.contains("<wsse:Username>op&lt;erator&gt;</wsse:Username>"));
        assert!(!body.contains("pa&ss") && !body.contains("pa&amp;ss"));
        // Recompute the digest from what was sent.
        let nonce = BASE64.decode(element(&body, "wsse:Nonce")).unwrap();
        let created = element(&body, "wsu:Created");
        let mut sha = Sha1::new();
        sha.update(&nonce);
        sha.update(created.as_bytes());
        sha.update(b"pa&ss");
        assert_eq!(
            element(&body, "wsse:Password"),
            BASE64.encode(sha.finalize())
        );
        assert_eq!(nonce.len(), 16);

        let (headers, body) = requests.recv().unwrap();
        assert!(headers.contains("/Stop\""));
        assert!(body.contains("<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom>"));
        let (_, body) = requests.recv().unwrap();
        assert!(body.contains("<tptz:PresetToken>3</tptz:PresetToken>"));
        let (headers, body) = requests.recv().unwrap();
        assert!(headers.contains("/GotoHomePosition\""));
        assert!(body.contains("<tptz:GotoHomePosition><tptz:ProfileToken>Profile_1"));
    }

    /// A camera whose node moves pan and tilt at half the generic range and
    /// has no zoom: velocities are clamped, zoom is never sent.
    #[test]
    fn commands_respect_the_node_limits_and_the_camera_clock() {
        let ok = (200, soap("<tptz:ContinuousMoveResponse/>"));
        let (url, requests) = camera(vec![ok.clone(); 2]);
        let limits = VelocityLimits {
            pan: Some((-0.5, 0.5)),
            tilt: Some((-0.25, 0.5)),
            zoom: None,
        };
        let credentials = Credentials {
            username: "op".into(),
            password: "pw".into(),
        };
        let mut client = ptz(&url, Some(credentials), limits);
        client.soap_mut().set_clock_offset(-600);
        client.continuous_move(0.9, -0.9, 1.0).unwrap();
        client.stop().unwrap();
        let (_, body) = requests.recv().unwrap();
        assert!(
            body.contains("<tt:PanTilt x=\"0.5000\" y=\"-0.2500\"/>"),
            "{body}"
        );
        assert!(!body.contains("Zoom"), "{body}");
        let created = super::super::parse_utc(element(&body, "wsu:Created")).unwrap();
        assert!((created - (unix_now() - 600)).abs() <= 2, "{created}");
        let (_, body) = requests.recv().unwrap();
        assert!(body.contains("<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>false</tptz:Zoom>"));
    }

    #[test]
    fn status_positions_and_move_status_are_read() {
        let status = soap(
            "<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>\
             <tt:PanTilt space=\"x\" x=\"0.125\" y=\"-0.75\"/><tt:Zoom x=\"0.5\"/></tt:Position>\
             <tt:MoveStatus><tt:PanTilt>MOVING</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom></tt:MoveStatus>\
             <tt:UtcTime>2024-01-01T00:00:00Z</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>",
        );
        let (url, requests) = camera(vec![(200, status)]);
        let got = ptz(&url, None, VelocityLimits::default()).status().unwrap();
        assert_eq!(
            got,
            Status {
                pan: Some(0.125),
                tilt: Some(-0.75),
                zoom: Some(0.5),
                pan_tilt_status: Some(MoveStatus::Moving),
                zoom_status: Some(MoveStatus::Idle),
            }
        );
        let (_, body) = requests.recv().unwrap();
        assert!(body.contains("<tptz:GetStatus><tptz:ProfileToken>Profile_1</tptz:ProfileToken>"));
        assert!(!body.contains("Security"), "no credentials, no header");
    }

    #[test]
    fn faults_http_errors_and_unreachable_cameras_are_clear_errors() {
        let fault = soap(
            "<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode>\
             <env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>\
             <env:Reason><env:Text xml:lang=\"en\">Sender not Authorized</env:Text></env:Reason>\
             </env:Fault>",
        );
        // A 401 with a fault that names no NotAuthorized subcode, in SOAP 1.1.
        let fault_401 = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\
             <s:Body><s:Fault><faultcode>s:Client</faultcode>\
             <faultstring>Digest &amp; nonce refused</faultstring></s:Fault></s:Body></s:Envelope>";
        let (url, _requests) = camera(vec![
            (400, fault),
            (401, fault_401.into()),
            (503, "busy".into()),
            (200, soap("<tptz:GetStatusResponse/>")),
        ]);
        let client = ptz(&url, None, VelocityLimits::default());
        let err = client.stop().unwrap_err();
        assert_eq!(
            err,
            Error::Fault {
                status: 400,
                code: "ter:NotAuthorized".into(),
                reason: "Sender not Authorized".into()
            }
        );
        assert!(err.is_unauthorized() && !err.is_transient());
        let err = client.stop().unwrap_err();
        assert_eq!(
            err,
            Error::Fault {
                status: 401,
                code: "s:Client".into(),
                reason: "Digest & nonce refused".into()
            }
        );
        assert!(err.is_unauthorized());
        let err = client.stop().unwrap_err();
        assert!(matches!(err, Error::Http { status: 503, .. }) && err.is_transient());
        assert!(matches!(client.status(), Err(Error::Parse(_))));

        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/onvif/ptz", closed.local_addr().unwrap());
        drop(closed);
        let soap = Soap::new(None, Duration::from_secs(2));
        let client = Ptz::new(soap, &url, "p", VelocityLimits::default());
        let err = client.stop().unwrap_err();
        assert!(matches!(err, Error::Transport(_)) && err.is_transient());
    }
}
