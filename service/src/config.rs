//! The site's config file, checked whole before anything starts: every
//! camera resolved to the elements of its pipeline with their properties,
//! each property checked against the element's own (name, type, range), and
//! every problem reported at once as `FILE: camera ID: FIELD: why`. Unknown
//! keys are errors. Credentials come from the file, a credentials file or
//! the environment; they are kept apart from what is shown (the URI's
//! address, never its user or password) and never printed.
//!
//! TOML, or JSON with the same keys. The design notes' NVR JSON (a
//! `server` with host, port and credentials, and `channels` with id, name
//! and path) is accepted as a whole file or from `[[nvr]] file = ...`.

use std::collections::{BTreeMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cctv::camera_uri::{CameraUri, percent_encode};
use gst::glib;
use gst::prelude::*;
use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
/// Shortest access token accepted: a guessable one is no protection.
const MIN_TOKEN_LEN: usize = 16;

/// A property value as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Value {
    /// The value for an error message.
    fn shown(&self) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => format!("{s:?}"),
        }
    }
}

type Props = BTreeMap<String, Value>;

/// An optional element: `false` leaves it out, `true` or a table of its
/// properties puts it in.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Stage {
    On(bool),
    Props(Props),
}

/// A camera, or `[defaults]` (the same keys but `id`, `name` and `uri`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Entry {
    id: Option<String>,
    name: Option<String>,
    uri: Option<String>,
    /// Started with the service (else IDLE until started through the API).
    enabled: Option<bool>,
    credentials_file: Option<PathBuf>,
    /// A variable holding `user:password`.
    credentials_env: Option<String>,
    camsrc: Option<Props>,
    onnxdetect: Option<Props>,
    bytetrack: Option<Props>,
    gendercls: Option<Stage>,
    cctvoverlay: Option<Props>,
    liveview: Option<Stage>,
    mqtt: Option<Stage>,
    postgres: Option<Stage>,
}

