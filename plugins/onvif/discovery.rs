//! What a client must learn before it can move a camera it knows only by
//! address and login: the camera's clock (every digest is checked against
//! it), where its media and PTZ services are, which media profile has a
//! PTZ configuration, and the velocity ranges its PTZ node accepts. Each
//! step is named in the error when it fails.

use std::fmt;

use quick_xml::escape::escape;

use super::client::{Credentials, Error, Ptz, Soap, VelocityLimits};
use super::{
    DEVICE_NS, MEDIA_NS, Node, PAN_TILT_VELOCITY_SPACE, PTZ_NS, ZOOM_VELOCITY_SPACE,
    attribute_text, days_from_civil, unix_now, walk,
};

/// The device service's path, fixed by ONVIF.
pub const DEVICE_PATH: &str = "/onvif/device_service";

/// The steps of discovery, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Clock,
    Services,
    Login,
    Profiles,
    Node,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Clock => "reading the camera's clock (GetSystemDateAndTime)",
            Step::Services => "finding its services (GetServices, GetCapabilities)",
            Step::Login => "logging in (GetDeviceInformation)",
            Step::Profiles => "choosing the media profile (GetProfiles)",
            Step::Node => "reading the PTZ node's limits (GetNodes, GetConfigurationOptions)",
        })
    }
}

/// Why a step failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// No answer, or the camera is busy (HTTP 5xx): worth retrying.
    Unreachable(Error),
    /// The camera refused the login; `clock_offset` as read (if it was).
    Credentials {
        error: Error,
        user: Option<String>,
        clock_offset: Option<i64>,
    },
    /// No PTZ service, or no media profile with a PTZ configuration.
    NoPtz(String),
    /// Any other refusal or an answer that could not be read.
    Refused(Error),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    pub step: Step,
    pub problem: Problem,
}

