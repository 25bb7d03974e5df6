//! Benchmark of the live view as a viewer sees it: a camera (camsrc on an
//! in-process RTSP server playing the clip at its 10 fps) through detection
//! (`onnxdetect ! bytetrack ! cctvoverlay`) into `liveview timecode=true`,
//! watched by headless chromium over WebRTC and MJPEG side by side.
//!
//! Latency: camsrc stamps each frame's capture time, liveview draws it into
//! the picture, and the page reads it back from every frame it presents
//! (WebRTC: `requestVideoFrameCallback`; MJPEG: each animation frame, as an
//! `<img>` has no per-frame event) and subtracts it from its own clock at
//! that rendering step (the screen shows it at the next refresh, up to
//! 16.7 ms later, for both alike). p50 and p95 over a minute. Then this
//! process's CPU (pipeline and server; the browser is another process) and
//! the bytes viewers receive, with 1 and 4 viewers of each kind.
//!
//! Runs in a network namespace with only loopback. `./run bench` or
//! `cargo bench --bench latency`; `CCTV_LATENCY_SECONDS` (60) sets the
//! latency run's length.

use std::time::Duration;

use gst::prelude::*;

const PAGE_SCRIPT: &str = r#"
window.bench = (() => {
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  // The capture time in a picture (cctv::overlay::timecode's layout).
  function read(source, w) {
    const row = Math.floor(w / 64);
    if (row < 2) return null;
    canvas.width = w;
    canvas.height = 2 * row;
    ctx.drawImage(source, 0, 0, w, 2 * row, 0, 0, w, 2 * row);
    const d = ctx.getImageData(0, 0, w, 2 * row).data;
    const light = (x, y) => {
      const o = (y * w + x) * 4;
      return (d[o] * 299 + d[o + 1] * 587 + d[o + 2] * 114) / 1000 >= 128;
    };
    let ms = 0;
    for (let i = 0; i < 48; i++) {
      const x = Math.floor((Math.floor(i * w / 64) + Math.floor((i + 1) * w / 64)) / 2);
      const top = light(x, Math.floor(row / 2)), bottom = light(x, row + Math.floor(row / 2));
      if (top === bottom) return null;
      ms = ms * 2 + (top ? 1 : 0);
    }
    return ms;
  }
  function video() {
    const v = document.createElement('video');
    Object.assign(v, {muted: true, autoplay: true, playsInline: true});
    document.body.append(v);
    return v;
  }
  async function decoded(pc) {
    let n = 0, bytes = 0;
    (await pc.getStats()).forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') { n = r.framesDecoded || 0; bytes = r.bytesReceived || 0; }
    });
    return {n, bytes};
  }
  let sessions = [], readers = [], mjpegBytes = 0;
  return {
    async latency(seconds) {
      const v = video();
      const s = await cctv.whep('bench', v);
      const img = new Image();
      img.src = '/stream/bench';
      document.body.append(img);
      const webrtc = [], mjpeg = [];
      let lastW = null, lastM = null, unreadW = 0, unreadM = 0;
      const until = performance.now() + seconds * 1000;
      await new Promise(done => {
        const onVideo = (now, meta) => {
          const ms = read(v, meta.width);
          if (ms === null) unreadW++;
          else if (ms !== lastW) { lastW = ms; webrtc.push(performance.timeOrigin + now - ms); }
          if (performance.now() < until) v.requestVideoFrameCallback(onVideo);
        };
        v.requestVideoFrameCallback(onVideo);
        const onFrame = now => {
          if (img.complete && img.naturalWidth) {
            const ms = read(img, img.naturalWidth);
            if (ms === null) unreadM++;
            else if (ms !== lastM) { lastM = ms; mjpeg.push(performance.timeOrigin + now - ms); }
          }
          if (performance.now() < until) requestAnimationFrame(onFrame); else done();
        };
        requestAnimationFrame(onFrame);
      });
      s.close();
      img.removeAttribute('src');
      v.remove();
      img.remove();
      return {webrtc, mjpeg, unreadW, unreadM};
    },
    async webrtc(n) {
      for (let i = 0; i < n; i++) sessions.push(await cctv.whep('bench', video()));
      for (let t = 0; t < 300; t++) {
        const all = await Promise.all(sessions.map(s => decoded(s.pc)));
        if (all.every(d => d.n > 0)) return true;
        await new Promise(r => setTimeout(r, 100));
      }
      return false;
    },
    mjpeg(n) {
      for (let i = 0; i < n; i++) {
        const abort = new AbortController();
        readers.push(abort);
        fetch('/stream/bench', {signal: abort.signal}).then(async r => {
          const reader = r.body.getReader();
          for (;;) {
            const {done, value} = await reader.read();
            if (done) break;
            mjpegBytes += value.length;
          }
        }).catch(() => {});
      }
      return true;
    },
    async bytes() {
      let total = mjpegBytes;
      for (const s of sessions) total += (await decoded(s.pc)).bytes;
      return total;
    },
    stop() {
      for (const s of sessions) s.close();
      for (const r of readers) r.abort();
      sessions = [];
      readers = [];
      mjpegBytes = 0;
      for (const v of document.querySelectorAll('video')) v.remove();
      return true;
    },
  };
})();
true
"#;

