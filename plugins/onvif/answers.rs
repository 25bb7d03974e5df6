//! What a camera answers, in the SOAP version it was asked in: the
//! documents of the device, media and PTZ services as the ONVIF schemas
//! lay them out (element order included: schema-checking clients such as
//! zeep read them), and faults.

use quick_xml::escape::escape;

use super::camera::{Operation, Service, namespace};
use super::client::{MoveStatus, Status};
use super::{
    DEVICE_NS, ERROR_NS, MEDIA_NS, PAN_TILT_VELOCITY_SPACE, PTZ_NS, SCHEMA_NS, SoapVersion,
    ZOOM_VELOCITY_SPACE, utc_timestamp,
};

const PAN_TILT_POSITION_SPACE: &str =
    "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace";
const ZOOM_POSITION_SPACE: &str = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace";
const PAN_TILT_SPEED_SPACE: &str =
    "http://www.onvif.org/ver10/tptz/PanTiltSpaces/GenericSpeedSpace";
const ZOOM_SPEED_SPACE: &str = "http://www.onvif.org/ver10/tptz/ZoomSpaces/ZoomGenericSpeedSpace";

/// The camera's one PTZ node and configuration.
pub const NODE_TOKEN: &str = "PtzNode_1";
pub const CONFIGURATION_TOKEN: &str = "PtzConfig_1";

/// What the answers say about the camera.
#[derive(Debug, Clone)]
pub struct Device<'a> {
    /// `host[:port]` the client reached the camera at, for the services' addresses.
    pub host: &'a str,
    pub profile: &'a str,
    /// Whether it has PTZ at all (a fixed camera has device and media only).
    pub ptz: bool,
    /// Whether its lens zooms.
    pub zoom: bool,
    pub width: u32,
    pub height: u32,
    pub manufacturer: &'a str,
    pub model: &'a str,
    pub firmware: &'a str,
    pub serial: &'a str,
}

impl Device<'_> {
    fn xaddr(&self, service: Service) -> String {
        let path = match service {
            Service::Device => "device_service",
            Service::Media => "media_service",
            Service::Ptz => "ptz_service",
        };
        format!("http://{}/onvif/{path}", self.host)
    }

    fn services(&self) -> Vec<Service> {
        let mut all = vec![Service::Device, Service::Media];
        if self.ptz {
            all.push(Service::Ptz);
        }
        all
    }
}

/// A preset as GetPresets lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub token: String,
    pub name: String,
    pub position: [f64; 3],
}

pub fn envelope(version: SoapVersion, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"{}\" xmlns:tds=\"{DEVICE_NS}\" xmlns:trt=\"{MEDIA_NS}\" \
         xmlns:tptz=\"{PTZ_NS}\" xmlns:tt=\"{SCHEMA_NS}\" xmlns:ter=\"{ERROR_NS}\">\
         <s:Body>{body}</s:Body></s:Envelope>",
        version.namespace()
    )
}

/// A sender fault with ONVIF subcode `code` (e.g. `ter:NotAuthorized`),
/// and its HTTP status: 400 in SOAP 1.2, 500 in SOAP 1.1 (each binding's rule).
pub fn fault(version: SoapVersion, code: &str, reason: &str) -> (u16, String) {
    let (code, reason) = (escape(code), escape(reason));
    match version {
        SoapVersion::V12 => (
            400,
            envelope(
                version,
                &format!(
                    "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>{code}</s:Value>\
                     </s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">{reason}</s:Text></s:Reason>\
                     </s:Fault>"
                ),
            ),
        ),
        SoapVersion::V11 => (
            500,
            envelope(
                version,
                &format!(
                    "<s:Fault><faultcode>{code}</faultcode><faultstring>{reason}</faultstring></s:Fault>"
                ),
            ),
        ),
    }
}

fn prefix(service: Service) -> &'static str {
    match service {
        Service::Device => "tds",
        Service::Media => "trt",
        Service::Ptz => "tptz",
    }
}

