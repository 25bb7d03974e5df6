//! A small synchronous ONVIF PTZ client (SOAP 1.2 over HTTP): the few
//! calls a servo needs, with WS-Security UsernameToken digest
//! authentication. Blocking: call it from a worker thread, never from the
//! streaming thread.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use quick_xml::escape::escape;

use super::{
    BASE64_TYPE, DIGEST_TYPE, Node, PTZ_NS, SCHEMA_NS, SOAP_NS, WSSE_NS, WSU_NS, attribute,
    password_digest, utc_timestamp, walk,
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
    /// The camera answered with a SOAP fault.
    Fault { code: String, reason: String },
    /// An HTTP error status without a SOAP fault.
    Http { status: u16, body: String },
    /// The answer was not the XML expected.
    Parse(String),
}

impl Error {
    /// The camera refused the credentials.
    pub fn is_unauthorized(&self) -> bool {
        match self {
            Error::Fault { code, .. } => code.contains("NotAuthorized"),
            Error::Http { status, .. } => *status == 401,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transport(e) => write!(f, "camera unreachable: {e}"),
            Error::Fault { code, reason } => write!(f, "camera refused ({code}): {reason}"),
            Error::Http { status, body } => write!(f, "HTTP {status}: {body}"),
            Error::Parse(e) => write!(f, "unexpected answer: {e}"),
        }
    }
}

impl std::error::Error for Error {}

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

pub struct Client {
    agent: ureq::Agent,
    url: String,
    profile: String,
    credentials: Option<Credentials>,
}

impl Client {
    /// A client for the PTZ service at `url` (e.g.
    /// `http://camera/onvif/ptz_service`) driving media profile `profile`.
    pub fn new(
        url: &str,
        profile: &str,
        credentials: Option<Credentials>,
        timeout: Duration,
    ) -> Client {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            url: url.to_owned(),
            profile: profile.to_owned(),
            credentials,
        }
    }

    /// Velocities in the generic space, each in [-1, 1].
    pub fn continuous_move(&self, pan: f64, tilt: f64, zoom: f64) -> Result<(), Error> {
        let body = format!(
            "<tptz:ContinuousMove>{}<tptz:Velocity>\
             <tt:PanTilt x=\"{pan:.4}\" y=\"{tilt:.4}\"/><tt:Zoom x=\"{zoom:.4}\"/>\
             </tptz:Velocity></tptz:ContinuousMove>",
            self.profile_token()
        );
        self.call("ContinuousMove", &body).map(drop)
    }

    pub fn stop(&self) -> Result<(), Error> {
        let body = format!(
            "<tptz:Stop>{}<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom></tptz:Stop>",
            self.profile_token()
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
        let envelope = envelope(body, self.credentials.as_ref().map(security_header));
        let content_type =
            format!("application/soap+xml; charset=utf-8; action=\"{PTZ_NS}/{action}\"");
        let mut response = self
            .agent
            .post(&self.url)
            .header("Content-Type", &content_type)
            .send(envelope.as_str())
            .map_err(|e| Error::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| Error::Transport(e.to_string()))?;
        if let Some(fault) = parse_fault(&text) {
            return Err(fault);
        }
        if !(200..300).contains(&status) {
            let body = text.chars().take(200).collect();
            return Err(Error::Http { status, body });
        }
        Ok(text)
    }
}

fn envelope(body: &str, header: Option<String>) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"{SOAP_NS}\" \
         xmlns:tptz=\"{PTZ_NS}\" xmlns:tt=\"{SCHEMA_NS}\">\
         <s:Header>{}</s:Header><s:Body>{body}</s:Body></s:Envelope>",
        header.unwrap_or_default()
    )
}