impl Failed {
    pub fn is_transient(&self) -> bool {
        matches!(self.problem, Problem::Unreachable(_))
    }
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed at {}: ", self.step)?;
        match &self.problem {
            Problem::Unreachable(e) => write!(f, "unreachable: {e}"),
            Problem::Credentials {
                error,
                user,
                clock_offset,
            } => {
                match user {
                    Some(user) => write!(f, "credentials refused for user {user:?}: {error}")?,
                    None => write!(
                        f,
                        "the camera wants credentials (user-id, user-pw): {error}"
                    )?,
                }
                match clock_offset {
                    None => write!(
                        f,
                        " (the camera did not tell its clock: if it is more than a few \
                         minutes from this machine's, it refuses any login the same way)"
                    ),
                    Some(s) if s.abs() > 60 => write!(
                        f,
                        " (its clock is {s} s from this machine's; the login was written in \
                         the camera's time)"
                    ),
                    Some(_) => Ok(()),
                }
            }
            Problem::NoPtz(why) => write!(f, "no PTZ: {why}"),
            Problem::Refused(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Failed {}

/// What discovery found: enough to drive the camera and to tell the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub device_url: String,
    pub media_url: String,
    pub ptz_url: String,
    pub profile: String,
    pub profile_name: String,
    pub configuration: String,
    pub node: String,
    /// The camera's clock minus this machine's, seconds; `None` when the
    /// camera did not tell (digests are then written in our time).
    pub clock_offset: Option<i64>,
    pub limits: VelocityLimits,
    pub manufacturer: String,
    pub model: String,
    pub firmware: String,
}

/// The device service URL for what a user typed: `host`, `host:port`,
/// `http://host[:port]` (the ONVIF path is added) or a full URL.
pub fn device_url(address: &str) -> Result<String, String> {
    let address = address.trim();
    let (scheme, rest) = match address.split_once("://") {
        Some((scheme @ ("http" | "https"), rest)) => (scheme, rest),
        Some((other, _)) => return Err(format!("{other}:// is not ONVIF's http or https")),
        None => ("http", address),
    };
    let (host, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(format!("no host in {address:?}"));
    }
    let path = match path.trim_end_matches('/') {
        "" => DEVICE_PATH,
        path => path,
    };
    Ok(format!("{scheme}://{host}{path}"))
}

/// A media profile as GetProfiles lists it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Profile {
    token: String,
    name: String,
    /// The PTZ configuration's token and its node's, if it has one.
    ptz: Option<(String, String)>,
}

/// Finds everything from the device service at `device_url`, for the
/// profile named `profile` (or the first with a PTZ configuration); the
/// PTZ client to drive it with, and what was found.
pub fn discover(
    device_url: &str,
    credentials: Option<Credentials>,
    timeout: std::time::Duration,
    profile: Option<&str>,
) -> Result<(Ptz, Found), Failed> {
    let user = credentials.as_ref().map(|c| c.username.clone());
    let mut soap = Soap::new(credentials, timeout);
    let clock_offset = read_clock(&soap, device_url)?;
    soap.set_clock_offset(clock_offset.unwrap_or(0));
    let fail = |step: Step, error: Error| Failed {
        step,
        problem: if error.is_transient() {
            Problem::Unreachable(error)
        } else if error.is_unauthorized() {
            Problem::Credentials {
                error,
                user: user.clone(),
                clock_offset,
            }
        } else {
            Problem::Refused(error)
        },
    };
    let no_ptz = |step: Step, why: String| Failed {
        step,
        problem: Problem::NoPtz(why),
    };

    let services = match soap.call(
        device_url,
        DEVICE_NS,
        "GetServices",
        "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>",
        true,
    ) {
        Ok(xml) => parse_services(&xml),
        Err(e) if e.is_transient() || e.is_unauthorized() => return Err(fail(Step::Services, e)),
        // Older cameras only have GetCapabilities.
        Err(_) => Ok(Services::default()),
    }
    .map_err(|e| fail(Step::Services, Error::Parse(e)))?;
    let services = if services.ptz.is_some() && services.media.is_some() {
        services
    } else {
        let xml = soap
            .call(
                device_url,
                DEVICE_NS,
                "GetCapabilities",
                "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>",
                true,
            )
            .map_err(|e| fail(Step::Services, e))?;
        let found = parse_capabilities(&xml).map_err(|e| fail(Step::Services, Error::Parse(e)))?;
        Services {
            media: services.media.or(found.media),
            ptz: services.ptz.or(found.ptz),
        }
    };
    let Some(ptz_url) = services.ptz else {
        return Err(no_ptz(
            Step::Services,
            "the camera offers no PTZ service".into(),
        ));
    };
    let Some(media_url) = services.media else {
        return Err(no_ptz(
            Step::Services,
            "the camera offers no media service to read its profiles from".into(),
        ));
    };

    let info = match soap.call(
        device_url,
        DEVICE_NS,
        "GetDeviceInformation",
        "<tds:GetDeviceInformation/>",
        true,
    ) {
        Ok(xml) => {
            parse_device_information(&xml).map_err(|e| fail(Step::Login, Error::Parse(e)))?
        }
        Err(e) if e.is_not_supported() => DeviceInformation::default(),
        Err(e) => return Err(fail(Step::Login, e)),
    };

    let xml = soap
        .call(
            &media_url,
            MEDIA_NS,
            "GetProfiles",
            "<trt:GetProfiles/>",
            true,
        )
        .map_err(|e| fail(Step::Profiles, e))?;
    let profiles = parse_profiles(&xml).map_err(|e| fail(Step::Profiles, Error::Parse(e)))?;
    let chosen = choose_profile(&profiles, profile).map_err(|why| no_ptz(Step::Profiles, why))?;
    let (configuration, node) = chosen
        .ptz
        .clone()
        .expect("chosen for its PTZ configuration");

    let limits =
        node_limits(&soap, &ptz_url, &configuration, &node).map_err(|e| fail(Step::Node, e))?;
    let found = Found {
        device_url: device_url.to_owned(),
        media_url,
        ptz_url,
        profile: chosen.token.clone(),
        profile_name: chosen.name.clone(),
        configuration,
        node,
        clock_offset,
        limits,
        manufacturer: info.manufacturer,
        model: info.model,
        firmware: info.firmware,
    };
    let ptz = Ptz::new(soap, &found.ptz_url, &found.profile, limits);
    Ok((ptz, found))
}

/// The camera's clock minus ours: asked without credentials (ONVIF allows
/// it before authentication), then with them for cameras that insist.
/// `None` when the camera does not tell; an error only when it is away.
pub fn read_clock(soap: &Soap, device_url: &str) -> Result<Option<i64>, Failed> {
    let ask = |authenticate| {
        soap.call(
            device_url,
            DEVICE_NS,
            "GetSystemDateAndTime",
            "<tds:GetSystemDateAndTime/>",
            authenticate,
        )
    };
    let answer = match ask(false) {
        Err(e) if !e.is_transient() && soap.has_credentials() => ask(true),
        other => other,
    };
    match answer {
        Ok(xml) => Ok(parse_clock(&xml).map(|camera| camera - unix_now())),
        Err(e) if e.is_transient() => Err(Failed {
            step: Step::Clock,
            problem: Problem::Unreachable(e),
        }),
        Err(_) => Ok(None),
    }
}

fn choose_profile<'a>(
    profiles: &'a [Profile],
    wanted: Option<&str>,
) -> Result<&'a Profile, String> {
    let with_ptz: Vec<&Profile> = profiles.iter().filter(|p| p.ptz.is_some()).collect();
    let list = || {
        let tokens: Vec<&str> = with_ptz.iter().map(|p| p.token.as_str()).collect();
        if tokens.is_empty() {
            "none has".into()
        } else {
            format!("those with one: {}", tokens.join(", "))
        }
    };
    match wanted {
        Some(token) => match profiles.iter().find(|p| p.token == token) {
            Some(p) if p.ptz.is_some() => Ok(p),
            Some(_) => Err(format!(
                "profile {token:?} has no PTZ configuration ({})",
                list()
            )),
            None => Err(format!(
                "no profile {token:?} among {} ({})",
                profiles.len(),
                list()
            )),
        },
        None => with_ptz.first().copied().ok_or_else(|| {
            format!(
                "none of the camera's {} media profiles has a PTZ configuration",
                profiles.len()
            )
        }),
    }
}

