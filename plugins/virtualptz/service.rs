//! The virtual camera's ONVIF services: one HTTP thread (`tiny_http`)
//! answering the device, media and PTZ operations of `onvif::camera` by
//! moving the simulated head. Requests are told apart by their operation,
//! not by the path they were posted to, as many cameras do.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use cctv::ptz::head::{Head, Motion};

use crate::onvif::answers::{self, CONFIGURATION_TOKEN, Device, MAX_PRESETS, NODE_TOKEN, Preset};
use crate::onvif::camera::{self, Auth, Guard, Operation, Refusal, Request, Service as Kind};
use crate::onvif::{MoveStatus, SoapVersion, Status};

/// Larger requests are refused (an ONVIF request is well under 4 KiB).
const MAX_REQUEST: u64 = 64 * 1024;

/// What the service and the streaming thread share.
pub struct Camera {
    pub head: Head,
    pub profile: String,
    pub guard: Guard,
    /// The camera's clock minus the machine's, seconds.
    pub clock_offset: i64,
    /// Whether it offers PTZ at all, and whether its lens zooms.
    pub ptz: bool,
    pub zoom: bool,
    pub width: u32,
    pub height: u32,
    pub presets: Vec<Preset>,
    pub requests: u64,
    pub faults: u64,
}

impl Camera {
    /// The camera's time, seconds since the epoch.
    pub fn now(&self) -> i64 {
        crate::onvif::unix_now() + self.clock_offset
    }
}

/// What the service did with a request, for the element's messages.
pub struct Handled<'a> {
    pub request: Option<&'a Request>,
    pub auth: Option<&'a Auth>,
    /// The fault code sent back, if the request was refused.
    pub fault: Option<&'a str>,
}

