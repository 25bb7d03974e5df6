//! The virtual camera's ONVIF PTZ service: one HTTP thread (`tiny_http`)
//! answering SOAP requests by moving the simulated head.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use cctv::ptz::head::{Head, Motion};

use crate::onvif::camera::{self, Auth, Operation, Request};
use crate::onvif::{MoveStatus, Status};

/// Larger requests are refused (a PTZ request is well under 4 KiB).
const MAX_REQUEST: u64 = 64 * 1024;

/// What the service and the streaming thread share.
pub struct Camera {
    pub head: Head,
    pub profile: String,
    /// User and password a request must prove; `None`: anyone may move it.
    pub login: Option<(String, String)>,
    pub requests: u64,
    pub faults: u64,
}

/// What the service did with a request, for the element's messages.
pub struct Handled<'a> {
    pub request: Option<&'a Request>,
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
                            Ok(Some(request)) => answer(request, &camera, &on_request),
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

fn answer(mut http: tiny_http::Request, camera: &Mutex<Camera>, on_request: &impl Fn(Handled<'_>)) {
    let mut body = String::new();
    let read = http.as_reader().take(MAX_REQUEST).read_to_string(&mut body);
    let (status, xml) = match read {
        Err(e) => {
            let fault = ("ter:WellFormed", format!("unreadable request: {e}"));
            refuse(camera, on_request, None, fault)
        }
        Ok(_) => {
            let login = camera.lock().unwrap().login.clone();
            let parsed = camera::parse_request(&body, |user| {
                login
                    .as_ref()
                    .filter(|(u, _)| u == user)
                    .map(|(_, p)| p.clone())
            });
            match parsed {
                Err(fault) => refuse(camera, on_request, None, fault),
                Ok(request) => serve(camera, on_request, request),
            }
        }
    };
    let header = tiny_http::Header::from_bytes(
        &b"Content-Type"[..],
        &b"application/soap+xml; charset=utf-8"[..],
    )
    .expect("a valid header");
    let response = tiny_http::Response::from_string(xml)
        .with_status_code(status)
        .with_header(header);
    // The client may have gone: nothing to do about it.
    http.respond(response).ok();
}

fn serve(
    camera: &Mutex<Camera>,
    on_request: &impl Fn(Handled<'_>),
    request: Request,
) -> (u16, String) {
    let mut cam = camera.lock().unwrap();
    let authorised = match &request.auth {
        Auth::Valid { .. } => true,
        Auth::Anonymous => cam.login.is_none(),
        Auth::Invalid { .. } => false,
    };
    if !authorised {
        drop(cam);
        let fault = ("ter:NotAuthorized", "Sender not authorized".to_string());
        return refuse(camera, on_request, Some(&request), fault);
    }
    if request.profile != cam.profile {
        drop(cam);
        let fault = (
            "ter:NoProfile",
            format!("no media profile {:?}", request.profile),
        );
        return refuse(camera, on_request, Some(&request), fault);
    }
    cam.requests += 1;
    match &request.operation {
        Operation::ContinuousMove { pan, tilt, zoom } => {
            cam.head.command(Motion::Velocity([*pan, *tilt, *zoom]))
        }
        Operation::Stop { pan_tilt, zoom } => cam.head.command(Motion::Stop {
            pan_tilt: *pan_tilt,
            zoom: *zoom,
        }),
        // The virtual camera's home and only preset is the centre, widest.
        Operation::GotoHomePosition | Operation::GotoPreset { .. } => {
            cam.head.command(Motion::GoTo([0.0; 3]))
        }
        Operation::GetStatus => {}
    }
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
    drop(cam);
    on_request(Handled {
        request: Some(&request),
        fault: None,
    });
    (200, camera::response(&request.operation, &status))
}

fn refuse(
    camera: &Mutex<Camera>,
    on_request: &impl Fn(Handled<'_>),
    request: Option<&Request>,
    (code, reason): (&str, String),
) -> (u16, String) {
    camera.lock().unwrap().faults += 1;
    on_request(Handled {
        request,
        fault: Some(code),
    });
    (400, camera::fault(code, &reason))
}
