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
        .args(support::browser::HEADLESS)
        .arg("--window-size=800,620")
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

// WebRTC: each test runs in a network namespace of its own with only
// loopback (see `support::private_network`), where the element offers
// 127.0.0.1 and chromium may use loopback.

/// The camera with WebRTC offered on loopback.
fn webrtc_camera(props: &str) -> (support::Monitored, String) {
    camera(&format!("webrtc-addresses=127.0.0.1 {props}"))
}

/// The camera's WebRTC viewers and the frames encoded for them so far.
fn webrtc(base: &str) -> (u64, u64) {
    let c = camera_json(base);
    let w = &c["webrtc"];
    (
        w["viewers"]
            .as_u64()
            .unwrap_or_else(|| panic!("no WebRTC: {c}")),
        w["encoded"].as_u64().unwrap(),
    )
}

/// Polls `check` every 100 ms until it gives a value; panics after `limit`.
fn poll<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Frames the first camera's WebRTC video decoded (getStats), 0 before it
/// has a session.
const FRAMES_DECODED: &str = "(async () => {
  const f = document.querySelector('figure');
  if (!f || !f.session) return 0;
  let n = 0;
  (await f.session.pc.getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') n = r.framesDecoded || 0;
  });
  return n;
})()";

/// Waits until `page` has decoded at least `frames` frames over WebRTC;
/// the count then.
fn decoded(browser: &mut support::Browser, page: &support::Page, frames: u64) -> u64 {
    poll("frames decoded", Duration::from_secs(30), || {
        let n = browser.eval(page, FRAMES_DECODED).as_u64().unwrap_or(0);
        (n >= frames).then_some(n)
    })
}

/// Checks that the camera's encoder stopped: what it encoded no longer
/// grows (after the frame its one-frame queue held). Returns the count.
fn encoder_stopped(base: &str) -> u64 {
    std::thread::sleep(Duration::from_millis(500));
    let stopped = webrtc(base).1;
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(webrtc(base).1, stopped, "encoding went on without viewers");
    stopped
}

/// Stops the page's MJPEG pictures (the page's `cctv.whep` stays).
const NO_MJPEG: &str =
    "for (const i of document.querySelectorAll('img')) i.removeAttribute('src'); true";

#[test]
fn a_browser_plays_webrtc_and_the_encoder_stops_when_it_leaves() {
    if !support::private_network(
        "liveview::a_browser_plays_webrtc_and_the_encoder_stops_when_it_leaves",
    ) {
        return;
    }
    let (_launch, base) = webrtc_camera("");
    assert_eq!(webrtc(&base), (0, 0), "nobody watches, nothing is encoded");

    let mut browser = support::Browser::start();
    let page = browser.open(&format!("{base}/?view=webrtc"));
    let first = decoded(&mut browser, &page, 5);
    std::thread::sleep(Duration::from_secs(2));
    let later = browser.eval(&page, FRAMES_DECODED).as_u64().unwrap();
    assert!(later > first, "decoding stopped at {first} frames");
    assert_eq!(webrtc(&base).0, 1);

    // The page goes back to MJPEG: its session ends with a DELETE.
    browser.eval(
        &page,
        "document.querySelector('figure button').click(); true",
    );
    poll("WebRTC viewer gone", Duration::from_secs(5), || {
        (webrtc(&base).0 == 0).then_some(())
    });
    assert!(encoder_stopped(&base) > 0);

    // A viewer that vanishes without a goodbye (the browser killed) is
    // noticed and freed.
    browser.eval(
        &page,
        "document.querySelector('figure button').click(); true",
    );
    decoded(&mut browser, &page, 1);
    assert_eq!(webrtc(&base).0, 1);
    drop(browser);
    let killed = Instant::now();
    poll("vanished viewer freed", Duration::from_secs(20), || {
        (webrtc(&base).0 == 0).then_some(())
    });
    println!(
        "vanished viewer freed {:.1} s after its browser was killed",
        killed.elapsed().as_secs_f64()
    );
    encoder_stopped(&base);
}