/// The velocity ranges the PTZ configuration allows: its options' spaces,
/// else its node's; the generic full range when the camera tells neither.
fn node_limits(
    soap: &Soap,
    ptz_url: &str,
    configuration: &str,
    node: &str,
) -> Result<VelocityLimits, Error> {
    let options = soap.call(
        ptz_url,
        PTZ_NS,
        "GetConfigurationOptions",
        &format!(
            "<tptz:GetConfigurationOptions><tptz:ConfigurationToken>{}</tptz:ConfigurationToken>\
             </tptz:GetConfigurationOptions>",
            escape(configuration)
        ),
        true,
    );
    match options {
        Ok(xml) => {
            if let Some(limits) = parse_limits(&xml, None).map_err(Error::Parse)? {
                return Ok(limits);
            }
        }
        Err(e) if e.is_transient() || e.is_unauthorized() => return Err(e),
        Err(_) => {}
    }
    match soap.call(ptz_url, PTZ_NS, "GetNodes", "<tptz:GetNodes/>", true) {
        Ok(xml) => Ok(parse_limits(&xml, Some(node))
            .map_err(Error::Parse)?
            .unwrap_or_default()),
        Err(e) if e.is_transient() || e.is_unauthorized() => Err(e),
        Err(_) => Ok(VelocityLimits::default()),
    }
}

#[derive(Debug, Default, PartialEq)]
struct Services {
    media: Option<String>,
    ptz: Option<String>,
}

fn parse_services(xml: &str) -> Result<Services, String> {
    let mut entries: Vec<(String, String)> = Vec::new();
    walk(xml, |path, node| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        match (names.as_slice(), node) {
            ([.., "GetServicesResponse", "Service"], Node::Attributes(_)) => {
                entries.push(Default::default())
            }
            ([.., "Service", "Namespace"], Node::Text(t)) => {
                if let Some(e) = entries.last_mut() {
                    e.0 = t.trim().to_owned();
                }
            }
            ([.., "Service", "XAddr"], Node::Text(t)) => {
                if let Some(e) = entries.last_mut() {
                    e.1 = t.trim().to_owned();
                }
            }
            _ => {}
        }
    })?;
    let find = |ns: &str| {
        entries
            .iter()
            .find(|(n, a)| n == ns && !a.is_empty())
            .map(|(_, a)| a.clone())
    };
    Ok(Services {
        media: find(MEDIA_NS),
        ptz: find(PTZ_NS),
    })
}

fn parse_capabilities(xml: &str) -> Result<Services, String> {
    let mut found = Services::default();
    walk(xml, |path, node| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        match (names.as_slice(), node) {
            ([.., "Capabilities", "Media", "XAddr"], Node::Text(t)) => {
                found.media = Some(t.trim().to_owned())
            }
            ([.., "Capabilities", "PTZ", "XAddr"], Node::Text(t)) => {
                found.ptz = Some(t.trim().to_owned())
            }
            _ => {}
        }
    })?;
    Ok(found)
}

#[derive(Debug, Default, PartialEq)]
struct DeviceInformation {
    manufacturer: String,
    model: String,
    firmware: String,
}

