//! The live view as a user meets it: `liveview` in a plain
//! `gst-launch-1.0`, the page and streams on the exporter's address. Frames
//! are encoded only while someone watches and at most `max-fps`; a real
//! headless browser (Debian's chromium) shows the picture changing and
//! reads the counts.

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

/// A moving test picture (a bouncing ball) into `liveview`, served on a
/// free port; the base URL.
fn camera(props: &str) -> (support::Monitored, String) {
    let port = support::free_port();
    let pipeline = format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=480,framerate=15/1 \
         ! liveview camera-id=gate {props}"
    );
    let launch = support::gst_launch_monitored(&pipeline, port);
    (launch, format!("http://127.0.0.1:{port}"))
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    )
}

/// The one camera's entry of `/cameras.json`, once the page knows it.
fn camera_json(base: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut r) = agent().get(&format!("{base}/cameras.json")).call()
            && let Ok(text) = r.body_mut().read_to_string()
            && let Ok(serde_json::Value::Array(list)) = serde_json::from_str(&text)
            && let Some(c) = list.into_iter().next()
            && c["frames"].as_u64() > Some(0)
        {
            return c;
        }
        assert!(Instant::now() < deadline, "no camera listed at {base}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The JPEGs of `/stream/gate` read for `seconds`.
fn watch(base: &str, seconds: f64) -> Vec<Vec<u8>> {
    let mut response = agent().get(&format!("{base}/stream/gate")).call().unwrap();
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        kind.starts_with("multipart/x-mixed-replace; boundary="),
        "{kind}"
    );
    let mut reader = response.body_mut().as_reader();
    let mut data = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut chunk = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        let n = reader.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
    }
    // Parts: headers, a blank line, `Content-Length` bytes of JPEG.
    let mut pictures = Vec::new();
    let mut rest = &data[..];
    while let Some(at) = find(rest, b"Content-Length: ") {
        let after = &rest[at + 16..];
        let end = find(after, b"\r\n\r\n").unwrap_or(after.len());
        let Ok(len) = std::str::from_utf8(&after[..end])
            .unwrap()
            .trim()
            .parse::<usize>()
        else {
            break;
        };
        let body = &after[end + 4..];
        if body.len() < len {
            break;
        }
        pictures.push(body[..len].to_vec());
        rest = &body[len..];
    }
    pictures
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn pictures_are_encoded_only_while_watched_and_at_most_max_fps() {
    let (_launch, base) = camera("max-fps=4");
    let before = camera_json(&base);
    std::thread::sleep(Duration::from_secs(1));
    let idle = camera_json(&base);
    assert!(
        idle["frames"].as_u64() > before["frames"].as_u64(),
        "{idle}"
    );
    assert_eq!(
        idle["pictures"], 0,
        "nobody watches, nothing is encoded: {idle}"
    );
    assert_eq!(idle["viewers"], 0);

    let pictures = watch(&base, 3.0);
    // 4 per second of stream time, over 3 s of watching (and the first at once).
    assert!(
        (6..=14).contains(&pictures.len()),
        "{} pictures in 3 s at max-fps=4",
        pictures.len()
    );
    for p in &pictures {
        assert_eq!(&p[..2], &[0xFF, 0xD8], "a JPEG");
    }
    assert_ne!(pictures.first(), pictures.last(), "the picture moves");

    // The viewer left: encoding stops.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = camera_json(&base);
    while after["viewers"] != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        after = camera_json(&base);
    }
    assert_eq!(after["viewers"], 0, "{after}");
    std::thread::sleep(Duration::from_secs(1));
    let later = camera_json(&base);
    assert_eq!(
        later["pictures"], after["pictures"],
        "encoding went on: {later}"
    );
    assert!(later["frames"].as_u64() > after["frames"].as_u64());
}

/// Debian's chromium, headless, on loopback only: a screenshot of `url`
/// after `ms` milliseconds, or the DOM then.
fn chromium(url: &str, ms: u32, output: &str) -> std::process::Output {
    let profile = support::tempdir("chromium-profile");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--window-size=800,620",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--timeout={ms}"))
        .arg(output)
        .arg(url)
        .output()
        .expect("chromium runs (scripts/packages installs it)");
    std::fs::remove_dir_all(&profile).ok();
    out
}

#[test]
fn a_headless_browser_sees_the_picture_change_and_reads_the_counts() {
    let (_launch, base) = camera("");
    camera_json(&base);
    let dir = support::tempdir("liveview-shots");
    let shots: Vec<Vec<u8>> = (0..2)
        .map(|i| {
            let path = dir.join(format!("shot{i}.png"));
            let out = chromium(
                &format!("{base}/"),
                4000,
                &format!("--screenshot={}", path.display()),
            );
            std::fs::read(&path).unwrap_or_else(|_| {
                panic!("no screenshot: {}", String::from_utf8_lossy(&out.stderr))
            })
        })
        .collect();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(&shots[0][1..4], b"PNG");
    assert_ne!(
        shots[0], shots[1],
        "the live picture did not change between screenshots"
    );

    // The page fills in the counts from its first fetch; a loaded machine
    // may need longer than 3 s from the browser's start to get there.
    let mut dom = String::new();
    let mut frames = None;
    for ms in [3000, 6000, 12000] {
        let out = chromium(&format!("{base}/"), ms, "--dump-dom");
        dom = String::from_utf8_lossy(&out.stdout).into_owned();
        frames =
            between(&dom, "<span class=\"frames\">", "</span>").and_then(|t| t.parse::<u64>().ok());
        if frames.is_some() {
            break;
        }
    }
    let frames = frames.unwrap_or_else(|| panic!("no frame count in the page:\n{dom}"));
    assert!(frames > 0, "{dom}");
    assert!(
        between(&dom, "<span class=\"objects\">", "</span>").is_some(),
        "{dom}"
    );
    assert!(dom.contains("src=\"/stream/gate\""), "{dom}");
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = from + text[from..].find(end)?;
    Some(&text[from..to])
}