/// The response element of `operation` around `content`.
fn response(operation: &Operation, content: &str) -> String {
    let p = prefix(operation.service());
    let name = operation.name();
    if content.is_empty() {
        format!("<{p}:{name}Response/>")
    } else {
        format!("<{p}:{name}Response>{content}</{p}:{name}Response>")
    }
}

/// The answer to an operation with nothing to say but that it was done.
pub fn done(version: SoapVersion, operation: &Operation) -> String {
    envelope(version, &response(operation, ""))
}

/// GetSystemDateAndTime at the camera's time `now`.
pub fn system_date_and_time(version: SoapVersion, now: i64) -> String {
    let full = cctv::message::format_utc(now * 1000);
    let n = |range: std::ops::Range<usize>| full[range].parse::<u32>().unwrap_or(0);
    let content = format!(
        "<tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType>\
         <tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>\
         <tt:UTCDateTime><tt:Time><tt:Hour>{}</tt:Hour><tt:Minute>{}</tt:Minute><tt:Second>{}</tt:Second>\
         </tt:Time><tt:Date><tt:Year>{}</tt:Year><tt:Month>{}</tt:Month><tt:Day>{}</tt:Day></tt:Date>\
         </tt:UTCDateTime></tds:SystemDateAndTime>",
        n(11..13),
        n(14..16),
        n(17..19),
        n(0..4),
        n(5..7),
        n(8..10)
    );
    envelope(
        version,
        &response(&Operation::GetSystemDateAndTime, &content),
    )
}

pub fn capabilities(version: SoapVersion, device: &Device<'_>) -> String {
    let ptz = if device.ptz {
        format!(
            "<tt:PTZ><tt:XAddr>{}</tt:XAddr></tt:PTZ>",
            device.xaddr(Service::Ptz)
        )
    } else {
        String::new()
    };
    let content = format!(
        "<tds:Capabilities><tt:Device><tt:XAddr>{}</tt:XAddr></tt:Device>\
         <tt:Media><tt:XAddr>{}</tt:XAddr><tt:StreamingCapabilities>\
         <tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>false</tt:RTP_TCP>\
         <tt:RTP_RTSP_TCP>false</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>{ptz}\
         </tds:Capabilities>",
        device.xaddr(Service::Device),
        device.xaddr(Service::Media)
    );
    envelope(version, &response(&Operation::GetCapabilities, &content))
}

pub fn services(version: SoapVersion, device: &Device<'_>) -> String {
    let content: String = device
        .services()
        .into_iter()
        .map(|s| {
            format!(
                "<tds:Service><tds:Namespace>{}</tds:Namespace><tds:XAddr>{}</tds:XAddr>\
                 <tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>",
                namespace(s),
                device.xaddr(s)
            )
        })
        .collect();
    envelope(version, &response(&Operation::GetServices, &content))
}

pub fn device_information(version: SoapVersion, device: &Device<'_>) -> String {
    let content = format!(
        "<tds:Manufacturer>{}</tds:Manufacturer><tds:Model>{}</tds:Model>\
         <tds:FirmwareVersion>{}</tds:FirmwareVersion><tds:SerialNumber>{}</tds:SerialNumber>\
         <tds:HardwareId>{}</tds:HardwareId>",
        escape(device.manufacturer),
        escape(device.model),
        escape(device.firmware),
        escape(device.serial),
        escape(device.model)
    );
    envelope(
        version,
        &response(&Operation::GetDeviceInformation, &content),
    )
}

/// The one media profile, as element `element` (`Profiles` or `Profile`).
fn profile(device: &Device<'_>, element: &str) -> String {
    let ptz = if device.ptz {
        configuration(device, "tt")
    } else {
        String::new()
    };
    format!(
        "<trt:{element} token=\"{token}\" fixed=\"true\"><tt:Name>{token}</tt:Name>\
         <tt:VideoSourceConfiguration token=\"VideoSourceConfig_1\"><tt:Name>VideoSource_1</tt:Name>\
         <tt:UseCount>1</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken>\
         <tt:Bounds x=\"0\" y=\"0\" width=\"{}\" height=\"{}\"/></tt:VideoSourceConfiguration>\
         {ptz}</trt:{element}>",
        device.width,
        device.height,
        token = escape(device.profile),
    )
}

