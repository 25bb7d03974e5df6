//! `classify`: the secondary classifier every classifier element is (DL
//! Streamer's `gvaclassify`): any ONNX classification model on the objects of
//! `CctvObjectsMeta`, cropped from their box or as an aligned face chip,
//! batched per frame, voted per track, attached as an attribute.
//! `gendercls` and `agecls` are presets of it: a subclass that names its
//! bundled model, labels, crop and reading ([`Preset`]) and nothing else.

use std::path::PathBuf;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

mod faces;
mod imp;

pub use imp::{ChannelOrder, Crop, Decode};

glib::wrapper! {
    pub struct Classify(ObjectSubclass<imp::Classify>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// What a classifier element is when its properties are left alone.
#[derive(Debug)]
pub struct Preset {
    /// The attribute written.
    pub attribute: &'static str,
    /// The bundled model (a file of the assets folder), if there is one.
    pub model: Option<fn() -> PathBuf>,
    /// Labels of the model's outputs without a labels file: these names,
    /// else the bundled file, else `class0`, `class1`, ... (or, read as a
    /// value, the bins 0, 1, ...).
    pub labels: &'static [&'static str],
    pub labels_file: Option<fn() -> PathBuf>,
    pub crop: Crop,
    pub decode: Decode,
    /// Bands of a value read from bins.
    pub bands: &'static str,
    /// Objects classified (class names or ids, comma-separated; empty: all).
    pub classes: &'static str,
    /// Per-channel normalisation of the input, `(byte - mean) / std`, in the
    /// model's channel order.
    pub mean: &'static str,
    pub std: &'static str,
    pub channel_order: ChannelOrder,
    /// Narrowest box (crop=box) or face (crop=face) classified, in pixels.
    pub min_size: u32,
    pub reclassify_interval: u32,
    pub min_confidence: f64,
}

/// Class structure: the preset of each element type.
#[repr(C)]
pub struct ClassifyClass {
    parent: gst_base::ffi::GstBaseTransformClass,
    preset: fn() -> &'static Preset,
}

unsafe impl ClassStruct for ClassifyClass {
    type Type = imp::Classify;
}

/// What a classifier element implements: its preset (and its metadata, as
/// any element).
pub trait ClassifyImpl: BaseTransformImpl + ObjectSubclass<Type: IsA<Classify>> {
    fn preset() -> &'static Preset;
}

unsafe impl<T: ClassifyImpl> IsSubclassable<T> for Classify {
    fn class_init(class: &mut glib::Class<Self>) {
        Self::parent_class_init::<T>(class);
        class.as_mut().preset = T::preset;
    }
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    for t in [
        Crop::static_type(),
        Decode::static_type(),
        ChannelOrder::static_type(),
        crate::inference::ExecutionProvider::static_type(),
    ] {
        t.mark_as_plugin_api(gst::PluginAPIFlags::empty());
    }
    gst::Element::register(
        Some(plugin),
        "classify",
        gst::Rank::NONE,
        Classify::static_type(),
    )
}

/// Declares a classifier element that is `classify` with a preset: the
/// public type `$name` (GObject type `$type_name`), its implementation and
/// `register`, which registers it as `$element`.
macro_rules! preset_element {
    (
        $name:ident, $type_name:literal, $element:literal, $preset:ident,
        $long_name:literal, $description:literal
    ) => {
        mod imp {
            use std::sync::LazyLock;

            use gst::glib;
            use gst::subclass::prelude::*;
            use gst_base::subclass::prelude::*;

            use $crate::classify::{Classify, ClassifyImpl, Preset};

            #[derive(Default)]
            pub struct $name;

            #[glib::object_subclass]
            impl ObjectSubclass for $name {
                const NAME: &'static str = $type_name;
                type Type = super::$name;
                type ParentType = Classify;
            }

            impl ClassifyImpl for $name {
                fn preset() -> &'static Preset {
                    &super::$preset
                }
            }

            impl ObjectImpl for $name {}
            impl GstObjectImpl for $name {}

            impl ElementImpl for $name {
                fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
                    static METADATA: LazyLock<gst::subclass::ElementMetadata> =
                        LazyLock::new(|| {
                            gst::subclass::ElementMetadata::new(
                                $long_name,
                                "Filter/Analyzer/Video",
                                $description,
                                "gst-cctv developers",
                            )
                        });
                    Some(&*METADATA)
                }
            }

            impl BaseTransformImpl for $name {
                const MODE: gst_base::subclass::BaseTransformMode =
                    gst_base::subclass::BaseTransformMode::AlwaysInPlace;
                const PASSTHROUGH_ON_SAME_CAPS: bool = false;
                const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;
            }
        }

        gst::glib::wrapper! {
            pub struct $name(ObjectSubclass<imp::$name>) @extends $crate::classify::Classify, gst_base::BaseTransform, gst::Element, gst::Object;
        }

        pub fn register(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
            use gst::prelude::*;
            gst::Element::register(Some(plugin), $element, gst::Rank::NONE, $name::static_type())
        }
    };
}
pub(crate) use preset_element;
