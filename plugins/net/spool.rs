//! The on-disk spool of a network sink: records that could not be delivered
//! (server away, or the process stopping) are appended to a file and
//! delivered from it, oldest first, once the server is back, in this run or
//! the next one. It is what makes a sink store-and-forward across crashes.
//!
//! Layout: `<spool-location>/<name>/records.jsonl` holds one JSON record a
//! line; `consumed` holds how many bytes of it were delivered (written to a
//! temporary file and renamed, so a crash leaves the old or the new value);
//! `lock` is held locked while a sink uses the folder, so two sinks cannot
//! share one. A line cut short by a crash is dropped on open. Records reach
//! the disk on every append (`write`), not on every `fsync`: a killed process
//! loses nothing, a power cut may lose the last seconds.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Records read from the front of the spool, and the lines they take.
pub struct Peeked<T> {
    pub items: Vec<T>,
    span: Span,
}

/// A run of lines at the front of the file.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    lines: u64,
    bytes: u64,
}

pub struct Spool {
    dir: PathBuf,
    file: File,
    /// Bytes of `records.jsonl` already delivered.
    consumed: u64,
    /// Size of `records.jsonl`.
    size: u64,
    /// Records not delivered yet.
    count: u64,
    max_bytes: u64,
    _lock: File,
}

