//! The HTTP API, served by the plugin's exporter beside `/metrics`,
//! `/health`, the page (`/`) and the video (`/stream/ID`):
//!
//! - `GET /api/cameras`: every camera; `GET /api/cameras/ID`: one;
//! - `POST /api/cameras/ID/start`, `/stop`, `/restart`: 202 with the state
//!   it is going to, or 200 and `"changed": false` when there is nothing to do;
//! - `POST /api/reload`: the config read again (as on SIGHUP);
//! - `GET /cameras.json`: what the page shows of each camera.

use std::sync::Arc;

use gstcctv::metrics::{App, Request, Response};
use serde_json::{Value, json};

use crate::camera::Action;
use crate::site::Site;

pub struct Api(pub Arc<Site>);

impl App for Api {
    fn handle(&self, request: &Request) -> Option<Response> {
        let site = &self.0;
        let path = request.path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let get = request.method == "GET";
        let post = request.method == "POST";
        Some(match parts.as_slice() {
            ["cameras.json"] if get => page_list(site),
            ["api", "cameras"] if get => {
                let list: Vec<_> = site.cameras().iter().map(|c| c.snapshot()).collect();
                Response::json(200, &json!({ "cameras": list }))
            }
            ["api", "cameras", id] if get => match site.camera(&decode(id)) {
                Some(c) => Response::json(200, &c.snapshot()),
                None => no_camera(id),
            },
            ["api", "cameras", id, action] if post => {
                let action = match *action {
                    "start" => Action::Start,
                    "stop" => Action::Stop,
                    "restart" => Action::Restart,
                    _ => return Some(not_found()),
                };
                let Some(camera) = site.camera(&decode(id)) else {
                    return Some(no_camera(id));
                };
                let outcome = camera.request(action);
                Response::json(
                    if outcome.changed { 202 } else { 200 },
                    &json!({
                        "id": camera.id,
                        "changed": outcome.changed,
                        "message": outcome.message,
                        "state": camera.state(),
                    }),
                )
            }
            ["api", "reload"] if post => match site.reload() {
                Ok(report) => Response::json(200, &json!(report)),
                Err(errors) => Response::json(400, &json!({ "errors": errors })),
            },
            ["api", ..] if !get && !post => {
                Response::json(405, &json!({"error": "use GET or POST"}))
            }
            ["api", ..] => not_found(),
            _ => return None,
        })
    }
}

/// The page's list: the liveview's fields (`camera`, `frames`, `objects`)
/// with the service's own.
fn page_list(site: &Site) -> Response {
    let list: Vec<_> = site
        .cameras()
        .iter()
        .map(|c| {
            let s = c.snapshot();
            let detail = match (s["state"].as_str(), s["camera"]["link"].as_str()) {
                (Some("ERROR"), _) => s["last_error"].as_str().unwrap_or_default().to_owned(),
                (Some("RUNNING"), Some(link)) if link != "connected" => {
                    format!(
                        "{link}: {}",
                        s["camera"]["last_reason"].as_str().unwrap_or_default()
                    )
                }
                _ => String::new(),
            };
            json!({
                "camera": s["id"],
                "name": s["name"],
                "state": s["state"],
                "run": s["run"],
                "frames": s["frames"],
                "objects": s["people_in_view"],
                "tracks": s["tracks"],
                "fps": s["fps"],
                "detail": detail,
                "controls": true,
                "webrtc": s["id"].as_str().map_or(Value::Null, gstcctv::metrics::view::webrtc),
            })
        })
        .collect();
    Response::json(200, &json!(list))
}

fn decode(id: &str) -> String {
    cctv::camera_uri::percent_decode(id)
}

fn no_camera(id: &str) -> Response {
    Response::json(
        404,
        &json!({ "error": format!("no camera {}", decode(id)) }),
    )
}

fn not_found() -> Response {
    Response::json(
        404,
        &json!({ "error": "no such endpoint (see the README: Site service)" }),
    )
}
