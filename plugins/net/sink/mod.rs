//! `GstCctvNetSink`, the abstract base class of the sinks that talk to a
//! server (`mqttsink`, `pgsink`). It is the whole `BaseSink` behaviour of
//! such a sink, written once: `start` (the worker with its error callback,
//! the metrics), `unlock`/`unlock_stop` (a state change interrupts a flush),
//! `prepare` (buffers fail once the server refused us), `render` and the
//! track events (handed to the sink's [`Stream`]), end of stream (the
//! flush), `stop` and the `stats` property (`<element>/stats`).
//!
//! A sink is a subclass implementing [`NetSinkImpl`]: its own settings and
//! properties (the shared ones, `camera-id` among them, come from
//! [`NetSettings`]), and [`NetSinkImpl::open`] checking them and making its
//! [`Protocol`] (how to connect and deliver) and its [`Stream`] (what
//! items a frame or a track event turns into). A Kafka sink is that and
//! nothing more.
//!
//! Why a base class rather than a helper each element delegates to: a
//! helper leaves every sink with the same seven `BaseSinkImpl` methods
//! forwarding to it, the repetition this layer removes. The items differ
//! per sink (MQTT messages, database rows) and a GObject class cannot be
//! generic, so the class keeps the sink's worker as [`Control`] and its
//! stream behind one boxed trait; the typed parts stay generic.
//!
//! Locks: the base holds its state in one mutex, never across a wait, a
//! bus message or a warning; a subclass's settings are read at `start`
//! (all but `flush-timeout` are fixed from READY on) and `flush-timeout`
//! when a flush begins, so no settings lock is taken per buffer.

mod imp;

use std::sync::Arc;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::lifecycle::TrackEvent;
use cctv::meta::Frame;

use super::NetSettings;
use super::worker::{Control, Item, Protocol, Worker};

glib::wrapper! {
    pub struct NetSink(ObjectSubclass<imp::NetSink>) @extends gst_base::BaseSink, gst::Element, gst::Object;
}

/// What a sink turns frames and track events into, from `start` to `stop`.
pub trait Stream: Send + 'static {
    type Item: Item;

    /// The objects of a frame at stream time `pts_ns`, captured at
    /// `captured_ns` (ns since the Unix epoch) when it came from a camera.
    fn frame(
        &mut self,
        frame: &Frame,
        pts_ns: u64,
        captured_ns: Option<u64>,
        out: &mut Out<Self::Item>,
    );

    /// A track's life-cycle event.
    fn event(&mut self, event: &TrackEvent, out: &mut Out<Self::Item>);

    /// A flush (seek): stream times start again.
    fn flush(&mut self);

    /// The sink stops, with or without EOS: what must still be delivered.
    fn stop(&mut self, _out: &mut Out<Self::Item>) {}
}

/// What a frame or an event produced: items to deliver, and items the sink
/// cannot deliver (too large, ...), each with why, counted as dropped and
/// logged once the element's lock is released.
pub struct Out<I> {
    items: Vec<I>,
    refused: Vec<String>,
}

impl<I> Out<I> {
    pub fn push(&mut self, item: I) {
        self.items.push(item);
    }

    pub fn refuse(&mut self, why: String) {
        self.refused.push(why);
    }
}

/// What [`NetSinkImpl::open`] makes for one run.
pub struct Plan<P, S> {
    pub protocol: P,
    pub stream: S,
    /// What the sink talks to, for messages: never with credentials.
    pub target: String,
    /// Items delivered at once at most, and how long queued items may wait
    /// for a batch to fill.
    pub batch_size: usize,
    pub linger: Duration,
}

pub trait NetSinkImpl: BaseSinkImpl {
    /// The element's name: the `stats` structure (`<ELEMENT>/stats`), the
    /// worker thread and the spool folder are named after it.
    const ELEMENT: &'static str;
    type Protocol: Protocol;
    type Stream: Stream<Item = <Self::Protocol as Protocol>::Item>;

    /// Checks the settings and makes the protocol and stream of a run for
    /// `camera` (the `camera-id` property, or camsrc's); an error fails
    /// the start.
    fn open(&self, camera: &str) -> Result<Plan<Self::Protocol, Self::Stream>, gst::ErrorMessage>;