pub fn profiles(version: SoapVersion, device: &Device<'_>) -> String {
    let content = profile(device, "Profiles");
    envelope(version, &response(&Operation::GetProfiles, &content))
}

pub fn one_profile(version: SoapVersion, device: &Device<'_>) -> String {
    let content = profile(device, "Profile");
    envelope(version, &response(&Operation::GetProfile, &content))
}

fn range(min: f64, max: f64) -> String {
    format!("<tt:Min>{min}</tt:Min><tt:Max>{max}</tt:Max>")
}

fn space_2d(element: &str, uri: &str, x: (f64, f64), y: (f64, f64)) -> String {
    format!(
        "<tt:{element}><tt:URI>{uri}</tt:URI><tt:XRange>{}</tt:XRange><tt:YRange>{}</tt:YRange></tt:{element}>",
        range(x.0, x.1),
        range(y.0, y.1)
    )
}

fn space_1d(element: &str, uri: &str, x: (f64, f64)) -> String {
    format!(
        "<tt:{element}><tt:URI>{uri}</tt:URI><tt:XRange>{}</tt:XRange></tt:{element}>",
        range(x.0, x.1)
    )
}

/// The spaces the node moves in (PTZSpaces, in the schema's order).
fn spaces(device: &Device<'_>) -> String {
    let full = (-1.0, 1.0);
    let mut s = space_2d(
        "AbsolutePanTiltPositionSpace",
        PAN_TILT_POSITION_SPACE,
        full,
        full,
    );
    if device.zoom {
        s += &space_1d("AbsoluteZoomPositionSpace", ZOOM_POSITION_SPACE, (0.0, 1.0));
    }
    s += &space_2d(
        "ContinuousPanTiltVelocitySpace",
        PAN_TILT_VELOCITY_SPACE,
        full,
        full,
    );
    if device.zoom {
        s += &space_1d("ContinuousZoomVelocitySpace", ZOOM_VELOCITY_SPACE, full);
    }
    s += &space_1d("PanTiltSpeedSpace", PAN_TILT_SPEED_SPACE, (0.0, 1.0));
    if device.zoom {
        s += &space_1d("ZoomSpeedSpace", ZOOM_SPEED_SPACE, (0.0, 1.0));
    }
    s
}

fn node(device: &Device<'_>, element: &str) -> String {
    format!(
        "<tptz:{element} token=\"{NODE_TOKEN}\" FixedHomePosition=\"true\"><tt:Name>{NODE_TOKEN}</tt:Name>\
         <tt:SupportedPTZSpaces>{}</tt:SupportedPTZSpaces>\
         <tt:MaximumNumberOfPresets>{}</tt:MaximumNumberOfPresets>\
         <tt:HomeSupported>true</tt:HomeSupported></tptz:{element}>",
        spaces(device),
        MAX_PRESETS
    )
}

/// Presets the camera keeps at most.
pub const MAX_PRESETS: usize = 100;

pub fn nodes(version: SoapVersion, device: &Device<'_>) -> String {
    envelope(
        version,
        &response(&Operation::GetNodes, &node(device, "PTZNode")),
    )
}

pub fn one_node(version: SoapVersion, device: &Device<'_>, operation: &Operation) -> String {
    envelope(version, &response(operation, &node(device, "PTZNode")))
}

