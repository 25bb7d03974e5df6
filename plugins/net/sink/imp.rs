use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use cctv::lifecycle::TrackEvent;
use cctv::meta::Frame;

use super::Session;
use crate::metrics;
use crate::net::worker::{Control, Flushed};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "cctvnet",
        gst::DebugColorFlags::empty(),
        Some("Network sinks' delivery"),
    )
});

/// What exists from `start` to `stop`.
struct Running {
    session: Box<dyn Session>,
    delivery: Arc<Delivery>,
    /// Registered with the exporter while it lives.
    metrics: Arc<metrics::Source>,
}

/// A run's worker with the end-of-stream rules around it: at EOS the sink
/// waits up to `flush-timeout`, once, for everything to be acknowledged.
/// What is still undelivered then is an element error (the pipeline ends
/// with an error, never with data silently lost), unless the sink has a
/// spool: then the records stay on disk for the next start and only a
/// warning is posted.
struct Delivery {
    worker: Arc<dyn Control>,
    /// What the sink talks to, for messages (no credentials).
    target: String,
    /// EOS started a flush: `stop` does not wait a second time.
    flushed: AtomicBool,
}

impl metrics::Report for Delivery {
    fn report(&self, out: &mut Vec<metrics::Extra>) {
        self.worker.report(&self.target, out);
    }
}

impl Delivery {
    /// Waits up to `timeout` for everything to be delivered and posts what
    /// was not. False when the sink failed for good: then EOS must not go
    /// on, as a sink prerolled by it would leave the pipeline waiting in
    /// PAUSED instead of ending on the error.
    fn eos(&self, element: &gst::Element, timeout: Duration) -> bool {
        gst::info!(
            CAT,
            obj = element,
            "EOS: waiting up to {:?} for the server",
            timeout
        );
        self.flushed.store(true, Ordering::SeqCst);
        let flushed = self.worker.flush(timeout);
        gst::debug!(CAT, obj = element, "flush at EOS: {:?}", flushed);
        self.report(element, &flushed);
        !matches!(flushed, Flushed::Failed(_))
    }

    /// Flushes unless EOS already did or nothing waits to be delivered
    /// (a sink whose server was never reached stops at once), then ends the
    /// worker.
    fn stop(&self, element: &gst::Element, timeout: Duration) {
        if !self.flushed.load(Ordering::SeqCst) && !self.worker.idle() {
            let flushed = self.worker.flush(timeout);
            self.report(element, &flushed);
        }
        self.worker.stop();
    }

    /// Posts what a flush left undelivered: an error without a spool, a
    /// warning when it waits in the spool (`stop` puts it there).
    fn report(&self, element: &gst::Element, flushed: &Flushed) {
        let Flushed::TimedOut { queued, spooled } = *flushed else {
            return;
        };
        if self.worker.has_spool() {
            gst::element_warning!(
                element,
                gst::ResourceError::Write,
                [
                    "{} not reachable within flush-timeout: {} items kept in the spool, delivered at the next start",
                    self.target,
                    queued + spooled
                ]
            );
        } else {
            gst::element_error!(
                element,
                gst::ResourceError::Write,
                [
                    "{} not reachable within flush-timeout: {} items not delivered",
                    self.target,
                    queued
                ]
            );
        }
    }
}

#[derive(Default)]
pub struct NetSink {
    running: Mutex<Option<Running>>,
}

#[glib::object_subclass]
impl ObjectSubclass for NetSink {
    const NAME: &'static str = "GstCctvNetSink";
    const ABSTRACT: bool = true;
    type Type = super::NetSink;
    type ParentType = gst_base::BaseSink;
    type Class = super::Class;
}

impl ObjectImpl for NetSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Structure named after the element (mqttsink/stats, pgsink/stats): delivered (acknowledged by the server), batches, retries, reconnects, dropped, dropped-records, queued, spooled, connected, last-error")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stats" => self.stats().to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for NetSink {}

