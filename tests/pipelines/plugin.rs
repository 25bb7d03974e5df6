//! The built plugin as a GStreamer user meets it: `gst-inspect-1.0` with
//! `GST_PLUGIN_PATH` lists it with its details and documents every element.

use std::process::Command;

const ELEMENTS: [&str; 12] = [
    "agecls",
    "bytetrack",
    "camsrc",
    "cctvoverlay",
    "classify",
    "gendercls",
    "liveview",
    "mqttsink",
    "onnxdetect",
    "pgsink",
    "ptzservo",
    "virtualptz",
];

fn inspect(what: &str) -> String {
    let out = Command::new("gst-inspect-1.0")
        .arg(what)
        .env("GST_PLUGIN_PATH", support::plugin_dir())
        .output()
        .expect("gst-inspect-1.0 runs");
    assert!(
        out.status.success(),
        "gst-inspect-1.0 {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn detail<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in\n{text}"))
        .trim()
}

#[test]
fn plugin_details_and_elements() {
    let text = inspect("cctv");
    assert_eq!(detail(&text, "Name"), "cctv");
    assert_eq!(detail(&text, "License"), "MPL");
    assert_eq!(detail(&text, "Description"), env!("CARGO_PKG_DESCRIPTION"));
    let version = detail(&text, "Version");
    assert!(
        version.starts_with(env!("CARGO_PKG_VERSION")),
        "version {version}"
    );
    for element in ELEMENTS {
        assert!(
            text.lines()
                .any(|l| l.trim().starts_with(&format!("{element}: "))),
            "{element} not listed:\n{text}"
        );
    }
    assert!(
        text.contains(&format!("{} elements", ELEMENTS.len())),
        "{text}"
    );
}

/// The properties the issues ask for, each with a blurb; numeric ones show their range.
#[test]
fn every_element_documents_its_properties() {
    let wanted: [(&str, &[&str]); 7] = [
        (
            "camsrc",
            &[
                "uri",
                "user-id",
                "user-pw",
                "credentials-file",
                "camera-id",
                "timeout",
                "retry-backoff",
                "max-backoff",
                "retry-timeout",
                "latency",
                "transport",
                "on-loss",
                "max-queue",
                "status",
                "stats",
            ],
        ),
        (
            "gendercls",
            &[
                "model",
                "face-model",
                "labels",
                "classes",
                "min-size",
                "reclassify-interval",
                "min-confidence",
                "threads",
                "execution-provider",
                "stats",
            ],
        ),
        (
            "bytetrack",
            &[
                "track-high-thresh",
                "track-low-thresh",
                "new-track-thresh",
                "match-thresh",
                "track-buffer",
                "frame-rate",
                "min-box-area",
                "classes",
            ],
        ),
        (
            "cctvoverlay",
            &[
                "camera-id",
                "line-thickness",
                "font-scale",
                "trail-length",
                "show-labels",
                "show-confidence",
                "show-attributes",
                "show-trails",
                "show-status",
                "color-by",
                "status-time",
            ],
        ),
        (
            "mqttsink",
            &[
                "host",
                "port",
                "client-id",
                "topic",
                "camera-id",
                "qos",
                "retain",
                "user-id",
                "user-pw",
                "ca-file",
                "keep-alive",
                "max-queued",
                "flush-timeout",
                "retry-timeout",
                "spool-location",
                "max-spool-size",
                "stats",
            ],
        ),
        (
            "onnxdetect",
            &[
                "model",
                "labels",
                "model-type",
                "conf-threshold",
                "iou-threshold",
                "classes",
                "interval",
                "threads",
                "execution-provider",
                "max-detections",
            ],
        ),
        (
            "pgsink",
            &[
                "conninfo",
                "camera-id",
                "schema",
                "batch-size",
                "flush-interval",
                "max-queued",
                "detections-interval",
                "create-schema",
                "flush-timeout",
                "retry-timeout",
                "spool-location",
                "max-spool-size",
                "stats",
            ],
        ),
    ];
    for (element, names) in wanted {
        let text = inspect(element);
        assert!(text.contains("Pad Templates:"), "{element}");
        let properties = text
            .split("Element Properties:")
            .nth(1)
            .unwrap_or_else(|| panic!("{element} has no properties section"));
        for name in names {
            // A property starts on a line indented by two spaces; its details follow, deeper.
            let mut lines = properties
                .lines()
                .skip_while(|l| !l.starts_with(&format!("  {name} ")));
            let first = lines
                .next()
                .unwrap_or_else(|| panic!("{element} has no property {name}"));
            let blurb = first.split_once(" : ").map_or("", |(_, b)| b.trim());
            assert!(blurb.len() > 10, "{element}.{name} has no blurb");
            let details: Vec<&str> = lines.take_while(|l| l.starts_with("    ")).collect();
            let details = details.join("\n");
            assert!(details.contains("flags:"), "{element}.{name}: {details}");
            if details.contains("Integer") || details.contains("Double") {
                assert!(details.contains("Range:"), "{element}.{name}: no range");
            }
        }
    }
}