    /// The shared settings as set now (`flush-timeout` may change while
    /// playing).
    fn net_settings(&self) -> NetSettings;
}

/// Starts a run of the subclass: [`open`] for its type.
type OpenFn = fn(&NetSink) -> Result<Opened, gst::ErrorMessage>;

/// The class: what the subclass told it in `class_init`.
#[repr(C)]
pub struct Class {
    parent: gst_base::ffi::GstBaseSinkClass,
    element: &'static str,
    open: Option<OpenFn>,
    net_settings: Option<fn(&NetSink) -> NetSettings>,
}

unsafe impl ClassStruct for Class {
    type Type = imp::NetSink;
}

impl std::ops::Deref for Class {
    type Target = glib::Class<gst_base::BaseSink>;

    fn deref(&self) -> &Self::Target {
        unsafe { &*(&self.parent as *const _ as *const _) }
    }
}

unsafe impl<T: NetSinkImpl> IsSubclassable<T> for NetSink {
    fn class_init(class: &mut glib::Class<Self>) {
        Self::parent_class_init::<T>(class);
        let class = class.as_mut();
        class.element = T::ELEMENT;
        class.open = Some(open::<T>);
        class.net_settings = Some(|sink| subclass::<T>(sink).net_settings());
    }
}

fn subclass<T: NetSinkImpl>(sink: &NetSink) -> &T {
    sink.dynamic_cast_ref::<T::Type>()
        .expect("the class of T is only set on instances of T")
        .imp()
}

/// A run, type-erased for the class.
struct Opened {
    session: Box<dyn Session>,
    worker: Arc<dyn Control>,
    camera: String,
    target: String,
}

/// Starts the worker of `T`'s plan: the first connection attempt happens
/// here, so that a server refusing us fails the start.
fn open<T: NetSinkImpl>(sink: &NetSink) -> Result<Opened, gst::ErrorMessage> {
    let imp = subclass::<T>(sink);
    let net = imp.net_settings();
    let camera = crate::upstream::camera_id(&net.camera_id, sink.sink_pad());
    let plan = imp.open(&camera)?;
    let config = net.config(T::ELEMENT, &camera, plan.batch_size, plan.linger)?;
    let element = sink.downgrade();
    let worker = Worker::start(plan.protocol, config, move |why| {
        if let Some(element) = element.upgrade() {
            gst::element_error!(element, gst::ResourceError::Write, ["{}", why]);
        }
    })
    .map_err(|e| gst::error_msg!(gst::ResourceError::OpenWrite, ["{}", e]))?;
    let worker = Arc::new(worker);
    Ok(Opened {
        session: Box::new(Bound {
            stream: plan.stream,
            worker: Arc::clone(&worker),
        }),
        worker,
        camera,
        target: plan.target,
    })
}

/// A sink's stream as the class drives it: each call pushes the items it
/// produced and returns why others were refused.
trait Session: Send {
    fn frame(&mut self, frame: &Frame, pts_ns: u64, captured_ns: Option<u64>) -> Vec<String>;
    fn event(&mut self, event: &TrackEvent) -> Vec<String>;
    fn flush(&mut self);
    fn stop(&mut self) -> Vec<String>;
}

struct Bound<S: Stream> {
    stream: S,
    worker: Arc<Worker<S::Item>>,
}

impl<S: Stream> Bound<S> {
    fn run(&mut self, f: impl FnOnce(&mut S, &mut Out<S::Item>)) -> Vec<String> {
        let mut out = Out {
            items: Vec::new(),
            refused: Vec::new(),
        };
        f(&mut self.stream, &mut out);
        self.worker.push(out.items);
        let dropped = &self.worker.stats().dropped;
        dropped.fetch_add(
            out.refused.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        out.refused
    }
}

impl<S: Stream> Session for Bound<S> {
    fn frame(&mut self, frame: &Frame, pts_ns: u64, captured_ns: Option<u64>) -> Vec<String> {
        self.run(|s, out| s.frame(frame, pts_ns, captured_ns, out))
    }

    fn event(&mut self, event: &TrackEvent) -> Vec<String> {
        self.run(|s, out| s.event(event, out))
    }

    fn flush(&mut self) {
        self.stream.flush();
    }

    fn stop(&mut self) -> Vec<String> {
        self.run(|s, out| s.stop(out))
    }
}
