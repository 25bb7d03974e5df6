//! `camsrc`: a live camera that survives outages. Built on upstream's
//! `fallbacksrc` (gst-plugins-rs), which keeps the output live and switches
//! to a stand-in picture while the camera is away; `input` is the source
//! it restarts, which adds the backoff, the reasons, the credentials and
//! the frames' origin.

use gst::glib;
use gst::prelude::*;

mod camera;
mod imp;
mod input;

glib::wrapper! {
    pub struct CamSrc(ObjectSubclass<imp::CamSrc>) @extends gst::Bin, gst::Element, gst::Object;
}

/// Registers the element, and the types of its enum and flags properties
/// as plugin API so that documentation tools describe them.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    Status::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    OnLoss::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Transport::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "camsrc",
        gst::Rank::NONE,
        CamSrc::static_type(),
    )
}

/// Where a camera stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstCctvCamSrcStatus")]
pub enum Status {
    #[default]
    #[enum_value(name = "Not running", nick = "stopped")]
    Stopped,
    #[enum_value(name = "Connecting to the camera", nick = "connecting")]
    Connecting,
    #[enum_value(name = "Receiving the camera's frames", nick = "connected")]
    Connected,
    #[enum_value(name = "Lost, waiting to retry", nick = "disconnected")]
    Disconnected,
}

/// What goes out while the camera is away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstCctvCamSrcOnLoss")]
pub enum OnLoss {
    #[default]
    #[enum_value(name = "A black frame saying NO SIGNAL", nick = "no-signal")]
    NoSignal,
    #[enum_value(name = "The camera's last frame, repeated", nick = "last-frame")]
    LastFrame,
}

/// How RTSP media travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstCctvCamSrcTransport")]
pub enum Transport {
    #[default]
    #[enum_value(name = "UDP, falling back to TCP (rtspsrc's default)", nick = "auto")]
    Auto,
    #[enum_value(name = "TCP, interleaved in the RTSP connection", nick = "tcp")]
    Tcp,
    #[enum_value(name = "UDP only", nick = "udp")]
    Udp,
}