/// The design notes' NVR: one server, its channels as cameras.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Nvr {
    /// A JSON file holding `server` and `channels` (TOML only).
    file: Option<PathBuf>,
    /// Put before each channel's id to make the camera id.
    prefix: Option<String>,
    server: Option<Server>,
    channels: Option<Vec<Channel>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Server {
    host: String,
    port: Option<u16>,
    scheme: Option<String>,
    #[serde(alias = "user")]
    username: Option<String>,
    password: Option<String>,
    credentials_file: Option<PathBuf>,
    credentials_env: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Channel {
    id: ChannelId,
    name: Option<String>,
    path: String,
    enabled: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ChannelId {
    Number(u64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    listen: Option<String>,
    token_file: Option<PathBuf>,
    #[serde(default)]
    defaults: Entry,
    /// mqttsink properties, plus `password-file`/`password-env`.
    mqtt: Option<Props>,
    /// pgsink properties, plus `password-file`/`password-env`.
    postgres: Option<Props>,
    #[serde(default)]
    camera: Vec<Entry>,
    #[serde(default)]
    nvr: Vec<Nvr>,
}

/// One element of a camera's pipeline and its properties (checked against
/// the element's; [`Element::make`] converts them again).
#[derive(Clone, PartialEq)]
pub struct Element {
    pub factory: &'static str,
    pub name: &'static str,
    pub props: Vec<(String, Value)>,
}

impl Element {
    /// The element, named, with its properties set.
    pub fn make(&self) -> Result<gst::Element, String> {
        let element = gst::ElementFactory::make(self.factory)
            .name(self.name)
            .build()
            .map_err(|_| format!("no element {}", self.factory))?;
        for (name, value) in &self.props {
            let pspec = element
                .find_property(name)
                .ok_or_else(|| format!("{} has no property {name}", self.factory))?;
            element.set_property_from_value(name, &convert(&pspec, value)?);
        }
        Ok(element)
    }
}

impl std::fmt::Debug for Element {
    /// The factory and property names only: values may be secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.props.iter().map(|(n, _)| n.as_str()).collect();
        write!(f, "{} {:?}", self.factory, names)
    }
}

/// A camera as it will run. Equal specs run the same pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    pub id: String,
    pub name: String,
    /// With its credentials: shown only through `uri.display()`.
    pub uri: CameraUri,
    pub enabled: bool,
    /// `camsrc ! onnxdetect ! bytetrack [! gendercls]`, then a `tee`.
    pub chain: Vec<Element>,
    /// After the tee, each behind a queue: the sinks, the live view.
    pub branches: Vec<Vec<Element>>,
}

impl Camera {
    /// The parts of the spec other than `enabled`, which says only whether
    /// the camera starts with the service.
    pub fn same_pipeline(&self, other: &Camera) -> bool {
        (&self.name, &self.uri, &self.chain, &self.branches)
            == (&other.name, &other.uri, &other.chain, &other.branches)
    }
}

/// The whole file checked (no `Debug`: it holds the token).
pub struct Config {
    pub path: PathBuf,
    pub listen: SocketAddr,
    /// Required when `listen` is not loopback.
    pub token: Option<String>,
    pub cameras: Vec<Camera>,
    /// Things worth saying that do not stop the service.
    pub warnings: Vec<String>,
}

/// Collects every problem of a file, each with where it is.
struct Problems {
    file: String,
    errors: Vec<String>,
    warnings: Vec<String>,
}

impl Problems {
    fn error(&mut self, at: &str, why: impl std::fmt::Display) {
        self.errors.push(format!("{}: {at}{why}", self.file));
    }
}

/// Reads and checks `path`. GStreamer must be initialised and the plugin
/// registered (properties are checked against the elements).
pub fn load(path: &Path) -> Result<Config, Vec<String>> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{shown}: {e}")])?;
    let mut p = Problems {
        file: shown.clone(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    private(path, "the config", &mut p.warnings);
    let json = path.extension().is_some_and(|e| e == "json");
    let file = parse(&text, json).map_err(|e| vec![format!("{shown}:{e}")])?;
    let config = check(file, path, &mut p);
    if p.errors.is_empty() {
        Ok(Config {
            warnings: p.warnings,
            ..config
        })
    } else {
        Err(p.errors)
    }
}

/// The file's keys, or `LINE:COLUMN: why` (never the line itself: it may
/// hold a password).
fn parse(text: &str, json: bool) -> Result<File, String> {
    if json {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("{}:{}: {e}", e.line(), e.column()))?;
        // The design notes' NVR file on its own.
        let value = if value.get("server").is_some() {
            serde_json::json!({ "nvr": [value] })
        } else {
            value
        };
        return serde_json::from_value(value).map_err(|e| format!(" {e}"));
    }
    toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let line = text[..at].matches('\n').count() + 1;
        let column = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("{line}:{column}: {}", e.message().trim_end())
    })
}

