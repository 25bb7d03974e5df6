//! What can go wrong between a model file and a frame's results, each kind
//! posted in the GStreamer error domain an application expects.

use std::fmt;

use gst::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The ONNX Runtime library is missing or unusable.
    Runtime(String),
    /// A model or labels file is not there.
    NotFound(String),
    /// The file is there but does not load, or a session cannot be made.
    Load(String),
    /// The model loads but is not what the element needs, or a setting
    /// (labels, classes) does not fit it.
    Unfit(String),
    /// Caps the element cannot take, or a buffer before caps.
    Caps(String),
    /// A frame could not be packed into the model's input.
    Input(String),
    /// The run itself failed.
    Run(String),
    /// The outputs are not what the element reads.
    Output(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Error::Runtime(why)
        | Error::NotFound(why)
        | Error::Load(why)
        | Error::Unfit(why)
        | Error::Caps(why)
        | Error::Input(why)
        | Error::Run(why)
        | Error::Output(why)) = self;
        f.write_str(why)
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The error as a GStreamer error message, in its domain, located at
    /// the caller.
    #[track_caller]
    pub fn message(&self) -> gst::ErrorMessage {
        let text = self.to_string();
        let at = std::panic::Location::caller();
        fn located<T: gst::MessageErrorDomain>(
            domain: T,
            text: &str,
            at: &'static std::panic::Location<'static>,
        ) -> gst::ErrorMessage {
            gst::ErrorMessage::new(&domain, Some(text), None, at.file(), "", at.line())
        }
        match self {
            Error::Runtime(_) => located(gst::LibraryError::Init, &text, at),
            Error::NotFound(_) => located(gst::ResourceError::NotFound, &text, at),
            Error::Load(_) => located(gst::ResourceError::OpenRead, &text, at),
            Error::Unfit(_) => located(gst::ResourceError::Settings, &text, at),
            Error::Caps(_) => located(gst::CoreError::Negotiation, &text, at),
            Error::Input(_) => located(gst::StreamError::Format, &text, at),
            Error::Run(_) => located(gst::LibraryError::Failed, &text, at),
            Error::Output(_) => located(gst::StreamError::Decode, &text, at),
        }
    }

    /// Posts the error from `element` (on the streaming thread) and the
    /// flow return that stops the stream.
    #[track_caller]
    pub fn post(&self, element: &impl IsA<gst::Element>) -> gst::FlowError {
        element.as_ref().post_error_message(self.message());
        match self {
            Error::Caps(_) => gst::FlowError::NotNegotiated,
            _ => gst::FlowError::Error,
        }
    }
}

impl From<cctv::detect::DecodeError> for Error {
    fn from(e: cctv::detect::DecodeError) -> Error {
        Error::Output(e.0)
    }
}