/// The PTZ configuration, as `tt:PTZConfiguration` in a profile or
/// `tptz:PTZConfiguration` in GetConfigurations (`p`: the prefix).
fn configuration(device: &Device<'_>, p: &str) -> String {
    let name = "PTZConfiguration";
    let zoom_default = |s: &str| {
        if device.zoom {
            s.to_owned()
        } else {
            String::new()
        }
    };
    let full = (-1.0, 1.0);
    format!(
        "<{p}:{name} token=\"{CONFIGURATION_TOKEN}\"><tt:Name>{CONFIGURATION_TOKEN}</tt:Name>\
         <tt:UseCount>1</tt:UseCount><tt:NodeToken>{NODE_TOKEN}</tt:NodeToken>\
         <tt:DefaultAbsolutePantTiltPositionSpace>{PAN_TILT_POSITION_SPACE}</tt:DefaultAbsolutePantTiltPositionSpace>\
         {}<tt:DefaultContinuousPanTiltVelocitySpace>{PAN_TILT_VELOCITY_SPACE}</tt:DefaultContinuousPanTiltVelocitySpace>\
         {}<tt:DefaultPTZSpeed><tt:PanTilt x=\"1\" y=\"1\" space=\"{PAN_TILT_SPEED_SPACE}\"/>{}</tt:DefaultPTZSpeed>\
         <tt:DefaultPTZTimeout>PT10S</tt:DefaultPTZTimeout>\
         <tt:PanTiltLimits><tt:Range><tt:URI>{PAN_TILT_POSITION_SPACE}</tt:URI><tt:XRange>{}</tt:XRange>\
         <tt:YRange>{}</tt:YRange></tt:Range></tt:PanTiltLimits>{}</{p}:{name}>",
        zoom_default(&format!(
            "<tt:DefaultAbsoluteZoomPositionSpace>{ZOOM_POSITION_SPACE}</tt:DefaultAbsoluteZoomPositionSpace>"
        )),
        zoom_default(&format!(
            "<tt:DefaultContinuousZoomVelocitySpace>{ZOOM_VELOCITY_SPACE}</tt:DefaultContinuousZoomVelocitySpace>"
        )),
        zoom_default(&format!("<tt:Zoom x=\"1\" space=\"{ZOOM_SPEED_SPACE}\"/>")),
        range(full.0, full.1),
        range(full.0, full.1),
        zoom_default(&format!(
            "<tt:ZoomLimits><tt:Range><tt:URI>{ZOOM_POSITION_SPACE}</tt:URI><tt:XRange>{}</tt:XRange>\
             </tt:Range></tt:ZoomLimits>",
            range(0.0, 1.0)
        )),
    )
}

pub fn configurations(version: SoapVersion, device: &Device<'_>, operation: &Operation) -> String {
    let content = configuration(device, "tptz");
    envelope(version, &response(operation, &content))
}

pub fn configuration_options(version: SoapVersion, device: &Device<'_>) -> String {
    let content = format!(
        "<tptz:PTZConfigurationOptions><tt:Spaces>{}</tt:Spaces>\
         <tt:PTZTimeout><tt:Min>PT1S</tt:Min><tt:Max>PT60S</tt:Max></tt:PTZTimeout>\
         </tptz:PTZConfigurationOptions>",
        spaces(device)
    );
    envelope(
        version,
        &response(
            &Operation::GetConfigurationOptions {
                token: String::new(),
            },
            &content,
        ),
    )
}

fn position(device: &Device<'_>, [pan, tilt, zoom]: [f64; 3]) -> String {
    let zoom = if device.zoom {
        format!("<tt:Zoom x=\"{zoom:.6}\" space=\"{ZOOM_POSITION_SPACE}\"/>")
    } else {
        String::new()
    };
    format!(
        "<tt:PanTilt x=\"{pan:.6}\" y=\"{tilt:.6}\" space=\"{PAN_TILT_POSITION_SPACE}\"/>{zoom}"
    )
}

pub fn presets(version: SoapVersion, device: &Device<'_>, presets: &[Preset]) -> String {
    let content: String = presets
        .iter()
        .map(|p| {
            format!(
                "<tptz:Preset token=\"{}\"><tt:Name>{}</tt:Name><tt:PTZPosition>{}</tt:PTZPosition>\
                 </tptz:Preset>",
                escape(p.token.as_str()),
                escape(p.name.as_str()),
                position(device, p.position)
            )
        })
        .collect();
    envelope(version, &response(&Operation::GetPresets, &content))
}