fn check(file: File, path: &Path, p: &mut Problems) -> Config {
    let dir = path.parent().unwrap_or(Path::new("."));
    let listen = file.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let (listen, loopback) = match resolve(listen) {
        Ok(a) => a,
        Err(why) => {
            p.error("listen: ", why);
            (DEFAULT_LISTEN.parse().expect("a socket address"), true)
        }
    };
    let token = file.token_file.as_ref().and_then(|f| {
        match read_secret(&dir.join(f), "token-file", &mut p.warnings) {
            Ok(t) if t.len() >= MIN_TOKEN_LEN => Some(t),
            Ok(_) => {
                p.error(
                    "token-file: ",
                    format!("the token is shorter than {MIN_TOKEN_LEN} characters"),
                );
                None
            }
            Err(e) => {
                p.error("token-file: ", e);
                None
            }
        }
    });
    if !loopback && file.token_file.is_none() {
        p.error(
            "listen: ",
            format!("{listen} is reachable from other machines: set token-file (every request must then carry the token)"),
        );
    }
    let d = &file.defaults;
    for (key, set) in [
        ("id", d.id.is_some()),
        ("name", d.name.is_some()),
        ("uri", d.uri.is_some()),
    ] {
        if set {
            p.error(
                &format!("defaults.{key}: "),
                "a camera's own, not a default",
            );
        }
    }
    let mqtt = file
        .mqtt
        .map(|props| sink_props(props, "mqtt", "user-pw", dir, p));
    let postgres = file
        .postgres
        .map(|props| sink_props(props, "postgres", "password", dir, p));

    let mut entries: Vec<(String, Entry)> = Vec::new();
    for (i, entry) in file.camera.into_iter().enumerate() {
        let at = match &entry.id {
            Some(id) => format!("camera {id}: "),
            None => format!("camera #{}: ", i + 1),
        };
        entries.push((at, entry));
    }
    for (i, nvr) in file.nvr.into_iter().enumerate() {
        entries.extend(nvr_cameras(nvr, i, dir, p));
    }
    let mut seen = HashSet::new();
    let mut cameras = Vec::new();
    for (at, entry) in entries {
        if let Some(c) = camera(
            &at,
            &entry,
            &file.defaults,
            mqtt.as_ref(),
            postgres.as_ref(),
            dir,
            p,
        ) {
            if !seen.insert(c.id.clone()) {
                p.error(&at, format!("id {} is used twice", c.id));
            }
            cameras.push(c);
        }
    }
    if cameras.is_empty() {
        p.warnings
            .push(format!("{}: no cameras ([[camera]] or [[nvr]])", p.file));
    }
    Config {
        path: path.to_path_buf(),
        listen,
        token,
        cameras,
        warnings: Vec::new(),
    }
}

/// The address to bind and whether it is loopback only.
fn resolve(listen: &str) -> Result<(SocketAddr, bool), String> {
    let addresses: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| format!("{listen}: not HOST:PORT ({e})"))?
        .collect();
    let first = *addresses
        .first()
        .ok_or_else(|| format!("{listen}: no address"))?;
    Ok((first, addresses.iter().all(|a| a.ip().is_loopback())))
}

/// A sink's section: its own keys taken out, the password resolved.
struct Sink {
    props: Props,
    /// `password-file`/`password-env`, already read.
    password: Option<String>,
    /// The property the password goes in (`user-pw`), or `password` for
    /// pgsink's conninfo.
    password_key: &'static str,
}

fn sink_props(
    mut props: Props,
    section: &str,
    password_key: &'static str,
    dir: &Path,
    p: &mut Problems,
) -> Sink {
    let mut password = None;
    for key in ["password-file", "password-env"] {
        let Some(v) = props.remove(key) else { continue };
        let at = format!("{section}.{key}: ");
        let Value::Str(v) = v else {
            p.error(&at, "a string");
            continue;
        };
        if password.is_some() {
            p.error(&at, "give the password one way only");
        }
        let read = if key == "password-file" {
            read_secret(&dir.join(&v), key, &mut p.warnings)
        } else {
            std::env::var(&v).map_err(|_| format!("the variable {v} is not set"))
        };
        match read {
            Ok(secret) => password = Some(secret),
            Err(e) => p.error(&at, e),
        }
    }
    Sink {
        props,
        password,
        password_key,
    }
}

