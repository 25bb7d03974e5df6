//! The tables `pgsink` writes, created or migrated by the element.

/// Current schema version, stored in `<schema>.schema_version`.
pub const VERSION: i32 = 2;

/// Advisory lock held while creating or checking the schema ("cctvpg").
pub const LOCK_KEY: i64 = 0x6363_7476_7067;

/// Statements creating version 1 in schema `s` (an already validated identifier).
pub fn create_v1(s: &str) -> String {
    format!(
        r#"
CREATE SCHEMA IF NOT EXISTS "{s}";
CREATE TABLE IF NOT EXISTS "{s}".schema_version (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS "{s}".cameras (
    camera_id text PRIMARY KEY,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS "{s}".tracks (
    camera_id text NOT NULL REFERENCES "{s}".cameras,
    run_id bigint NOT NULL,
    track_id bigint NOT NULL,
    class_id integer NOT NULL,
    label text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    duration_s double precision NOT NULL,
    best_confidence real NOT NULL,
    gender text,
    gender_confidence real,
    attributes jsonb NOT NULL DEFAULT '[]',
    last_x real, last_y real, last_w real, last_h real,
    frames bigint NOT NULL,
    ended boolean NOT NULL DEFAULT false,
    PRIMARY KEY (camera_id, run_id, track_id)
);
CREATE INDEX IF NOT EXISTS tracks_first_seen ON "{s}".tracks (first_seen);
CREATE INDEX IF NOT EXISTS tracks_camera_time ON "{s}".tracks (camera_id, first_seen);
CREATE TABLE IF NOT EXISTS "{s}".events (
    camera_id text NOT NULL REFERENCES "{s}".cameras,
    run_id bigint NOT NULL,
    track_id bigint NOT NULL,
    kind text NOT NULL CHECK (kind IN ('enter', 'exit')),
    ts timestamptz NOT NULL,
    stream_ns bigint NOT NULL,
    label text NOT NULL,
    PRIMARY KEY (camera_id, run_id, track_id, kind)
);
CREATE INDEX IF NOT EXISTS events_camera_time ON "{s}".events (camera_id, ts);
CREATE TABLE IF NOT EXISTS "{s}".detections (
    camera_id text NOT NULL REFERENCES "{s}".cameras,
    run_id bigint NOT NULL,
    stream_ns bigint NOT NULL,
    idx integer NOT NULL,
    ts timestamptz NOT NULL,
    track_id bigint,
    class_id integer NOT NULL,
    label text NOT NULL,
    confidence real NOT NULL,
    x real NOT NULL, y real NOT NULL, w real NOT NULL, h real NOT NULL,
    PRIMARY KEY (camera_id, run_id, stream_ns, idx)
);
CREATE INDEX IF NOT EXISTS detections_camera_time ON "{s}".detections (camera_id, ts);
"#
    )
}

/// Statements taking schema `s` from version 1 to 2: classifier results
/// live only in `tracks.attributes` (every attribute, whatever element
/// wrote it), and the view `track_attributes` has one row per attribute.
/// Version 1's `gender` and `gender_confidence` columns stay readable,
/// computed from the attributes, so queries written for version 1 work.
pub fn migrate_v1_to_v2(s: &str) -> String {
    let gender = r#"jsonb_path_query_first(attributes, '$[*] ? (@.name == "gender")')"#;
    format!(
        r#"
ALTER TABLE "{s}".tracks DROP COLUMN gender, DROP COLUMN gender_confidence;
ALTER TABLE "{s}".tracks
    ADD COLUMN gender text GENERATED ALWAYS AS ({gender} ->> 'label') STORED,
    ADD COLUMN gender_confidence real GENERATED ALWAYS AS (({gender} -> 'confidence')::real) STORED;
CREATE OR REPLACE VIEW "{s}".track_attributes AS
    SELECT t.camera_id, t.run_id, t.track_id, a ->> 'name' AS name, a ->> 'label' AS label,
           (a -> 'confidence')::real AS confidence, a ->> 'source' AS source
    FROM "{s}".tracks t, jsonb_array_elements(t.attributes) a;
UPDATE "{s}".schema_version SET version = 2;
"#
    )
}

/// Checks a schema name: a plain lower-case SQL identifier, so it can be quoted safely.
pub fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && name.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(valid_identifier("cctv"));
        assert!(valid_identifier("site_2"));
        for bad in [
            "",
            "2x",
            "Cctv",
            "a-b",
            "x\"; drop table t; --",
            &"a".repeat(64),
        ] {
            assert!(!valid_identifier(bad), "{bad}");
        }
    }
}
