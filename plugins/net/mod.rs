//! The layer under the sinks that talk to a server (`mqttsink`, `pgsink`):
//! a bounded, ordered queue filled by the streaming thread, one worker
//! thread per sink delivering it through the sink's [`Protocol`] with
//! capped backoff, an optional on-disk [`spool`] for store-and-forward, and
//! the properties and end-of-stream rules they share. A sink adds only its
//! protocol: how to connect, how to deliver a batch and have it acknowledged.
//!
//! End of stream: the sink waits up to `flush-timeout` for every item to be
//! acknowledged, once. What is still undelivered then is an element error
//! (the pipeline ends with an error, never with data silently lost), unless
//! the sink has a spool: then records stay on disk for the next start and
//! only a warning is posted. A state change interrupts the wait (`unlock`).

pub mod settings;
pub mod spool;
pub mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use gst::prelude::*;

pub use settings::NetSettings;
pub use worker::{Class, Failure, Flushed, Item, Protocol, Worker};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "cctvnet",
        gst::DebugColorFlags::empty(),
        Some("Network sinks' delivery"),
    )
});

/// A sink's link from `start` to `stop`, with the `BaseSink` methods that
/// every network sink implements the same way.
pub struct Held<I: Item>(Mutex<Option<Arc<Link<I>>>>);

impl<I: Item> Default for Held<I> {
    fn default() -> Self {
        Held(Mutex::new(None))
    }
}

impl<I: Item> Held<I> {
    pub fn set(&self, link: Arc<Link<I>>) {
        *self.0.lock().unwrap() = Some(link);
    }

    fn get(&self) -> Option<Arc<Link<I>>> {
        self.0.lock().unwrap().clone()
    }

    /// `BaseSink::unlock` (true) and `unlock_stop` (false): a state change
    /// interrupts a flush waiting for the server.
    pub fn unlock(&self, on: bool) -> Result<(), gst::ErrorMessage> {
        if let Some(link) = self.get() {
            link.worker.interrupt(on);
        }
        Ok(())
    }

    /// `BaseSink::prepare`, called for every buffer before preroll and
    /// render: after the worker gave up, buffers fail. A sink whose server
    /// refused it must not preroll; waiting for PLAYING after the error would
    /// keep an application (gst-launch-1.0) from ending.
    pub fn prepare(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        match self.0.lock().unwrap().as_ref() {
            Some(link) if link.worker.has_failed() => Err(gst::FlowError::Error),
            _ => Ok(gst::FlowSuccess::Ok),
        }
    }

    /// At EOS: waits up to `timeout` for everything to be delivered and
    /// posts what was not. False when the sink failed for good: then EOS must
    /// not go on, as a sink prerolled by it would leave the pipeline waiting
    /// in PAUSED instead of ending on the error.
    pub fn eos(&self, element: &impl IsA<gst::Element>, timeout: Duration) -> bool {
        let Some(link) = self.get() else {
            return true;
        };
        gst::info!(
            CAT,
            obj = element,
            "EOS: waiting up to {:?} for the server",
            timeout
        );
        let flushed = link.flush_on_eos(element, timeout);
        gst::debug!(CAT, obj = element, "flush at EOS: {:?}", flushed);
        !matches!(flushed, Flushed::Failed(_))
    }

    /// At stop: flushes unless EOS did, then ends the worker.
    pub fn stop(&self, element: &impl IsA<gst::Element>, timeout: Duration) {
        let link = self.0.lock().unwrap().take();
        if let Some(link) = link {
            link.stop(element, timeout);
        }
    }
}

/// A sink's worker with the end-of-stream rules around it.
pub struct Link<I: Item> {
    worker: Worker<I>,
    /// What the sink talks to, for messages (no credentials).
    target: String,
    /// EOS started a flush: `stop` does not wait a second time.
    flushed: AtomicBool,
}

impl<I: Item> crate::metrics::Report for Link<I> {
    fn report(&self, out: &mut Vec<crate::metrics::Extra>) {
        self.worker.report(&self.target, out);
    }
}

impl<I: Item> Link<I> {
    pub fn new(worker: Worker<I>, target: String) -> Arc<Link<I>> {
        Arc::new(Link {
            worker,
            target,
            flushed: AtomicBool::new(false),
        })
    }

    pub fn worker(&self) -> &Worker<I> {
        &self.worker
    }

    /// Waits up to `timeout` for everything to be delivered, and posts what
    /// was not. Called without the element's locks held, so that `unlock`
    /// and `stop` get through.
    fn flush_on_eos(&self, element: &impl IsA<gst::Element>, timeout: Duration) -> Flushed {
        self.flushed.store(true, Ordering::SeqCst);
        let flushed = self.worker.flush(timeout);
        self.report(element, &flushed);
        flushed
    }

    /// Flushes unless EOS already did, then ends the worker.
    fn stop(&self, element: &impl IsA<gst::Element>, timeout: Duration) {
        if !self.flushed.load(Ordering::SeqCst) {
            let flushed = self.worker.flush(timeout);
            self.report(element, &flushed);
        }
        self.worker.stop();
    }

    /// Posts what a flush left undelivered: an error without a spool, a
    /// warning when it waits in the spool (`stop` puts it there).
    fn report(&self, element: &impl IsA<gst::Element>, flushed: &Flushed) {
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