fn nvr_cameras(nvr: Nvr, index: usize, dir: &Path, p: &mut Problems) -> Vec<(String, Entry)> {
    let at = format!("nvr #{}: ", index + 1);
    let nvr = match &nvr.file {
        None => nvr,
        Some(file) => {
            let path = dir.join(file);
            let loaded = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    let v: serde_json::Value = serde_json::from_str(&t)
                        .map_err(|e| format!("{}:{}: {e}", e.line(), e.column()))?;
                    serde_json::from_value::<Nvr>(v).map_err(|e| e.to_string())
                });
            match loaded {
                Ok(inner) if inner.file.is_none() => {
                    private(&path, "the NVR file", &mut p.warnings);
                    Nvr {
                        prefix: nvr.prefix.or(inner.prefix),
                        ..inner
                    }
                }
                Ok(_) => {
                    p.error(
                        &at,
                        format!("{}: file: not inside an NVR file", path.display()),
                    );
                    return Vec::new();
                }
                Err(e) => {
                    p.error(&at, format!("file {}: {e}", path.display()));
                    return Vec::new();
                }
            }
        }
    };
    let (Some(server), Some(channels)) = (nvr.server, nvr.channels) else {
        p.error(&at, "needs server and channels (or file)");
        return Vec::new();
    };
    let scheme = server.scheme.as_deref().unwrap_or("rtsp");
    let port = server.port.map_or(String::new(), |port| format!(":{port}"));
    let prefix = nvr.prefix.unwrap_or_default();
    channels
        .into_iter()
        .map(|ch| {
            let id = match ch.id {
                ChannelId::Number(n) => format!("{prefix}{n}"),
                ChannelId::Text(t) => format!("{prefix}{t}"),
            };
            let path = if ch.path.starts_with('/') {
                ch.path
            } else {
                format!("/{}", ch.path)
            };
            let mut uri = format!("{scheme}://{}{port}{path}", server.host);
            if server.username.is_some() || server.password.is_some() {
                // Credentials travel in the URI only to be split off again.
                let enc = |s: &Option<String>| s.as_deref().map(percent_encode).unwrap_or_default();
                uri = format!(
                    "{scheme}://{}:{}@{}{port}{path}",
                    enc(&server.username),
                    enc(&server.password),
                    server.host
                );
            }
            (
                format!("{at}channel {id}: "),
                Entry {
                    id: Some(id),
                    name: ch.name,
                    uri: Some(uri),
                    enabled: ch.enabled,
                    credentials_file: server.credentials_file.clone(),
                    credentials_env: server.credentials_env.clone(),
                    ..Entry::default()
                },
            )
        })
        .collect()
}

/// Properties the service sets itself on each element.
const OWNED: &[(&str, &[&str])] = &[
    (
        "camsrc",
        &[
            "uri",
            "user-id",
            "user-pw",
            "credentials-file",
            "camera-id",
            "name",
        ],
    ),
    ("cctvoverlay", &["camera-id", "name"]),
    ("liveview", &["camera-id", "name"]),
    ("mqttsink", &["camera-id", "name"]),
    ("pgsink", &["camera-id", "name"]),
];