impl Spool {
    /// Opens (or creates) the spool `name` under `location`, taking its lock.
    pub fn open(location: &Path, name: &str, max_bytes: u64) -> Result<Spool, String> {
        let dir = location.join(name);
        fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create spool folder {}: {e}", dir.display()))?;
        let lock = File::create(dir.join("lock"))
            .map_err(|e| format!("cannot open spool lock in {}: {e}", dir.display()))?;
        lock.try_lock().map_err(|_| {
            format!(
                "spool folder {} is in use by another sink (give each sink its own camera-id or spool-location)",
                dir.display()
            )
        })?;
        let path = dir.join("records.jsonl");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open spool {}: {e}", path.display()))?;
        let consumed = fs::read_to_string(dir.join("consumed"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        // Count the complete lines after `consumed`; cut a torn last line.
        let mut count = 0;
        let mut end = consumed;
        file.seek(SeekFrom::Start(consumed))
            .map_err(|e| format!("cannot read spool {}: {e}", path.display()))?;
        let mut reader = BufReader::new(&file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("cannot read spool {}: {e}", path.display()))?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            end += n as u64;
            count += 1;
        }
        file.set_len(end)
            .map_err(|e| format!("cannot repair spool {}: {e}", path.display()))?;
        let mut spool = Spool {
            dir,
            file,
            consumed,
            size: end,
            count,
            max_bytes,
            _lock: lock,
        };
        if count == 0 {
            spool.reset()?;
        }
        Ok(spool)
    }

    /// Records waiting in the spool.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends records; when the spool would grow past its size limit, the
    /// oldest records are dropped to make room. Returns how many were dropped.
    pub fn append<T: Serialize>(&mut self, records: &[T]) -> Result<u64, String> {
        if records.is_empty() {
            return Ok(0);
        }
        let mut bytes = Vec::new();
        for r in records {
            serde_json::to_writer(&mut bytes, r).map_err(|e| format!("cannot encode: {e}"))?;
            bytes.push(b'\n');
        }
        let mut dropped = 0;
        while self.count > 0 && self.size - self.consumed + bytes.len() as u64 > self.max_bytes {
            let skipped = self.skip(1)?;
            if skipped == 0 {
                break;
            }
            dropped += skipped;
        }
        self.file
            .write_all(&bytes)
            .map_err(|e| format!("cannot write spool {}: {e}", self.dir.display()))?;
        self.size += bytes.len() as u64;
        self.count += records.len() as u64;
        Ok(dropped)
    }

    /// Reads up to `max` of the oldest records without removing them. A
    /// line this build cannot read is skipped rather than blocking the
    /// spool forever (it still counts in the [`Peeked`] span).
    pub fn peek<T: DeserializeOwned>(&mut self, max: usize) -> Result<Peeked<T>, String> {
        let mut items = Vec::new();
        let span = self.read(max, |line| {
            if let Ok(r) = serde_json::from_slice(line) {
                items.push(r);
            }
        })?;
        Ok(Peeked { items, span })
    }

    /// Removes what `peek` returned (it was delivered).
    pub fn consume<T>(&mut self, peeked: &Peeked<T>) -> Result<(), String> {
        self.advance(peeked.span)
    }

    /// Drops the `n` oldest records; returns how many there were.
    fn skip(&mut self, n: usize) -> Result<u64, String> {
        let span = self.read(n, |_| {})?;
        self.advance(span)?;
        Ok(span.lines)
    }

    fn advance(&mut self, span: Span) -> Result<(), String> {
        self.consumed += span.bytes;
        self.count -= span.lines;
        if self.count == 0 {
            self.reset()
        } else {
            self.write_consumed()
        }
    }

    /// Calls `f` with each of up to `max` oldest lines (without the
    /// newline); returns the span they take.
    fn read(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> Result<Span, String> {
        let err = |e: std::io::Error| format!("cannot read spool {}: {e}", self.dir.display());
        let mut file = &self.file;
        file.seek(SeekFrom::Start(self.consumed)).map_err(err)?;
        let mut reader = BufReader::new(file.take(self.size - self.consumed));
        let mut line = Vec::new();
        let mut span = Span::default();
        for _ in 0..max {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(err)?;
            if n == 0 {
                break;
            }
            span.lines += 1;
            span.bytes += n as u64;
            f(line.strip_suffix(b"\n").unwrap_or(&line));
        }
        Ok(span)
    }

    /// Empties the file once everything in it was delivered.
    fn reset(&mut self) -> Result<(), String> {
        self.file
            .set_len(0)
            .map_err(|e| format!("cannot truncate spool {}: {e}", self.dir.display()))?;
        self.consumed = 0;
        self.size = 0;
        self.write_consumed()
    }

    fn write_consumed(&self) -> Result<(), String> {
        let tmp = self.dir.join("consumed.tmp");
        fs::write(&tmp, self.consumed.to_string())
            .and_then(|()| fs::rename(&tmp, self.dir.join("consumed")))
            .map_err(|e| format!("cannot write spool {}: {e}", self.dir.display()))
    }
}

/// A spool folder name for a sink of one camera: readable, and unique even
/// when two camera ids differ only in characters a file name cannot hold.
pub fn folder_name(element: &str, camera: &str) -> String {
    let readable: String = camera
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // FNV-1a: stable across builds, unlike std's hasher.
    let hash = camera.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{element}-{readable}-{:08x}", hash as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "cctv-spool-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        fs::remove_dir_all(&dir).ok();
        dir
    }

    #[test]
    fn records_survive_reopening_and_are_consumed_once() {
        let dir = temp();
        {
            let mut s = Spool::open(&dir, "a", 1 << 20).unwrap();
            s.append(&[1u32, 2, 3]).unwrap();
            let first = s.peek::<u32>(2).unwrap();
            assert_eq!(first.items, [1, 2]);
            s.consume(&first).unwrap();
            s.append(&[4u32]).unwrap();
        }
        let mut s = Spool::open(&dir, "a", 1 << 20).unwrap();
        assert_eq!(s.len(), 2);
        let rest = s.peek::<u32>(10).unwrap();
        assert_eq!(rest.items, [3, 4]);
        s.consume(&rest).unwrap();
        assert!(s.is_empty());
        drop(s);
        assert!(Spool::open(&dir, "a", 1 << 20).unwrap().is_empty());
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_the_size_is_bounded() {
        let dir = temp();
        {
            let mut s = Spool::open(&dir, "b", 1 << 20).unwrap();
            s.append(&["x".to_string()]).unwrap();
        }
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join("b/records.jsonl"))
            .unwrap();
        f.write_all(b"\"cut sho").unwrap();
        let mut s = Spool::open(&dir, "b", 20).unwrap();
        assert_eq!(s.peek::<String>(10).unwrap().items, ["x"]);
        // 20 bytes hold three 6-byte records: the oldest go first.
        let dropped: u64 = (0..5)
            .map(|i| s.append(&[format!("r{i:02}")]).unwrap())
            .sum();
        assert_eq!(dropped, 3);
        assert_eq!(s.peek::<String>(10).unwrap().items, ["r02", "r03", "r04"]);
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn one_sink_per_folder() {
        let dir = temp();
        let _a = Spool::open(&dir, "c", 1 << 20).unwrap();
        let err = Spool::open(&dir, "c", 1 << 20).err().unwrap();
        assert!(err.contains("in use"), "{err}");
        assert_ne!(
            folder_name("mqttsink", "a/b"),
            folder_name("mqttsink", "a_b")
        );
        fs::remove_dir_all(&dir).ok();
    }
}
