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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gst::prelude::*;

pub use settings::NetSettings;
pub use worker::{Class, Failure, Flushed, Item, Protocol, Worker};

/// A sink's worker with the end-of-stream rules around it.
pub struct Link<I: Item> {
    worker: Worker<I>,
    /// What the sink talks to, for messages (no credentials).
    target: String,
    spool: bool,
    /// EOS started a flush: `stop` does not wait a second time.
    flushed: AtomicBool,
}

impl<I: Item> Link<I> {
    pub fn new(worker: Worker<I>, target: String, spool: bool) -> Arc<Link<I>> {
        Arc::new(Link {
            worker,
            target,
            spool,
            flushed: AtomicBool::new(false),
        })
    }

    pub fn worker(&self) -> &Worker<I> {
        &self.worker
    }

    /// At EOS: waits up to `timeout` for everything to be delivered, and
    /// posts what was not. Call it without holding the element's locks, so
    /// that `unlock` and `stop` get through.
    pub fn flush_on_eos(&self, element: &impl IsA<gst::Element>, timeout: Duration) -> Flushed {
        self.flushed.store(true, Ordering::SeqCst);
        let flushed = self.worker.flush(timeout);
        self.report(element, &flushed);
        flushed
    }

    /// At stop: flushes unless EOS already did, then ends the worker.
    pub fn stop(&self, element: &impl IsA<gst::Element>, timeout: Duration) {
        if !self.flushed.load(Ordering::SeqCst) {
            let flushed = self.worker.flush(timeout);
            self.report(element, &flushed);
        }
        self.worker.stop();
    }

    /// `BaseSink::unlock` (true) and `unlock_stop` (false).
    pub fn interrupt(&self, on: bool) {
        self.worker.interrupt(on);
    }

    /// Posts what a flush left undelivered: an error without a spool, a
    /// warning when it waits in the spool (`stop` puts it there).
    fn report(&self, element: &impl IsA<gst::Element>, flushed: &Flushed) {
        let Flushed::TimedOut { queued, spooled } = *flushed else {
            return;
        };
        if self.spool {
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
