//! Third-party ONVIF software against `virtualptz`: Home Assistant's client
//! (PyPI `onvif-zeep-async`, pinned in scripts/onvif-clients.txt, in the
//! venv scripts/fetch-assets makes) finds the camera through its own
//! discovery (clock, GetServices, GetCapabilities) and drives media and PTZ
//! with zeep checking every answer against the ONVIF schemas; with the
//! right password, a wrong one, and the camera's clock ten minutes off.

use std::sync::{Arc, Mutex};

use gst::prelude::*;
use serde_json::Value;

const USER: &str = "op&x";
const PASSWORD: &str = "s3cret<1>";

/// A virtual camera on a live picture (its motors run in stream time) with
/// a login; its port and the requests it posted.
fn camera(props: &str) -> (gst::Pipeline, u16, Arc<Mutex<Vec<gst::Structure>>>) {
    support::init();
    let port = support::free_port();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! virtualptz name=cam port={port} {props} ! fakesink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let cam = pipeline.by_name("cam").unwrap();
    cam.set_property("user-id", USER);
    cam.set_property("user-pw", PASSWORD);
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
        if let gst::MessageView::Element(e) = msg.view()
            && let Some(s) = e.structure()
            && s.name() == "virtualptz/request"
        {
            seen.lock().unwrap().push(s.to_owned());
        }
        gst::BusSyncReply::Pass
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    (pipeline, port, requests)
}

/// Runs Home Assistant's client against the camera at `port`; what it
/// reported (see tests/fixtures/onvif_zeep_client.py).
fn home_assistant_client(port: u16, password: &str, adjust_time: bool) -> Value {
    let python = support::assets().join("venv/onvif-clients/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/setup (it makes the ONVIF clients' venv)",
        python.display()
    );
    let script = support::repo().join("tests/fixtures/onvif_zeep_client.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .args(["127.0.0.1", &port.to_string(), USER, password])
        .arg(if adjust_time { "1" } else { "0" })
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn steps(report: &Value) -> Vec<&str> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// Every step of the client went through and did what it says.
fn assert_drove_the_camera(report: &Value, requests: &[gst::Structure]) {
    assert_eq!(
        steps(report),
        [
            "update_xaddrs",
            "GetCapabilities",
            "GetDeviceInformation",
            "GetProfiles",
            "GetNodes",
            "GetConfigurationOptions",
            "GetStatus",
            "SetPreset",
            "ContinuousMove",
            "Stop",
            "GotoPreset",
            "GetPresets"
        ],
        "{report:#}"
    );
    assert!(report.get("error").is_none(), "{report:#}");
    let ptz = report["xaddrs"]["http://www.onvif.org/ver20/ptz/wsdl"]
        .as_str()
        .unwrap();
    assert!(ptz.ends_with("/onvif/ptz_service"), "{report:#}");
    assert_eq!(report["capabilities_ptz"].as_str(), Some(ptz));
    assert_eq!(report["profile"], "Profile_1");
    assert_eq!(report["model"], "virtualptz");
    assert_eq!(report["pan_velocity_range"], serde_json::json!([-1.0, 1.0]));
    assert_eq!(report["options_zoom_spaces"], 1);
    assert_eq!(report["status_before"]["move"], "IDLE");
    // Half speed right and a quarter down for about a second.
    let (pan, tilt) = (
        report["status_moved"]["pan"].as_f64().unwrap(),
        report["status_moved"]["tilt"].as_f64().unwrap(),
    );
    assert!(pan > 0.2 && tilt < -0.1 && tilt > -pan, "{report:#}");
    // The preset's name comes back whole through the entities.
    assert_eq!(
        report["presets"],
        serde_json::json!([[report["preset"].clone(), "door & gate"]])
    );
    // What the camera saw: authenticated as the user (whose name has an
    // entity), and no fault.
    let ops: Vec<&str> = requests
        .iter()
        .map(|r| r.get::<&str>("operation").unwrap())
        .collect();
    for op in [
        "GetSystemDateAndTime",
        "GetServices",
        "GetCapabilities",
        "GetProfiles",
        "GetStatus",
        "ContinuousMove",
        "Stop",
        "GotoPreset",
    ] {
        assert!(ops.contains(&op), "{op} not in {ops:?}");
    }
    for r in requests {
        assert!(!r.has_field("fault"), "{r}");
        if r.get::<&str>("operation").unwrap() == "GetProfiles" {
            assert_eq!(r.get::<&str>("user").unwrap(), USER);
            assert!(r.get::<bool>("authenticated").unwrap());
        }
    }
}

#[test]
fn home_assistants_client_drives_the_camera_from_its_address() {
    let (pipeline, port, requests) = camera("");
    let report = home_assistant_client(port, PASSWORD, true);
    pipeline.set_state(gst::State::Null).unwrap();
    assert_drove_the_camera(&report, &requests.lock().unwrap());
}

#[test]
fn a_wrong_password_is_a_not_authorized_fault() {
    let (pipeline, port, requests) = camera("");
    let report = home_assistant_client(port, "not-the-password", true);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(steps(&report).is_empty(), "{report:#}");
    assert_eq!(report["error"]["type"], "Fault", "{report:#}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("Sender not authorized"), "{message}");
    assert!(!message.contains("not-the-password"), "{message}");
    let requests = requests.lock().unwrap();
    let refused: Vec<&gst::Structure> = requests
        .iter()
        .filter(|r| r.get::<&str>("fault").ok() == Some("ter:NotAuthorized"))
        .collect();
    assert!(!refused.is_empty(), "{requests:?}");
    for r in refused {
        assert_eq!(r.get::<&str>("user").unwrap(), USER);
        assert!(!r.get::<bool>("authenticated").unwrap());
    }
}

/// A camera ten minutes ahead (no NTP): the client that reads its clock
/// first (`adjust_time`, what Home Assistant does) gets in; one that writes
/// its own time into the digest is refused by the freshness window.
#[test]
fn a_camera_clock_ten_minutes_off_needs_a_client_that_reads_it() {
    let (pipeline, port, requests) = camera("clock-offset=600");
    let adjusted = home_assistant_client(port, PASSWORD, true);
    let seen = requests.lock().unwrap().len();
    let unadjusted = home_assistant_client(port, PASSWORD, false);
    pipeline.set_state(gst::State::Null).unwrap();

    let requests = requests.lock().unwrap();
    assert_drove_the_camera(&adjusted, &requests[..seen]);
    let dt_diff = adjusted["dt_diff"].as_f64().unwrap();
    assert!((dt_diff - 600.0).abs() < 3.0, "{adjusted:#}");

    assert!(steps(&unadjusted).is_empty(), "{unadjusted:#}");
    let message = unadjusted["error"]["message"].as_str().unwrap();
    assert!(message.contains("from the camera's clock"), "{message}");
}