/// Ctrl+C while a browser watches over WebRTC ends cleanly: no viewer's
/// elements are left behind in a running state.
#[test]
fn a_camera_stopped_while_watched_over_webrtc_ends_cleanly() {
    if !support::private_network(
        "liveview::a_camera_stopped_while_watched_over_webrtc_ends_cleanly",
    ) {
        return;
    }
    let (launch, base) = webrtc_camera("");
    let mut browser = support::Browser::start();
    let page = browser.open(&format!("{base}/?view=webrtc"));
    decoded(&mut browser, &page, 5);
    assert_eq!(webrtc(&base).0, 1);
    let said = launch.stop();
    assert!(
        !said.contains("CRITICAL") && !said.contains("WARN"),
        "gst-launch-1.0 said:\n{said}"
    );
}

/// Threads and resident memory (KiB) of process `pid`.
fn threads_and_rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap()
    };
    (field("Threads:"), field("VmRSS:"))
}

#[test]
fn webrtc_viewers_coming_and_going_leave_no_threads_or_memory_behind() {
    if !support::private_network(
        "liveview::webrtc_viewers_coming_and_going_leave_no_threads_or_memory_behind",
    ) {
        return;
    }
    let (launch, base) = webrtc_camera("max-webrtc-viewers=12");
    camera_json(&base);
    let mut browser = support::Browser::start();
    let page = browser.open(&format!("{base}/"));
    browser.eval(&page, NO_MJPEG);
    // Ten viewers one after another, each until it decodes a frame; half
    // leave with a DELETE, half just close (freed when they fall silent).
    let round = "(async () => {
      const v = document.createElement('video');
      v.muted = true;
      document.body.append(v);
      let decoded = 0;
      for (let i = 0; i < 10; i++) {
        const s = await cctv.whep('gate', v);
        for (let t = 0; t < 150; t++) {
          let n = 0;
          (await s.pc.getStats()).forEach(r => {
            if (r.type === 'inbound-rtp' && r.kind === 'video') n = r.framesDecoded || 0;
          });
          if (n > 0) { decoded++; break; }
          await new Promise(r => setTimeout(r, 100));
        }
        if (i % 2) s.close(); else s.pc.close();
      }
      v.remove();
      return decoded;
    })()";
    let mut after = Vec::new();
    for r in 0..2 {
        assert_eq!(
            browser.eval(&page, round),
            10,
            "round {r}: every viewer decodes"
        );
        poll("viewers freed", Duration::from_secs(20), || {
            (webrtc(&base).0 == 0).then_some(())
        });
        // What the freed sessions' threads need to end.
        std::thread::sleep(Duration::from_secs(1));
        after.push(threads_and_rss(launch.pid()));
    }
    let [(threads1, rss1), (threads2, rss2)] = after[..] else {
        unreachable!()
    };
    println!(
        "after 10 WebRTC viewers: {threads1} threads, {} MiB; after 20: {threads2} threads, {} MiB",
        rss1 / 1024,
        rss2 / 1024
    );
    assert!(
        threads2 <= threads1,
        "threads grew from {threads1} to {threads2}"
    );
    assert!(
        rss2 < rss1 + 8 * 1024,
        "memory grew from {rss1} KiB to {rss2} KiB over ten viewers"
    );
}

#[test]
fn the_webrtc_viewer_limit_refuses_cleanly() {
    if !support::private_network("liveview::the_webrtc_viewer_limit_refuses_cleanly") {
        return;
    }
    let (_launch, base) = webrtc_camera("max-webrtc-viewers=2");
    camera_json(&base);
    let mut browser = support::Browser::start();
    let page = browser.open(&format!("{base}/"));
    browser.eval(&page, NO_MJPEG);
    let answers = browser.eval(
        &page,
        "(async () => {
          const out = [];
          window.sessions = [];
          for (let i = 0; i < 3; i++) {
            try { sessions.push(await cctv.whep('gate', document.createElement('video'))); out.push('ok'); }
            catch (e) { out.push(e.message); }
          }
          return out;
        })()",
    );
    assert_eq!(answers[0], "ok", "{answers}");
    assert_eq!(answers[1], "ok", "{answers}");
    let refusal = answers[2].as_str().unwrap();
    assert!(
        refusal.starts_with("HTTP 503: camera gate has its 2 WebRTC viewers already"),
        "{refusal}"
    );
    assert_eq!(webrtc(&base).0, 2);
    // The two admitted viewers play on.
    let decoding = "(async () => {
      const n = [];
      for (const s of sessions) {
        let f = 0;
        (await s.pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp') f = r.framesDecoded || 0; });
        n.push(f);
      }
      return n;
    })()";
    poll("both viewers decode", Duration::from_secs(30), || {
        let n = browser.eval(&page, decoding);
        n.as_array()
            .unwrap()
            .iter()
            .all(|f| f.as_u64() > Some(0))
            .then_some(())
    });
    // One leaves: a new viewer gets its place.
    let again = browser.eval(
        &page,
        "(async () => {
          sessions.shift().close();
          await new Promise(r => setTimeout(r, 500));
          sessions.push(await cctv.whep('gate', document.createElement('video')));
          return 'ok';
        })()",
    );
    assert_eq!(again, "ok");
    assert_eq!(webrtc(&base).0, 2);
}