fn camera(
    at: &str,
    e: &Entry,
    d: &Entry,
    mqtt: Option<&Sink>,
    postgres: Option<&Sink>,
    dir: &Path,
    p: &mut Problems,
) -> Option<Camera> {
    let Some(id) = e.id.clone() else {
        p.error(at, "id: missing");
        return None;
    };
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        p.error(
            at,
            "id: use letters, digits, '-', '_' and '.' only (it names MQTT topics, URLs and rows)",
        );
    }
    let Some(uri) = e.uri.as_deref() else {
        p.error(at, "uri: missing");
        return None;
    };
    let mut uri = match CameraUri::parse(uri) {
        Ok(u) => u,
        Err(why) => {
            p.error(at, format!("uri: {why}"));
            return None;
        }
    };
    let in_uri = uri.user.is_some() || uri.password.is_some();
    let file = e.credentials_file.as_ref().or(d.credentials_file.as_ref());
    let env = e.credentials_env.as_ref().or(d.credentials_env.as_ref());
    let given = [in_uri, file.is_some(), env.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        p.error(
            at,
            "credentials: give them one way only (in the uri, credentials-file or credentials-env)",
        );
    }
    let pair = match (file, env) {
        (Some(f), _) => Some(
            read_secret(&dir.join(f), "credentials-file", &mut p.warnings)
                .map_err(|e| format!("credentials-file: {e}")),
        ),
        (None, Some(var)) => Some(
            std::env::var(var)
                .map_err(|_| format!("credentials-env: the variable {var} is not set")),
        ),
        (None, None) => None,
    };
    match pair {
        Some(Ok(line)) => match line.split_once(':') {
            Some((user, password)) => {
                uri.user = Some(user.to_owned()).filter(|u| !u.is_empty());
                uri.password = Some(password.to_owned()).filter(|p| !p.is_empty());
            }
            None => p.error(at, "credentials: expected user:password"),
        },
        Some(Err(why)) => p.error(at, why),
        None => {}
    }

    let errors = p.errors.len();
    let element = |factory, name, layers: &[Option<&Props>], key, p: &mut Problems| {
        let mut props = Props::new();
        for layer in layers.iter().flatten() {
            props.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        element_props(at, key, factory, name, &props, p)
    };
    let mut chain = vec![
        element(
            "camsrc",
            "src",
            &[d.camsrc.as_ref(), e.camsrc.as_ref()],
            "camsrc",
            p,
        ),
        element(
            "onnxdetect",
            "detector",
            &[d.onnxdetect.as_ref(), e.onnxdetect.as_ref()],
            "onnxdetect",
            p,
        ),
        element(
            "bytetrack",
            "tracker",
            &[d.bytetrack.as_ref(), e.bytetrack.as_ref()],
            "bytetrack",
            p,
        ),
    ];
    let none = Props::new();
    if let Some(layers) = stage(&e.gendercls, &d.gendercls, Some(&none)) {
        chain.push(element("gendercls", "gender", &layers, "gendercls", p));
    }
    let mut branches = Vec::new();
    for (key, factory, name, sink) in [
        ("mqtt", "mqttsink", "mqtt", mqtt),
        ("postgres", "pgsink", "pg", postgres),
    ] {
        let (own, default) = if key == "mqtt" {
            (&e.mqtt, &d.mqtt)
        } else {
            (&e.postgres, &d.postgres)
        };
        let Some(layers) = stage(own, default, sink.map(|s| &s.props)) else {
            continue;
        };
        let Some(sink) = sink else {
            p.error(at, format!("{key}: there is no [{key}] section to send to"));
            continue;
        };
        let mut el = element(factory, name, &layers, key, p);
        if let Some(password) = &sink.password {
            add_password(&mut el, sink.password_key, password);
        }
        branches.push(vec![el]);
    }
    if let Some(layers) = stage(&e.liveview, &d.liveview, Some(&none)) {
        let overlay = element(
            "cctvoverlay",
            "overlay",
            &[d.cctvoverlay.as_ref(), e.cctvoverlay.as_ref()],
            "cctvoverlay",
            p,
        );
        branches.push(vec![
            overlay,
            element("liveview", "view", &layers, "liveview", p),
        ]);
    }
    if p.errors.len() > errors {
        return None;
    }
    Some(Camera {
        name: e.name.clone().unwrap_or_else(|| id.clone()),
        id,
        uri,
        enabled: e.enabled.or(d.enabled).unwrap_or(true),
        chain,
        branches,
    })
}

/// The property layers of an optional element (base, default, camera),
/// or `None` when it is left out. `base` is `None` for an element that is
/// off unless asked for.
fn stage<'a>(
    own: &'a Option<Stage>,
    default: &'a Option<Stage>,
    base: Option<&'a Props>,
) -> Option<Vec<Option<&'a Props>>> {
    let on = |s: &Option<Stage>| match s {
        None => None,
        Some(Stage::On(on)) => Some(*on),
        Some(Stage::Props(_)) => Some(true),
    };
    let props = |s: &'a Option<Stage>| match s {
        Some(Stage::Props(p)) => Some(p),
        _ => None,
    };
    if !on(own).or(on(default)).unwrap_or(base.is_some()) {
        return None;
    }
    Some(vec![base, props(default), props(own)])
}

/// pgsink's password goes into its conninfo, mqttsink's into `user-pw`.
fn add_password(el: &mut Element, key: &str, password: &str) {
    if key == "user-pw" {
        el.props
            .push(("user-pw".into(), Value::Str(password.to_owned())));
        return;
    }
    let escaped = password.replace('\\', "\\\\").replace('\'', "\\'");
    match el.props.iter_mut().find(|(n, _)| n == "conninfo") {
        Some((_, Value::Str(conninfo))) => conninfo.push_str(&format!(" password='{escaped}'")),
        _ => el.props.push((
            "conninfo".into(),
            Value::Str(format!("password='{escaped}'")),
        )),
    }
}

