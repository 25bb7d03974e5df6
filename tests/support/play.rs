//! Playing a pipeline to its end, for the tests and the benchmarks.

use gst::prelude::*;

/// Plays `pipeline` until EOS or an error: `Ok` at EOS, else the error's
/// message and debug text. Panics if neither comes within `within`. The
/// pipeline is left as it ended, for the caller to read and set to NULL.
pub fn play_to_end(
    pipeline: &impl IsA<gst::Element>,
    within: gst::ClockTime,
) -> Result<(), String> {
    // A state change that fails posts its error on the bus.
    let _ = pipeline.set_state(gst::State::Playing);
    let msg = pipeline
        .bus()
        .expect("a pipeline has a bus")
        .timed_pop_filtered(within, &[gst::MessageType::Eos, gst::MessageType::Error])
        .unwrap_or_else(|| panic!("neither EOS nor an error within {within}"));
    match msg.view() {
        gst::MessageView::Error(e) => {
            Err(format!("{} {}", e.error(), e.debug().unwrap_or_default()))
        }
        _ => Ok(()),
    }
}