fn security_header(credentials: &Credentials) -> String {
    let mut nonce = [0u8; 16];
    if getrandom::fill(&mut nonce).is_err() {
        // Unique enough for a replay window: the clock's nanoseconds.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        nonce = nanos.to_le_bytes();
    }
    let created = utc_timestamp(SystemTime::now());
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

/// The SOAP 1.2 fault in `xml`, if it is one: the most specific code
/// (the innermost subcode) and the reason.
pub(super) fn parse_fault(xml: &str) -> Option<Error> {
    let (mut fault, mut code, mut reason) = (false, String::new(), String::new());
    walk(xml, |path, node| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        if names.contains(&"Fault") {
            fault = true;
            match (names.last(), node) {
                (Some(&"Value"), Node::Text(t)) => code = t.to_owned(),
                (Some(&"Text"), Node::Text(t)) if names.contains(&"Reason") => {
                    reason = t.to_owned()
                }
                _ => {}
            }
        }
    })
    .ok()?;
    fault.then_some(Error::Fault { code, reason })
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
    /// each request with the next of `answers`; sends back the request
    /// headers and bodies it got.
    fn camera(answers: Vec<(u16, String)>) -> (String, mpsc::Receiver<(String, String)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/onvif/ptz", listener.local_addr().unwrap());
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

    /// The body `op` sends, as user `op` with `password` (or anonymous).
    pub fn soap_request(
        op: impl FnOnce(&Client) -> Result<(), Error>,
        password: Option<&str>,
    ) -> (String, String) {
        let (url, requests) = camera(vec![(200, soap("<tptz:Response/>"))]);
        let credentials = password.map(|p| Credentials {
            username: "op".into(),
            password: p.into(),
        });
        let client = Client::new(&url, "Profile_1", credentials, Duration::from_secs(5));
        op(&client).unwrap();
        let (headers, body) = requests.recv().unwrap();
        (body, headers)
    }

    fn soap(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" \
             xmlns:tptz=\"{PTZ_NS}\" xmlns:tt=\"{SCHEMA_NS}\"><env:Body>{body}</env:Body></env:Envelope>"
        )
    }

    /// The text between `<prefix:name ...>` and `</prefix:name>`.
    fn element<'a>(xml: &'a str, name: &str) -> &'a str {
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
        let client = Client::new(&url, "Profile_1", Some(credentials), Duration::from_secs(5));
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

    #[test]
    fn status_positions_and_move_status_are_read() {
        let status = soap(
            "<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>\
             <tt:PanTilt space=\"x\" x=\"0.125\" y=\"-0.75\"/><tt:Zoom x=\"0.5\"/></tt:Position>\
             <tt:MoveStatus><tt:PanTilt>MOVING</tt:PanTilt><tt:Zoom>IDLE</tt:Zoom></tt:MoveStatus>\
             <tt:UtcTime>2024-01-01T00:00:00Z</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>",
        );
        let (url, requests) = camera(vec![(200, status)]);
        let client = Client::new(&url, "p", None, Duration::from_secs(5));
        let got = client.status().unwrap();
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
        assert!(body.contains("<tptz:GetStatus><tptz:ProfileToken>p</tptz:ProfileToken>"));
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
        let (url, _requests) = camera(vec![
            (400, fault),
            (503, "busy".into()),
            (200, soap("<tptz:GetStatusResponse/>")),
        ]);
        let client = Client::new(&url, "p", None, Duration::from_secs(5));
        let err = client.stop().unwrap_err();
        assert_eq!(
            err,
            Error::Fault {
                code: "ter:NotAuthorized".into(),
                reason: "Sender not Authorized".into()
            }
        );
        assert!(err.is_unauthorized());
        assert!(matches!(
            client.stop(),
            Err(Error::Http { status: 503, .. })
        ));
        assert!(matches!(client.status(), Err(Error::Parse(_))));

        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/onvif/ptz", closed.local_addr().unwrap());
        drop(closed);
        let client = Client::new(&url, "p", None, Duration::from_secs(2));
        assert!(matches!(client.stop(), Err(Error::Transport(_))));
    }
}