pub struct Service {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Service {
    /// Serves on `address:port` (port 0: any free one).
    pub fn start(
        address: &str,
        port: u16,
        camera: Arc<Mutex<Camera>>,
        on_request: impl Fn(Handled<'_>) + Send + 'static,
    ) -> Result<Service, String> {
        let server = tiny_http::Server::http((address, port))
            .map_err(|e| format!("cannot listen on {address}:{port}: {e}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| "not an IP listener".to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("virtualptz-onvif".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match server.recv_timeout(Duration::from_millis(50)) {
                            Ok(Some(request)) => answer(request, addr, &camera, &on_request),
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                })
                .map_err(|e| format!("cannot start the service thread: {e}"))?
        };
        Ok(Service {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

fn answer(
    mut http: tiny_http::Request,
    addr: SocketAddr,
    camera: &Mutex<Camera>,
    on_request: &impl Fn(Handled<'_>),
) {
    // The services' addresses use the host the client reached us at.
    let host = http
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map_or_else(|| addr.to_string(), |h| h.value.as_str().to_owned());
    let mut body = String::new();
    let read = http.as_reader().take(MAX_REQUEST).read_to_string(&mut body);
    let (version, status, xml) = match read {
        Err(e) => refuse(
            camera,
            on_request,
            None,
            None,
            Refusal {
                version: SoapVersion::V12,
                code: "ter:WellFormed",
                reason: format!("unreadable request: {e}"),
            },
        ),
        Ok(_) => match camera::parse_request(&body) {
            Err(refusal) => refuse(camera, on_request, None, None, refusal),
            Ok(request) => serve(camera, on_request, &host, request),
        },
    };
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], version.content_type())
        .expect("a valid header");
    let response = tiny_http::Response::from_string(xml)
        .with_status_code(status)
        .with_header(header);
    // The client may have gone: nothing to do about it.
    http.respond(response).ok();
}

/// Operations about one profile, which must be the camera's.
fn names_a_profile(operation: &Operation) -> bool {
    matches!(
        operation,
        Operation::GetProfile
            | Operation::GetPresets
            | Operation::SetPreset { .. }
            | Operation::GotoPreset { .. }
            | Operation::GotoHomePosition
            | Operation::ContinuousMove { .. }
            | Operation::Stop { .. }
            | Operation::AbsoluteMove { .. }
            | Operation::GetStatus
    )
}

fn serve(
    camera: &Mutex<Camera>,
    on_request: &impl Fn(Handled<'_>),
    host: &str,
    request: Request,
) -> (SoapVersion, u16, String) {
    let v = request.version;
    let mut cam = camera.lock().unwrap();
    let now = cam.now();
    let auth = cam.guard.check(request.token.as_ref(), now);
    let refusal = |code, reason: String| Refusal {
        version: v,
        code,
        reason,
    };
    let authorised = match &auth {
        Auth::Valid { .. } => Ok(()),
        Auth::Anonymous if cam.guard.login.is_none() || request.operation.pre_auth() => Ok(()),
        Auth::Anonymous => Err(refusal(
            "ter:NotAuthorized",
            "Sender not authorized: this operation needs a WS-Security UsernameToken".into(),
        )),
        Auth::Invalid { why, .. } => Err(refusal(
            "ter:NotAuthorized",
            format!("Sender not authorized: {why}"),
        )),
    };
    let checked = authorised.and_then(|()| {
        if request.operation.service() == Kind::Ptz && !cam.ptz {
            return Err(refusal(
                "ter:ActionNotSupported",
                "this camera has no PTZ service".into(),
            ));
        }
        if names_a_profile(&request.operation) && request.profile != cam.profile {
            return Err(refusal(
                "ter:NoProfile",
                format!("no media profile {:?}", request.profile),
            ));
        }
        Ok(())
    });
    if let Err(r) = checked {
        drop(cam);
        return refuse(camera, on_request, Some(&request), Some(&auth), r);
    }
    match operate(&mut cam, host, &request, now) {
        Ok(xml) => {
            cam.requests += 1;
            drop(cam);
            on_request(Handled {
                request: Some(&request),
                auth: Some(&auth),
                fault: None,
            });
            (v, 200, xml)
        }
        Err((code, reason)) => {
            drop(cam);
            let r = refusal(code, reason);
            refuse(camera, on_request, Some(&request), Some(&auth), r)
        }
    }
}

/// Does what `request` asks; the answer, or the fault's code and reason.
fn operate(
    cam: &mut Camera,
    host: &str,
    request: &Request,
    now: i64,
) -> Result<String, (&'static str, String)> {
    let v = request.version;
    let device = Device {
        host,
        profile: &cam.profile,
        ptz: cam.ptz,
        zoom: cam.zoom,
        width: cam.width,
        height: cam.height,
        manufacturer: "gst-cctv",
        model: "virtualptz",
        firmware: env!("CARGO_PKG_VERSION"),
        serial: "1",
    };
    let op = &request.operation;
    let no_entity = |what: &str, token: &str| ("ter:NoEntity", format!("no {what} {token:?}"));
    let xml = match op {
        Operation::GetSystemDateAndTime => answers::system_date_and_time(v, now),
        Operation::GetCapabilities => answers::capabilities(v, &device),
        Operation::GetServices => answers::services(v, &device),
        Operation::GetDeviceInformation => answers::device_information(v, &device),
        Operation::GetProfiles => answers::profiles(v, &device),
        Operation::GetProfile => answers::one_profile(v, &device),
        Operation::GetNodes => answers::nodes(v, &device),
        Operation::GetNode { token } if token == NODE_TOKEN => answers::one_node(v, &device, op),
        Operation::GetNode { token } => return Err(no_entity("PTZ node", token)),
        Operation::GetConfigurations => answers::configurations(v, &device, op),
        Operation::GetConfiguration { token } | Operation::GetConfigurationOptions { token }
            if token != CONFIGURATION_TOKEN =>
        {
            return Err(("ter:NoConfig", format!("no PTZ configuration {token:?}")));
        }
        Operation::GetConfiguration { .. } => answers::configurations(v, &device, op),
        Operation::GetConfigurationOptions { .. } => answers::configuration_options(v, &device),
        Operation::GetPresets => answers::presets(v, &device, &cam.presets),
        Operation::SetPreset { name, token } => {
            let position = cam.head.position();
            let token = set_preset(
                &mut cam.presets,
                name.as_deref(),
                token.as_deref(),
                position,
            )?;
            answers::preset_set(v, op, &token)
        }
        Operation::GotoPreset { token } => {
            let preset = cam.presets.iter().find(|p| p.token == *token);
            let Some(position) = preset.map(|p| p.position) else {
                return Err(("ter:NoToken", format!("no preset {token:?}")));
            };
            cam.head.command(Motion::GoTo(position));
            answers::done(v, op)
        }
        Operation::GotoHomePosition => {
            cam.head.command(Motion::GoTo([0.0; 3]));
            answers::done(v, op)
        }
        Operation::ContinuousMove { pan, tilt, zoom } => {
            let zoom = if cam.zoom { *zoom } else { 0.0 };
            cam.head.command(Motion::Velocity([*pan, *tilt, zoom]));
            answers::done(v, op)
        }
        Operation::Stop { pan_tilt, zoom } => {
            cam.head.command(Motion::Stop {
                pan_tilt: *pan_tilt,
                zoom: *zoom,
            });
            answers::done(v, op)
        }
        Operation::AbsoluteMove { pan, tilt, zoom } => {
            let [p, t, z] = cam.head.position();
            let zoom = if cam.zoom { zoom.unwrap_or(z) } else { z };
            cam.head
                .command(Motion::GoTo([pan.unwrap_or(p), tilt.unwrap_or(t), zoom]));
            answers::done(v, op)
        }
        Operation::GetStatus => {
            let [pan, tilt, zoom] = cam.head.position();
            let (pan_tilt_moving, zoom_moving) = cam.head.moving();
            let word = |m: bool| {
                Some(if m {
                    MoveStatus::Moving
                } else {
                    MoveStatus::Idle
                })
            };
            let status = Status {
                pan: Some(pan),
                tilt: Some(tilt),
                zoom: Some(zoom),
                pan_tilt_status: word(pan_tilt_moving),
                zoom_status: word(zoom_moving),
            };
            answers::status(v, &device, &status, now)
        }
    };
    Ok(xml)
}

/// Stores `position` as the preset `token` (a new one when `None`); its token.
fn set_preset(
    presets: &mut Vec<Preset>,
    name: Option<&str>,
    token: Option<&str>,
    position: [f64; 3],
) -> Result<String, (&'static str, String)> {
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        let Some(preset) = presets.iter_mut().find(|p| p.token == token) else {
            return Err(("ter:NoToken", format!("no preset {token:?}")));
        };
        preset.position = position;
        if let Some(name) = name {
            preset.name = name.to_owned();
        }
        return Ok(token.to_owned());
    }
    if presets.len() >= MAX_PRESETS {
        return Err((
            "ter:TooManyPresets",
            format!("the camera keeps {MAX_PRESETS} presets"),
        ));
    }
    let token = (1..)
        .map(|n: u32| n.to_string())
        .find(|t| presets.iter().all(|p| p.token != *t))
        .expect("fewer presets than numbers");
    presets.push(Preset {
        token: token.clone(),
        name: name.map_or_else(|| format!("Preset {token}"), str::to_owned),
        position,
    });
    Ok(token)
}

fn refuse(
    camera: &Mutex<Camera>,
    on_request: &impl Fn(Handled<'_>),
    request: Option<&Request>,
    auth: Option<&Auth>,
    refusal: Refusal,
) -> (SoapVersion, u16, String) {
    camera.lock().unwrap().faults += 1;
    on_request(Handled {
        request,
        auth,
        fault: Some(refusal.code),
    });
    let (status, xml) = answers::fault(refusal.version, refusal.code, &refusal.reason);
    (refusal.version, status, xml)
}