impl ElementImpl for NetSink {
    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &gst::Caps::new_any(),
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseSinkImpl for NetSink {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let open = self
            .obj()
            .class()
            .as_ref()
            .open
            .expect("set by the subclass");
        let opened = open(&self.obj())?;
        gst::info!(
            CAT,
            imp = self,
            "delivering to {} as camera {}",
            opened.target,
            opened.camera
        );
        let delivery = Arc::new(Delivery {
            worker: opened.worker,
            target: opened.target,
            flushed: AtomicBool::new(false),
        });
        let metrics = metrics::register(&*self.obj(), Some(Box::new(Arc::clone(&delivery))));
        metrics.set_camera(&opened.camera);
        *self.running.lock().unwrap() = Some(Running {
            session: opened.session,
            delivery,
            metrics,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let running = self.running.lock().unwrap().take();
        if let Some(mut running) = running {
            let refused = running.session.stop();
            self.log_refused(refused);
            running
                .delivery
                .stop(self.obj().upcast_ref(), self.flush_timeout());
        }
        Ok(())
    }

    /// A state change interrupts a flush waiting for the server.
    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(delivery) = self.delivery() {
            delivery.worker.interrupt(true);
        }
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(delivery) = self.delivery() {
            delivery.worker.interrupt(false);
        }
        Ok(())
    }

    /// Called for every buffer before preroll and render: after the worker
    /// gave up, buffers fail. A sink whose server refused it must not
    /// preroll; waiting for PLAYING after the error would keep an
    /// application (gst-launch-1.0) from ending.
    fn prepare(&self, _buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        match self.delivery() {
            Some(delivery) if delivery.worker.has_failed() => Err(gst::FlowError::Error),
            _ => Ok(gst::FlowSuccess::Ok),
        }
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let started = Instant::now();
        let frame = match Frame::from_buffer(buffer) {
            None => return Ok(gst::FlowSuccess::Ok),
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                gst::warning!(CAT, imp = self, "skipping buffer: {}", e);
                return Ok(gst::FlowSuccess::Ok);
            }
        };
        let pts = buffer.pts().map_or(0, |t| t.nseconds());
        let captured = Frame::capture_time(buffer);
        let refused = {
            let mut guard = self.running.lock().unwrap();
            let running = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
            let refused = running.session.frame(&frame, pts, captured);
            running.metrics.frame(started.elapsed(), Duration::ZERO);
            refused
        };
        self.log_refused(refused);
        Ok(gst::FlowSuccess::Ok)
    }

    fn event(&self, event: gst::Event) -> bool {
        if let Some(track_event) = TrackEvent::from_event(&event) {
            let refused = match self.running.lock().unwrap().as_mut() {
                Some(running) => running.session.event(&track_event),
                None => Vec::new(),
            };
            self.log_refused(refused);
        }
        match event.view() {
            gst::EventView::Eos(_) => {
                if let Some(delivery) = self.delivery()
                    && !delivery.eos(self.obj().upcast_ref(), self.flush_timeout())
                {
                    return false;
                }
            }
            gst::EventView::FlushStop(_) => {
                if let Some(running) = self.running.lock().unwrap().as_mut() {
                    running.session.flush();
                }
            }
            _ => {}
        }
        self.parent_event(event)
    }
}

impl NetSink {
    /// The run's delivery, for what must happen without the lock (waits).
    fn delivery(&self) -> Option<Arc<Delivery>> {
        let running = self.running.lock().unwrap();
        running.as_ref().map(|r| Arc::clone(&r.delivery))
    }

    fn flush_timeout(&self) -> Duration {
        let net_settings = self
            .obj()
            .class()
            .as_ref()
            .net_settings
            .expect("set by the subclass");
        net_settings(&self.obj()).flush_timeout()
    }

    fn log_refused(&self, refused: Vec<String>) {
        for why in refused {
            gst::warning!(CAT, imp = self, "{}", why);
        }
    }

    fn stats(&self) -> gst::Structure {
        let element = self.obj().class().as_ref().element;
        let s = gst::Structure::builder(format!("{element}/stats"));
        match self.delivery() {
            Some(delivery) => delivery.worker.stats_fields(s).build(),
            None => s.build(),
        }
    }
}
