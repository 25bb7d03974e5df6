//! The layer under the elements that talk to a server: a bounded, ordered
//! queue filled by the streaming thread, one worker thread per element
//! delivering it through the element's [`Protocol`] with capped backoff
//! ([`worker`]), an optional on-disk [`spool`] for store-and-forward, the
//! properties they share ([`settings`]), and the base class of the sinks
//! ([`sink`]: start, unlock, prepare, end of stream, stop and `stats`). A
//! sink adds only its protocol, its settings and what its items are.
//!
//! End of stream: the sink waits up to `flush-timeout` for every item to be
//! acknowledged, once. What is still undelivered then is an element error
//! (the pipeline ends with an error, never with data silently lost), unless
//! the sink has a spool: then records stay on disk for the next start and
//! only a warning is posted. A state change interrupts the wait (`unlock`).

pub mod settings;
pub mod sink;
pub mod spool;
pub mod worker;

pub use settings::NetSettings;
pub use sink::{NetSink, NetSinkImpl, Out, Plan, Stream};
pub use worker::{Class, Failure, Flushed, Item, Protocol, Worker};