/// The live camera and its analysed, annotated live view.
struct Camera {
    _server: support::RtspServer,
    pipeline: gst::Pipeline,
}

impl Camera {
    fn start() -> Camera {
        let clip = support::video();
        let server = support::RtspServer::start(
            &[(
                "cam",
                &format!(
                    "( filesrc location={} ! decodebin ! videoconvert ! identity sync=true \
                     ! jpegenc quality=85 ! rtpjpegpay name=pay0 pt=96 )",
                    clip.display()
                ),
            )],
            None,
        );
        let pipeline = gst::parse::launch(&format!(
            "camsrc uri={} camera-id=bench ! onnxdetect classes=person ! bytetrack ! cctvoverlay \
             ! liveview camera-id=bench max-fps=10 timecode=true webrtc-addresses=127.0.0.1 max-webrtc-viewers=8",
            server.url("cam", None)
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        Camera {
            _server: server,
            pipeline,
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.pipeline.set_state(gst::State::Null).ok();
    }
}

fn summary(name: &str, mut ms: Vec<f64>, unread: u64, seconds: f64) {
    ms.sort_by(f64::total_cmp);
    if ms.is_empty() {
        println!("{name}: no frame read ({unread} presented without a readable time code)");
        return;
    }
    println!(
        "{name}: p50 {:.0} ms, p95 {:.0} ms, min {:.0}, max {:.0} ({} frames in {seconds:.0} s, {unread} unreadable)",
        support::percentile(&ms, 0.5),
        support::percentile(&ms, 0.95),
        ms[0],
        ms[ms.len() - 1],
        ms.len(),
    );
}

fn main() {
    if !support::rerun_in_private_network(std::env::args().skip(1)) {
        return;
    }
    let port = support::free_port();
    // Before any thread starts: nothing else reads the environment yet.
    unsafe { std::env::set_var("CCTV_METRICS", format!("127.0.0.1:{port}")) };
    support::init();
    let seconds = support::env_or("CCTV_LATENCY_SECONDS", 60) as f64;
    let base = format!("http://127.0.0.1:{port}");
    let mut browser = support::Browser::start();

    let camera = Camera::start();
    std::thread::sleep(Duration::from_secs(5));
    let page = browser.open(&format!("{base}/"));
    browser.eval(
        &page,
        "for (const i of document.querySelectorAll('img')) i.removeAttribute('src'); true",
    );
    browser.eval(&page, PAGE_SCRIPT);
    println!(
        "live view latency, capture to presentation in chromium, 768x576 at 10 fps scaled to 640, detection running, {seconds:.0} s:"
    );
    let r = browser.eval(&page, &format!("bench.latency({seconds})"));
    let list = |key: &str| -> Vec<f64> {
        r[key]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_f64())
            .collect()
    };
    let unread = |key: &str| r[key].as_u64().unwrap_or(0);
    summary("  WebRTC", list("webrtc"), unread("unreadW"), seconds);
    summary("  MJPEG ", list("mjpeg"), unread("unreadM"), seconds);
    drop(camera);

    // A fresh connection: the clip plays from its start again.
    let camera = Camera::start();
    std::thread::sleep(Duration::from_secs(5));
    let window = 10.0;
    let idle = support::cpu_share(window);
    println!("CPU of the pipeline and server ({window:.0} s each), bytes to viewers:");
    println!("  nobody watching: {:.1} % of a core", idle * 100.0);
    for (kind, n) in [("webrtc", 1), ("webrtc", 4), ("mjpeg", 1), ("mjpeg", 4)] {
        assert_eq!(
            browser.eval(&page, &format!("bench.{kind}({n})")),
            true,
            "{kind} x{n} plays"
        );
        std::thread::sleep(Duration::from_secs(2));
        let b0 = browser.eval(&page, "bench.bytes()").as_f64().unwrap();
        let cpu = support::cpu_share(window);
        let b1 = browser.eval(&page, "bench.bytes()").as_f64().unwrap();
        browser.eval(&page, "bench.stop()");
        println!(
            "  {kind} x{n}: {:.1} % of a core ({:.1} % over idle, {:.1} % per viewer), {:.0} KiB/s per viewer",
            cpu * 100.0,
            (cpu - idle) * 100.0,
            (cpu - idle) * 100.0 / n as f64,
            (b1 - b0) / window / 1024.0 / n as f64,
        );
        std::thread::sleep(Duration::from_secs(SETTLE));
    }
    drop(camera);
}

/// Seconds for vanished sessions to be freed between measurements.
const SETTLE: u64 = 6;
