//! The ready launch lines in `pipelines/` stay true to the elements: each
//! parses (every element exists, every property and value is accepted).
//! Placeholders (`{video}`) are filled with harmless values first.

mod common;

#[test]
fn every_ready_pipeline_parses() {
    common::init();
    let dir = common::repo().join("pipelines");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut line: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ");
        for (placeholder, value) in [
            ("{video}", "/dev/null"),
            ("{mqtt_host}", "127.0.0.1"),
            ("{mqtt_port}", "1883"),
            ("{conninfo}", "host=127.0.0.1"),
            ("{camera}", "plaza"),
            ("{uri}", "rtsp://127.0.0.1/cam"),
            ("{out}", "/tmp"),
            ("{port}", "8080"),
            ("{servo}", ""),
        ] {
            line = line.replace(placeholder, value);
        }
        assert!(
            !line.contains('{'),
            "{}: unknown placeholder in {line}",
            path.display()
        );
        if let Err(e) = gst::parse::launch(&line) {
            panic!("{} does not parse: {e}\n{line}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 6, "{checked} pipelines in {}", dir.display());
}