pub fn preset_set(version: SoapVersion, operation: &Operation, token: &str) -> String {
    let content = format!("<tptz:PresetToken>{}</tptz:PresetToken>", escape(token));
    envelope(version, &response(operation, &content))
}

/// GetStatus at the camera's time `now`.
pub fn status(version: SoapVersion, device: &Device<'_>, status: &Status, now: i64) -> String {
    let word = |m: Option<MoveStatus>| match m {
        Some(MoveStatus::Moving) => "MOVING",
        Some(MoveStatus::Idle) => "IDLE",
        _ => "UNKNOWN",
    };
    let at = [
        status.pan.unwrap_or(0.0),
        status.tilt.unwrap_or(0.0),
        status.zoom.unwrap_or(0.0),
    ];
    let zoom = if device.zoom {
        format!("<tt:Zoom>{}</tt:Zoom>", word(status.zoom_status))
    } else {
        String::new()
    };
    let content = format!(
        "<tptz:PTZStatus><tt:Position>{}</tt:Position><tt:MoveStatus><tt:PanTilt>{}</tt:PanTilt>{zoom}\
         </tt:MoveStatus><tt:UtcTime>{}</tt:UtcTime></tptz:PTZStatus>",
        position(device, at),
        word(status.pan_tilt_status),
        utc_timestamp(now),
    );
    envelope(version, &response(&Operation::GetStatus, &content))
}

#[cfg(test)]
mod tests {
    use super::super::client::parse_fault;
    use super::super::client::parse_status;
    use super::*;

    fn device() -> Device<'static> {
        Device {
            host: "127.0.0.1:8899",
            profile: "P&1",
            ptz: true,
            zoom: true,
            width: 640,
            height: 480,
            manufacturer: "gst-cctv",
            model: "virtualptz",
            firmware: "1",
            serial: "0",
        }
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
        for version in [SoapVersion::V11, SoapVersion::V12] {
            let xml = super::status(version, &device(), &status, 0);
            assert!(xml.contains(version.namespace()));
            assert_eq!(parse_status(&xml).unwrap(), status);
        }
    }

    #[test]
    fn faults_follow_the_request_version() {
        let (code, xml) = fault(SoapVersion::V12, "ter:NotAuthorized", "who & why");
        assert_eq!(code, 400);
        assert_eq!(
            parse_fault(&xml),
            Some(("ter:NotAuthorized".into(), "who & why".into()))
        );
        let (code, xml) = fault(SoapVersion::V11, "ter:NotAuthorized", "who & why");
        assert_eq!(code, 500);
        assert!(xml.contains("<faultcode>ter:NotAuthorized</faultcode>"));
        assert_eq!(
            parse_fault(&xml),
            Some(("ter:NotAuthorized".into(), "who & why".into()))
        );
    }

    #[test]
    fn a_camera_without_ptz_or_zoom_says_so() {
        let fixed = Device {
            ptz: false,
            zoom: false,
            ..device()
        };
        let v = SoapVersion::V12;
        let ptz = format!("<tds:Namespace>{PTZ_NS}</tds:Namespace>");
        assert!(!services(v, &fixed).contains(&ptz));
        assert!(!capabilities(v, &fixed).contains("<tt:PTZ>"));
        assert!(!profiles(v, &fixed).contains("PTZConfiguration"));
        assert!(services(v, &device()).contains(&ptz));
        assert!(profiles(v, &device()).contains("<trt:Profiles token=\"P&amp;1\""));
        let no_zoom = Device {
            zoom: false,
            ..device()
        };
        assert!(!configuration_options(v, &no_zoom).contains("Zoom"));
        assert!(configuration_options(v, &device()).contains("ContinuousZoomVelocitySpace"));
    }
}
