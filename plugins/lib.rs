//! `cctv`: the gst-cctv GStreamer plugin. Each element lives in its own
//! folder (`mod.rs` with the public type and `register`, `imp.rs` with the
//! implementation); what elements running a model share is in `inference`;
//! the algorithms and the metadata are in the `cctv` crate.

use gst::glib;

pub mod agecls;
mod assets;
pub mod bytetrack;
pub mod camsrc;
pub mod cctvoverlay;
pub mod classify;
pub mod gendercls;
pub mod inference;
pub mod liveview;
pub mod metrics;
pub mod mqttsink;
mod net;
pub mod onnxdetect;
mod onvif;
pub mod pgsink;
pub mod ptzservo;
mod upstream;
mod video;
pub mod virtualptz;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    cctv::meta::register();
    onnxdetect::register(plugin)?;
    bytetrack::register(plugin)?;
    classify::register(plugin)?;
    gendercls::register(plugin)?;
    agecls::register(plugin)?;
    mqttsink::register(plugin)?;
    pgsink::register(plugin)?;
    ptzservo::register(plugin)?;
    virtualptz::register(plugin)?;
    cctvoverlay::register(plugin)?;
    liveview::register(plugin)?;
    camsrc::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    cctv,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