fn parse_device_information(xml: &str) -> Result<DeviceInformation, String> {
    let mut info = DeviceInformation::default();
    walk(xml, |path, node| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        if let ([.., "GetDeviceInformationResponse", field], Node::Text(t)) =
            (names.as_slice(), node)
        {
            match *field {
                "Manufacturer" => info.manufacturer = t.trim().to_owned(),
                "Model" => info.model = t.trim().to_owned(),
                "FirmwareVersion" => info.firmware = t.trim().to_owned(),
                _ => {}
            }
        }
    })?;
    Ok(info)
}

/// The UTC time in a GetSystemDateAndTime answer, seconds since the epoch.
fn parse_clock(xml: &str) -> Option<i64> {
    let mut parts = [None::<i64>; 6];
    walk(xml, |path, node| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        if let ([.., "UTCDateTime", _, field], Node::Text(t)) = (names.as_slice(), node) {
            let slot = ["Year", "Month", "Day", "Hour", "Minute", "Second"]
                .iter()
                .position(|f| f == field);
            if let Some(i) = slot {
                parts[i] = t.trim().parse().ok();
            }
        }
    })
    .ok()?;
    let [year, month, day, hour, minute, second] = parts.map(|p| p.unwrap_or(-1));
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..61).contains(&second);
    valid.then(|| days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn parse_profiles(xml: &str) -> Result<Vec<Profile>, String> {
    let mut profiles: Vec<Profile> = Vec::new();
    walk(xml, |path, node| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        let Some(p) = (match (names.as_slice(), &node) {
            ([.., "GetProfilesResponse", "Profiles"], Node::Attributes(a)) => {
                profiles.push(Profile {
                    token: attribute_text(a, "token").unwrap_or_default().to_owned(),
                    ..Profile::default()
                });
                None
            }
            _ => profiles.last_mut(),
        }) else {
            return;
        };
        match (names.as_slice(), node) {
            ([.., "Profiles", "Name"], Node::Text(t)) => p.name = t.trim().to_owned(),
            ([.., "Profiles", "PTZConfiguration"], Node::Attributes(a)) => {
                let token = attribute_text(a, "token").unwrap_or_default();
                p.ptz = Some((token.to_owned(), String::new()));
            }
            ([.., "Profiles", "PTZConfiguration", "NodeToken"], Node::Text(t)) => {
                if let Some(ptz) = p.ptz.as_mut() {
                    ptz.1 = t.trim().to_owned();
                }
            }
            _ => {}
        }
    })?;
    Ok(profiles)
}

