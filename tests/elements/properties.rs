//! Every element of the plugin, as the registry lists them: every readable
//! property reads back in NULL and in READY, and also from a synchronous
//! bus handler that reads the properties of the element that posted (as an
//! application may; an element posting while it holds a lock deadlocks
//! there); every enum and flags type of a property is registered as plugin
//! API; and `gst-inspect-1.0` documents each element with all its
//! properties. Each element runs against a time limit, so a deadlock fails
//! the test, naming the element and the property, instead of hanging it.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use support::Progress;

/// Far more than any element needs (gst-inspect included, which may
/// rebuild the registry cache first): only a hang reaches it.
const LIMIT: Duration = Duration::from_secs(60);

/// The elements the plugin registers.
fn elements() -> Vec<String> {
    support::init();
    let mut names: Vec<String> = gst::Registry::get()
        .features_by_plugin("cctv")
        .into_iter()
        .filter_map(|f| f.downcast::<gst::ElementFactory>().ok())
        .map(|f| f.name().to_string())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "the plugin lists only {names:?}");
    names
}

/// Reads every readable property of `element`, saying before each which
/// one (the last thing said is where a hang is).
fn read_all(element: &gst::Element, when: &str, progress: &Progress) {
    for pspec in element.list_properties() {
        if !pspec.flags().contains(glib::ParamFlags::READABLE) {
            continue;
        }
        progress.step(format!("reading {} in {when}", pspec.name()));
        let value = element.property_value(pspec.name());
        assert_eq!(
            value.type_(),
            pspec.value_type(),
            "{}.{}",
            element.name(),
            pspec.name()
        );
    }
}

/// Makes `name`, reads its properties in NULL, then in a pipeline whose
/// synchronous bus handler reads them again on every message the element
/// posts, in READY (where the element may refuse to go without settings:
/// it still posts its error) and back in NULL.
fn exercise(name: &str, progress: &Progress) {
    let element = gst::ElementFactory::make(name).build().unwrap();
    read_all(&element, "NULL", progress);
    let pipeline = gst::Pipeline::new();
    pipeline.add(&element).unwrap();
    let from_bus = progress.clone();
    let watched = element.downgrade();
    pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
        if let Some(element) = watched.upgrade()
            && msg.src() == Some(element.upcast_ref())
        {
            let when = format!("a handler of its {:?} message", msg.type_());
            read_all(&element, &when, &from_bus);
        }
        gst::BusSyncReply::Pass
    });
    progress.step("going to READY");
    let ready = pipeline.set_state(gst::State::Ready).is_ok();
    read_all(
        &element,
        if ready {
            "READY"
        } else {
            "NULL (READY refused)"
        },
        progress,
    );
    progress.step("going to NULL");
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn every_readable_property_reads_back_in_null_ready_and_from_a_sync_bus_handler() {
    // All at once: the network sinks take their `flush-timeout` to stop
    // when their server was never reached.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = elements()
            .into_iter()
            .map(|name| {
                scope.spawn(move || {
                    let element = name.clone();
                    support::within(LIMIT, move |progress| exercise(&element, progress))
                        .err()
                        .map(|why| format!("{name}: {why}"))
                })
            })
            .collect();
        runs.into_iter()
            .filter_map(|run| run.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_enum_and_flags_type_of_a_property_is_plugin_api() {
    let mut missing = Vec::new();
    for name in elements() {
        let element = gst::ElementFactory::make(&name).build().unwrap();
        for pspec in element.list_properties() {
            let ty = pspec.value_type();
            let described = ty.is_a(glib::Type::ENUM) || ty.is_a(glib::Type::FLAGS);
            // Types of our own, not those of the base classes' properties.
            let ours = pspec.owner_type().name().starts_with("GstCctv");
            if described && ours && ty.plugin_api_flags().is_none() {
                missing.push(format!("{name}.{}: {}", pspec.name(), ty.name()));
            }
        }
    }
    assert!(missing.is_empty(), "not plugin API: {missing:?}");
}

/// The values an enum or flags property documents, as `(value): nick`.
fn documented_values(pspec: &glib::ParamSpec) -> Vec<String> {
    if let Some(e) = pspec.downcast_ref::<glib::ParamSpecEnum>() {
        return e
            .enum_class()
            .values()
            .iter()
            .map(|v| format!("({}): {}", v.value(), v.nick()))
            .collect();
    }
    if let Some(f) = pspec.downcast_ref::<glib::ParamSpecFlags>() {
        return f
            .flags_class()
            .values()
            .iter()
            .map(|v| format!("(0x{:08x}): {}", v.value(), v.nick()))
            .collect();
    }
    Vec::new()
}

/// Runs `gst-inspect-1.0 name` with the built plugin; its output, or why not.
fn inspect(name: &str) -> Result<String, String> {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("inspect-{name}-{}.txt", std::process::id()));
    let mut child = Command::new("gst-inspect-1.0")
        .arg(name)
        .env("GST_PLUGIN_PATH", support::plugin_dir())
        .stdout(File::create(&path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("gst-inspect-1.0 runs");
    let Some(status) = support::wait_within(&mut child, LIMIT) else {
        return Err(format!(
            "gst-inspect-1.0 {name} did not end within {LIMIT:?}"
        ));
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::remove_file(&path).ok();
    if !status.success() {
        return Err(format!("gst-inspect-1.0 {name}: {status}"));
    }
    Ok(text)
}

#[test]
fn gst_inspect_documents_every_property_of_every_element() {
    let mut failures = Vec::new();
    for name in elements() {
        let text = match inspect(&name) {
            Ok(text) => text,
            Err(why) => {
                failures.push(why);
                continue;
            }
        };
        let Some((_, section)) = text.split_once("Element Properties:") else {
            failures.push(format!("{name}: no properties section"));
            continue;
        };
        let element = gst::ElementFactory::make(&name).build().unwrap();
        for pspec in element.list_properties() {
            // A property's first line is indented by two spaces: `  name : blurb`.
            let listed = section.lines().any(|l| {
                l.strip_prefix("  ")
                    .and_then(|l| l.split_once(':'))
                    .is_some_and(|(n, _)| !n.starts_with(' ') && n.trim() == pspec.name())
            });
            if !listed {
                failures.push(format!("{name}: {} not listed", pspec.name()));
            }
            for value in documented_values(&pspec) {
                if !section.contains(&value) {
                    failures.push(format!("{name}.{}: {value} not listed", pspec.name()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