/// `props` checked against the element's own properties and converted to
/// their types.
fn element_props(
    at: &str,
    key: &str,
    factory: &'static str,
    name: &'static str,
    props: &Props,
    p: &mut Problems,
) -> Element {
    let mut out = Element {
        factory,
        name,
        props: Vec::new(),
    };
    let element = match gst::ElementFactory::make(factory).build() {
        Ok(e) => e,
        Err(_) => {
            p.error(
                at,
                format!("{key}: no element {factory} (is the plugin installed?)"),
            );
            return out;
        }
    };
    let owned = OWNED
        .iter()
        .find(|(f, _)| *f == factory)
        .map_or(&[][..], |(_, names)| *names);
    for (prop, value) in props {
        let here = format!("{key}.{prop}: ");
        if owned.contains(&prop.as_str()) {
            p.error(
                at,
                format!("{here}set by the service (use the camera's id, uri and credentials)"),
            );
            continue;
        }
        let Some(pspec) = element.find_property(prop) else {
            p.error(
                at,
                format!("{here}{factory} has no such property (see gst-inspect-1.0 {factory})"),
            );
            continue;
        };
        if !pspec.flags().contains(glib::ParamFlags::WRITABLE) {
            p.error(at, format!("{here}read-only"));
            continue;
        }
        match convert(&pspec, value) {
            Ok(_) => out.props.push((prop.clone(), value.clone())),
            Err(why) => p.error(at, format!("{here}{why}")),
        }
    }
    out
}

/// `value` as a value of `pspec`'s type within its range.
fn convert(pspec: &glib::ParamSpec, value: &Value) -> Result<glib::Value, String> {
    let t = pspec.value_type();
    let converted = match value {
        Value::Str(s) if t == glib::Type::STRING => Ok(s.to_value()),
        Value::Bool(b) if t == glib::Type::BOOL => Ok(b.to_value()),
        Value::Int(i) if t == glib::Type::U32 => {
            u32::try_from(*i).map(|v| v.to_value()).map_err(|_| ())
        }
        Value::Int(i) if t == glib::Type::I32 => {
            i32::try_from(*i).map(|v| v.to_value()).map_err(|_| ())
        }
        Value::Int(i) if t == glib::Type::U64 => {
            u64::try_from(*i).map(|v| v.to_value()).map_err(|_| ())
        }
        Value::Int(i) if t == glib::Type::I64 => Ok(i.to_value()),
        Value::Int(i) if t == glib::Type::F64 => Ok((*i as f64).to_value()),
        Value::Int(i) if t == glib::Type::F32 => Ok((*i as f32).to_value()),
        Value::Float(f) if t == glib::Type::F64 => Ok(f.to_value()),
        Value::Float(f) if t == glib::Type::F32 => Ok((*f as f32).to_value()),
        // Enums by nick, flags, caps: GStreamer's own parser.
        Value::Str(s) => glib::Value::deserialize_with_pspec(s, pspec).map_err(|_| ()),
        _ => Err(()),
    };
    let mut v = converted.map_err(|()| format!("{} is not a valid {}", value.shown(), t.name()))?;
    // GLib clamps a value out of range and says so.
    let clamped = unsafe {
        glib::gobject_ffi::g_param_value_validate(
            glib::translate::ToGlibPtr::to_glib_none(pspec).0,
            glib::translate::ToGlibPtrMut::to_glib_none_mut(&mut v).0,
        )
    };
    if clamped != 0 {
        return Err(format!(
            "{} is out of range ({})",
            value.shown(),
            pspec.blurb().unwrap_or_default()
        ));
    }
    Ok(v)
}

/// The first line of a secret file, trimmed (a warning when others may read it).
fn read_secret(path: &Path, what: &str, warnings: &mut Vec<String>) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    private(path, what, warnings);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(line.to_owned())
}

/// Warns, as ssh does for keys, when a file that may hold credentials can
/// be read by other users.
fn private(path: &Path, what: &str, warnings: &mut Vec<String>) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o044 != 0 {
            warnings.push(format!(
                "{what} {} is readable by other users (mode {:o}); it may hold credentials: chmod 600 it",
                path.display(),
                mode & 0o777
            ));
        }
    }
}