/// The continuous velocity ranges in the generic spaces of a
/// GetConfigurationOptions answer (`node` `None`) or of node `node` in a
/// GetNodes answer (the first node when no token matches). `None` when the
/// answer lists no continuous velocity space at all.
fn parse_limits(xml: &str, node: Option<&str>) -> Result<Option<VelocityLimits>, String> {
    /// One space: pan-tilt or zoom, its URI and ranges.
    #[derive(Default)]
    struct Space {
        pan_tilt: bool,
        node: usize,
        uri: String,
        x: (Option<f64>, Option<f64>),
        y: (Option<f64>, Option<f64>),
    }
    let mut spaces: Vec<Space> = Vec::new();
    let mut nodes: Vec<String> = Vec::new();
    walk(xml, |path, n| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        match (names.as_slice(), n) {
            ([.., "GetNodesResponse", "PTZNode"], Node::Attributes(a)) => {
                nodes.push(attribute_text(a, "token").unwrap_or_default().to_owned())
            }
            ([.., "ContinuousPanTiltVelocitySpace"], Node::Attributes(_)) => spaces.push(Space {
                pan_tilt: true,
                node: nodes.len(),
                ..Space::default()
            }),
            ([.., "ContinuousZoomVelocitySpace"], Node::Attributes(_)) => spaces.push(Space {
                node: nodes.len(),
                ..Space::default()
            }),
            (_, Node::Text(t)) => {
                let Some(at) = names.iter().rposition(|n| {
                    *n == "ContinuousPanTiltVelocitySpace" || *n == "ContinuousZoomVelocitySpace"
                }) else {
                    return;
                };
                let Some(s) = spaces.last_mut() else { return };
                let value = t.trim().parse::<f64>().ok();
                match &names[at + 1..] {
                    ["URI"] => s.uri = t.trim().to_owned(),
                    ["XRange", "Min"] => s.x.0 = value,
                    ["XRange", "Max"] => s.x.1 = value,
                    ["YRange", "Min"] => s.y.0 = value,
                    ["YRange", "Max"] => s.y.1 = value,
                    _ => {}
                }
            }
            _ => {}
        }
    })?;
    // Spaces are numbered by the node they follow (1-based; 0: no node).
    let wanted_node = match node {
        None => 0,
        Some(token) => nodes.iter().position(|n| n == token).unwrap_or(0) + 1,
    };
    let range = |r: (Option<f64>, Option<f64>)| match r {
        (Some(lo), Some(hi)) if lo <= hi => Some((lo.max(-1.0), hi.min(1.0))),
        _ => Some((-1.0, 1.0)),
    };
    let generic = |pan_tilt: bool| {
        let of_kind = || {
            spaces
                .iter()
                .filter(move |s| s.pan_tilt == pan_tilt && s.node == wanted_node)
        };
        let uri = if pan_tilt {
            PAN_TILT_VELOCITY_SPACE
        } else {
            ZOOM_VELOCITY_SPACE
        };
        of_kind()
            .find(|s| s.uri == uri)
            .or_else(|| of_kind().find(|s| s.uri.is_empty()))
    };
    let (pan_tilt, zoom) = (generic(true), generic(false));
    if spaces.iter().all(|s| s.node != wanted_node) {
        return Ok(None);
    }
    Ok(Some(VelocityLimits {
        pan: pan_tilt.and_then(|s| range(s.x)),
        tilt: pan_tilt.and_then(|s| range(s.y)),
        zoom: zoom.and_then(|s| range(s.x)),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::client::tests::{camera, soap};
    use super::*;
    use std::time::Duration;

    #[test]
    fn device_urls_from_what_users_type() {
        let ok = |a: &str| device_url(a).unwrap();
        assert_eq!(ok("10.0.0.7"), "http://10.0.0.7/onvif/device_service");
        assert_eq!(ok("cam:8080"), "http://cam:8080/onvif/device_service");
        assert_eq!(
            ok("http://cam:8080/"),
            "http://cam:8080/onvif/device_service"
        );
        assert_eq!(ok("https://cam"), "https://cam/onvif/device_service");
        assert_eq!(
            ok("http://cam/onvif/device_service"),
            "http://cam/onvif/device_service"
        );
        assert_eq!(ok("http://[::1]:80/dev"), "http://[::1]:80/dev");
        assert!(device_url("rtsp://cam/stream").is_err());
        assert!(device_url("http:///x").is_err());
    }

    /// A real camera's answers, by hand: GetServices without PTZ (the
    /// capabilities have it), two profiles of which the second has PTZ, a
    /// node with a narrower pan-tilt range than generic and no zoom.
    #[test]
    fn discovery_reads_what_a_camera_answers() {
        let clock = soap(
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>\
             <tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>\
             <tt:UTCDateTime><tt:Time><tt:Hour>1</tt:Hour><tt:Minute>2</tt:Minute><tt:Second>3</tt:Second></tt:Time>\
             <tt:Date><tt:Year>2020</tt:Year><tt:Month>1</tt:Month><tt:Day>2</tt:Day></tt:Date></tt:UTCDateTime>\
             </tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>",
        );
        let services = soap(&format!(
            "<tds:GetServicesResponse><tds:Service><tds:Namespace>{DEVICE_NS}</tds:Namespace>\
             <tds:XAddr>http://cam/onvif/device_service</tds:XAddr></tds:Service>\
             <tds:Service><tds:Namespace>{MEDIA_NS}</tds:Namespace>\
             <tds:XAddr> http://cam/onvif/Media </tds:XAddr></tds:Service></tds:GetServicesResponse>"
        ));
        let capabilities = soap(
            "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media><tt:XAddr>http://cam/m</tt:XAddr>\
             </tt:Media><tt:PTZ><tt:XAddr>http://cam/onvif/PTZ?a=1&amp;b=2</tt:XAddr></tt:PTZ>\
             </tds:Capabilities></tds:GetCapabilitiesResponse>",
        );
        let info = soap(
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>A&amp;B</tds:Manufacturer>\
             <tds:Model>Dome</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion>\
             <tds:SerialNumber>1</tds:SerialNumber><tds:HardwareId>1</tds:HardwareId>\
             </tds:GetDeviceInformationResponse>",
        );
        let profiles = soap(
            "<trt:GetProfilesResponse><trt:Profiles token=\"main\" fixed=\"true\"><tt:Name>Main</tt:Name>\
             </trt:Profiles><trt:Profiles token=\"sub&amp;1\"><tt:Name>Sub</tt:Name>\
             <tt:PTZConfiguration token=\"ptzc\"><tt:Name>P</tt:Name><tt:UseCount>2</tt:UseCount>\
             <tt:NodeToken>n1</tt:NodeToken></tt:PTZConfiguration></trt:Profiles></trt:GetProfilesResponse>",
        );
        let options = soap(
            "<tptz:GetConfigurationOptionsResponse><tptz:PTZConfigurationOptions><tt:Spaces>\
             <tt:AbsolutePanTiltPositionSpace><tt:URI>x</tt:URI><tt:XRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max>\
             </tt:XRange></tt:AbsolutePanTiltPositionSpace>\
             <tt:ContinuousPanTiltVelocitySpace><tt:URI>http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace</tt:URI>\
             <tt:XRange><tt:Min>-0.5</tt:Min><tt:Max>0.5</tt:Max></tt:XRange>\
             <tt:YRange><tt:Min>-0.25</tt:Min><tt:Max>0.25</tt:Max></tt:YRange></tt:ContinuousPanTiltVelocitySpace>\
             </tt:Spaces></tptz:PTZConfigurationOptions></tptz:GetConfigurationOptionsResponse>",
        );
        let (url, requests) = camera(vec![
            (200, clock),
            (200, services),
            (200, capabilities),
            (200, info),
            (200, profiles),
            (200, options),
        ]);
        let credentials = Credentials {
            username: "op".into(),
            password: "pw".into(),
        };
        let (_, found) = discover(&url, Some(credentials), Duration::from_secs(5), None).unwrap();
        let expected_offset = days_from_civil(2020, 1, 2) * 86_400 + 3723 - unix_now();
        assert!((found.clock_offset.unwrap() - expected_offset).abs() <= 2);
        let host = url.trim_end_matches("/onvif/ptz");
        assert_eq!(found.media_url, format!("{host}/onvif/Media"));
        assert_eq!(found.ptz_url, format!("{host}/onvif/PTZ?a=1&b=2"));
        assert_eq!(found.profile, "sub&1");
        assert_eq!(
            (found.configuration.as_str(), found.node.as_str()),
            ("ptzc", "n1")
        );
        assert_eq!(found.manufacturer, "A&B");
        assert_eq!(
            found.limits,
            VelocityLimits {
                pan: Some((-0.5, 0.5)),
                tilt: Some((-0.25, 0.25)),
                zoom: None
            }
        );
        let bodies: Vec<String> = requests.try_iter().map(|(_, b)| b).collect();
        assert!(
            !bodies[0].contains("Security"),
            "the clock is asked anonymously"
        );
        assert!(bodies[5].contains("<tptz:ConfigurationToken>ptzc</tptz:ConfigurationToken>"));
    }

    #[test]
    fn each_failure_names_its_step() {
        // A camera that tells no clock and refuses the login.
        let refused = soap(
            "<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode>\
             <env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>\
             <env:Reason><env:Text>Sender not authorized</env:Text></env:Reason></env:Fault>",
        );
        let (url, _requests) = camera(vec![
            (400, refused.clone()),
            (400, refused.clone()),
            (400, refused),
        ]);
        let credentials = Credentials {
            username: "op".into(),
            password: "wrong".into(),
        };
        let err = discover(&url, Some(credentials), Duration::from_secs(5), None)
            .err()
            .expect("refused");
        assert_eq!(err.step, Step::Services, "{err}");
        assert!(matches!(
            err.problem,
            Problem::Credentials {
                clock_offset: None,
                ..
            }
        ));
        assert!(!err.is_transient());
        let text = err.to_string();
        assert!(
            text.contains("GetServices") && text.contains("\"op\"") && text.contains("clock"),
            "{text}"
        );

        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/onvif/device_service",
            closed.local_addr().unwrap()
        );
        drop(closed);
        let err = discover(&url, None, Duration::from_secs(2), None)
            .err()
            .expect("unreachable");
        assert_eq!(err.step, Step::Clock);
        assert!(err.is_transient(), "{err}");

        let profiles = [Profile {
            token: "a".into(),
            name: String::new(),
            ptz: None,
        }];
        let why = choose_profile(&profiles, None).unwrap_err();
        assert!(why.contains("none of the camera's 1"), "{why}");
        let why = choose_profile(&profiles, Some("b")).unwrap_err();
        assert!(why.contains("no profile \"b\""), "{why}");
    }
}