#[test]
fn whep_follows_the_access_rules() {
    if !support::private_network("liveview::whep_follows_the_access_rules") {
        return;
    }
    let (_launch, base) = webrtc_camera("");
    camera_json(&base);
    // What any client (no browser, no Origin) gets.
    assert_eq!(
        raw_status(&base, "POST", "/whep/gate", "text/plain", "v=0"),
        415
    );
    assert_eq!(
        raw_status(&base, "POST", "/whep/gate", "application/sdp", "no sdp"),
        400
    );
    assert_eq!(
        raw_status(&base, "POST", "/whep/nosuch", "application/sdp", "v=0"),
        404
    );
    assert_eq!(
        raw_status(&base, "GET", "/whep/gate", "text/plain", ""),
        405
    );
    assert_eq!(
        raw_status(&base, "DELETE", "/whep/gate/0123", "text/plain", ""),
        404
    );
    let port = base.rsplit(':').next().unwrap();

    let mut browser = support::Browser::start();
    // The same page from another origin (localhost, not 127.0.0.1): its
    // offer needs a CORS preflight, which the server never grants.
    let other = browser.open(&format!("http://localhost:{port}/"));
    browser.eval(&other, NO_MJPEG);
    let offer = "(async () => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', {direction: 'recvonly'});
      const o = await pc.createOffer();
      pc.close();
      return o.sdp;
    })()";
    let sdp = browser.eval(&other, offer);
    let cross = format!(
        "fetch('http://127.0.0.1:{port}/whep/gate', {{method: 'POST', headers: {{'Content-Type': 'application/sdp'}}, body: {sdp}}})
           .then(r => 'answered ' + r.status, e => 'refused: ' + e.message)"
    );
    let answer = browser.eval(&other, &cross);
    assert_eq!(answer, "refused: Failed to fetch");
    // A form-like POST (no preflight) reaches the server, which wants SDP.
    let simple = format!(
        "fetch('http://127.0.0.1:{port}/whep/gate', {{method: 'POST', mode: 'no-cors', headers: {{'Content-Type': 'text/plain'}}, body: {sdp}}})
           .then(r => 'sent', e => 'refused: ' + e.message)"
    );
    assert_eq!(browser.eval(&other, &simple), "sent");
    assert_eq!(webrtc(&base), (0, 0), "another site started a session");

    // From the page's own origin it works.
    let own = browser.open(&format!("{base}/"));
    browser.eval(&own, NO_MJPEG);
    let ok = browser.eval(
        &own,
        "cctv.whep('gate', document.createElement('video')).then(s => s.session)",
    );
    let session = ok.as_str().unwrap().to_owned();
    assert!(session.starts_with("/whep/gate/"), "{ok}");
    assert_eq!(webrtc(&base).0, 1);
    // Only its own address ends a session.
    assert_eq!(
        raw_status(&base, "DELETE", &format!("{session}0"), "text/plain", ""),
        404
    );
    assert_eq!(webrtc(&base).0, 1);
    assert_eq!(raw_status(&base, "DELETE", &session, "text/plain", ""), 200);
    assert_eq!(webrtc(&base).0, 0);
}

/// The status of a plain HTTP/1.1 request to the exporter at `base`.
fn raw_status(base: &str, method: &str, path: &str, kind: &str, body: &str) -> u16 {
    use std::io::Write;
    let address = base.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok();
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status: {answer:?}"))
}
