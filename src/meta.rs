//! The per-frame object list that gst-cctv elements attach to video buffers.
//!
//! It travels as a `GstCustomMeta` named [`META_NAME`] whose `GstStructure`
//! ([`STRUCTURE_NAME`]) holds the objects, so C and Python apps read it with
//! `gst_buffer_get_custom_meta()` without linking this crate. Rust code uses
//! the typed [`Frame`] view. The meta carries the `video` and `size` tags:
//! scaling elements (`videoscale`, `videoconvertscale`) rescale the boxes.
//!
//! Structure layout (version 1):
//! ```text
//! cctv/objects, version=(uint)1, width=(int)768, height=(int)576,
//!     source=(string)onnxdetect0, model=(string)yolox_nano.onnx, inferred=(boolean)true,
//!     objects=(GstValueArray)< object, x=(double)10, y=(double)20, w=(double)30,
//!         h=(double)60, class-id=(uint)0, label=(string)person, confidence=(double)0.8,
//!         track-id=(guint64)3, predicted=(boolean)false,
//!         attributes=(GstValueArray)< attribute, name=(string)gender,
//!             label=(string)female, confidence=(double)0.9, source=(string)gendercls0 >,
//!         face-searched=(boolean)true, face=(structure)"face, x=(double)18, y=(double)24,
//!             w=(double)12, h=(double)14, confidence=(double)0.9,
//!             landmarks=(GstValueArray)< 21.0, 28.5, 27.0, 28.4, ... >" >
//! ```
//! An attribute read from bins (`age`) adds `value=(double)33.2`. `face` (its
//! box and five landmarks: eyes, nose, mouth corners, as x, y pairs) and
//! `face-searched` are written by face classifiers on the frames they look
//! for a face, so later ones need not look again.
//! A camera source (`camsrc`) adds `camera=(string)gate` and
//! `capture-time=(guint64)` (nanoseconds since the Unix epoch, when the frame
//! was captured; absent on the stand-in frames it sends while the camera is
//! away); elements writing objects later keep both.
//! `track-id` is absent for untracked objects. Boxes are in pixels of a
//! `width` x `height` frame (top-left corner and size). Flips and rotations
//! (`videoflip`) are not mapped: GStreamer 1.22 copies the meta unchanged.

use std::sync::Once;

use crate::bbox::BBox;
pub use crate::objects::{Attribute, Face, Frame, Object};
use gst::glib;
use gst::glib::translate::IntoGlib;
use gst::prelude::*;

/// Name of the custom meta, for `gst_buffer_get_custom_meta()`.
pub const META_NAME: &str = "CctvObjectsMeta";
const META_NAME_C: &std::ffi::CStr = c"CctvObjectsMeta";
/// Name of the structure inside the meta.
pub const STRUCTURE_NAME: &str = "cctv/objects";
/// Layout version written into every structure.
pub const VERSION: u32 = 1;

/// Why a structure could not be read as a [`Frame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaError(pub String);

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid {STRUCTURE_NAME} metadata: {}", self.0)
    }
}

impl std::error::Error for MetaError {}

/// Fields of the frame's origin, written by the camera source.
const CAMERA_FIELD: &str = "camera";
const CAPTURE_FIELD: &str = "capture-time";

/// The structure of `buffer`'s meta, borrowed. `CustomMeta::from_buffer`
/// makes a C string of the name on every call; the constant one keeps the
/// per-frame readers free of allocations.
fn structure(buffer: &gst::BufferRef) -> Option<&gst::StructureRef> {
    unsafe {
        let meta = gst::ffi::gst_buffer_get_custom_meta(buffer.as_mut_ptr(), META_NAME_C.as_ptr());
        if meta.is_null() {
            return None;
        }
        Some(gst::StructureRef::from_glib_borrow(
            gst::ffi::gst_custom_meta_get_structure(meta),
        ))
    }
}

impl Frame {
    /// Reads the frame metadata of `buffer`; `None` when it has none.
    pub fn from_buffer(buffer: &gst::BufferRef) -> Option<Result<Frame, MetaError>> {
        let meta = gst::meta::CustomMeta::from_buffer(buffer, META_NAME).ok()?;
        Some(Frame::from_structure(meta.structure()))
    }

    /// Attaches the metadata to `buffer`, replacing what it had.
    pub fn attach(&self, buffer: &mut gst::BufferRef) {
        register();
        {
            let mut meta = match gst::meta::CustomMeta::from_mut_buffer(buffer, META_NAME) {
                Ok(meta) => meta,
                Err(_) => gst::meta::CustomMeta::add(buffer, META_NAME)
                    .expect("the meta is registered just above"),
            };
            self.write_into(meta.mut_structure());
        }
        #[cfg(feature = "analytics")]
        if let Err(e) = crate::analytics::mirror(self, buffer) {
            gst::warning!(
                gst::CAT_RUST,
                "cannot mirror objects into GstAnalyticsRelationMeta: {e}"
            );
        }
    }

    /// Gives object `index` of `buffer`'s metadata `attribute`, replacing
    /// its attribute of the same name, in place: the other objects are
    /// neither read nor written again (a classifier or the PTZ servo marks
    /// one object for a fraction of what [`Frame::attach`] costs). False
    /// when the buffer has no such object.
    pub fn add_attribute(buffer: &mut gst::BufferRef, index: usize, attribute: &Attribute) -> bool {
        #[cfg(feature = "analytics")]
        {
            // The GstAnalytics mirror must follow: write the frame again.
            let Some(Ok(mut frame)) = Frame::from_buffer(buffer) else {
                return false;
            };
            let Some(o) = frame.objects.get_mut(index) else {
                return false;
            };
            o.attributes.retain(|a| a.name != attribute.name);
            o.attributes.push(attribute.clone());
            frame.attach(buffer);
            true
        }
        #[cfg(not(feature = "analytics"))]
        {
            let Ok(mut meta) = gst::meta::CustomMeta::from_mut_buffer(buffer, META_NAME) else {
                return false;
            };
            let Some(object) = object_mut(meta.mut_structure(), index) else {
                return false;
            };
            let mut attributes: Vec<glib::SendValue> = object
                .get::<gst::ArrayRef>("attributes")
                .map(|list| {
                    list.iter()
                        .filter(|v| {
                            v.get::<&gst::StructureRef>()
                                .ok()
                                .and_then(|a| a.get::<&str>("name").ok())
                                != Some(attribute.name.as_str())
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            attributes.push(attribute_to_value(attribute));
            object.set("attributes", gst::Array::from_values(attributes));
            true
        }
    }

    /// Removes the metadata from `buffer`, if it has any.
    pub fn detach(buffer: &mut gst::BufferRef) {
        if let Ok(meta) = gst::meta::CustomMeta::from_mut_buffer(buffer, META_NAME) {
            meta.remove().ok();
        }
    }

    /// The structure form, as apps see it.
    pub fn to_structure(&self) -> gst::Structure {
        let mut s = gst::Structure::new_empty(STRUCTURE_NAME);
        self.write_into(&mut s);
        s
    }

    fn write_into(&self, s: &mut gst::StructureRef) {
        s.set_name(STRUCTURE_NAME);
        s.set("version", VERSION);
        s.set("width", self.width as i32);
        s.set("height", self.height as i32);
        s.set("source", self.source.as_str());
        s.set("model", self.model.as_str());
        s.set("inferred", self.inferred);
        let objects = self
            .objects
            .iter()
            .map(|o| object_to_structure(o).to_send_value());
        s.set("objects", gst::Array::from_values(objects));
    }

    /// Parses the structure form; missing optional fields take their defaults.
    pub fn from_structure(s: &gst::StructureRef) -> Result<Frame, MetaError> {
        let mut frame = Frame::default();
        frame.read_structure(s)?;
        Ok(frame)
    }

    /// Reads the metadata of `buffer` into this frame, reusing its memory;
    /// `None` (and the frame unchanged) when the buffer has none. A reader
    /// keeping one `Frame` for every buffer then parses without allocating
    /// once its objects, attributes and strings have grown large enough.
    pub fn read_buffer(&mut self, buffer: &gst::BufferRef) -> Option<Result<(), MetaError>> {
        Some(self.read_structure(structure(buffer)?))
    }

    /// Stamps `buffer` with the camera it comes from and its capture time
    /// (nanoseconds since the Unix epoch; none for a stand-in frame sent
    /// while the camera is away), adding an empty `width` x `height` frame
    /// when it has no metadata yet.
    pub fn stamp_origin(
        buffer: &mut gst::BufferRef,
        width: u32,
        height: u32,
        camera: &str,
        capture_ns: Option<u64>,
    ) {
        register();
        let mut meta = match gst::meta::CustomMeta::from_mut_buffer(buffer, META_NAME) {
            Ok(meta) => meta,
            Err(_) => {
                let mut meta = gst::meta::CustomMeta::add(buffer, META_NAME)
                    .expect("the meta is registered just above");
                Frame {
                    width,
                    height,
                    inferred: false,
                    ..Frame::default()
                }
                .write_into(meta.mut_structure());
                meta
            }
        };
        let s = meta.mut_structure();
        s.set(CAMERA_FIELD, camera);
        match capture_ns {
            Some(t) => s.set(CAPTURE_FIELD, t),
            None => s.remove_field(CAPTURE_FIELD),
        }
    }

    /// The capture time `buffer` was stamped with, nanoseconds since the
    /// Unix epoch (no allocation).
    pub fn capture_time(buffer: &gst::BufferRef) -> Option<u64> {
        structure(buffer)?.get::<u64>(CAPTURE_FIELD).ok()
    }

    /// The camera `buffer` was stamped with (borrowed: no allocation).
    pub fn camera(buffer: &gst::BufferRef) -> Option<&str> {
        structure(buffer)?.get::<&str>(CAMERA_FIELD).ok()
    }

    /// [`Frame::from_structure`] into this frame, reusing its memory. On an
    /// error the frame holds what was read before it.
    pub fn read_structure(&mut self, s: &gst::StructureRef) -> Result<(), MetaError> {
        if s.name() != STRUCTURE_NAME {
            return Err(MetaError(format!("structure is named {}", s.name())));
        }
        self.width = field::<i32>(s, "width")?.max(0) as u32;
        self.height = field::<i32>(s, "height")?.max(0) as u32;
        set(&mut self.source, optional(s, "source")?.unwrap_or_default());
        set(&mut self.model, optional(s, "model")?.unwrap_or_default());
        self.inferred = optional(s, "inferred")?.unwrap_or(true);
        let objects = optional::<gst::ArrayRef>(s, "objects")
            .map_err(|e| MetaError(format!("objects: {e}")))?
            .map_or(&[][..], |a| a.as_slice());
        self.objects.truncate(objects.len());
        for (i, v) in objects.iter().enumerate() {
            let o = v
                .get::<&gst::StructureRef>()
                .map_err(|e| MetaError(format!("object is not a structure: {e}")))?;
            if i == self.objects.len() {
                self.objects
                    .push(Object::new(BBox::default(), 0, String::new(), 0.0));
            }
            read_object(&mut self.objects[i], o)?;
        }
        Ok(())
    }
}

/// Replaces the text of `dest`, keeping its buffer.
fn set(dest: &mut String, value: &str) {
    dest.clear();
    dest.push_str(value);
}

/// Object `index` of a frame structure we hold mutably.
#[cfg(not(feature = "analytics"))]
fn object_mut(s: &mut gst::StructureRef, index: usize) -> Option<&mut gst::StructureRef> {
    use glib::translate::ToGlibPtr;
    let name: glib::GString = "objects".into();
    // SAFETY: the array lives in `s`, which we hold mutably, so its
    // elements may be changed in place; types are checked before use.
    unsafe {
        let array = gst::ffi::gst_structure_get_value(s.as_ptr(), name.to_glib_none().0);
        if array.is_null()
            || glib::gobject_ffi::g_type_check_value_holds(
                array as *mut _,
                gst::ffi::gst_value_array_get_type(),
            ) == glib::ffi::GFALSE
            || index >= gst::ffi::gst_value_array_get_size(array) as usize
        {
            return None;
        }
        let value = gst::ffi::gst_value_array_get_value(array, index as u32) as *mut _;
        if glib::gobject_ffi::g_type_check_value_holds(value, gst::ffi::gst_structure_get_type())
            == glib::ffi::GFALSE
        {
            return None;
        }
        let object = glib::gobject_ffi::g_value_get_boxed(value) as *mut gst::ffi::GstStructure;
        (!object.is_null()).then(|| gst::StructureRef::from_glib_borrow_mut(object))
    }
}

fn field<'a, T: glib::value::FromValue<'a>>(
    s: &'a gst::StructureRef,
    name: &str,
) -> Result<T, MetaError> {
    s.get::<T>(name)
        .map_err(|e| MetaError(format!("{}: {e}", s.name())))
}

fn optional<'a, T: glib::value::FromValue<'a>>(
    s: &'a gst::StructureRef,
    name: &str,
) -> Result<Option<T>, MetaError> {
    s.get_optional::<T>(name)
        .map_err(|e| MetaError(format!("{}: {e}", s.name())))
}

fn object_to_structure(o: &Object) -> gst::Structure {
    let mut s = gst::Structure::builder("object")
        .field("x", o.bbox.x as f64)
        .field("y", o.bbox.y as f64)
        .field("w", o.bbox.w as f64)
        .field("h", o.bbox.h as f64)
        .field("class-id", o.class_id)
        .field("label", o.label.as_str())
        .field("confidence", o.confidence as f64)
        .field("predicted", o.predicted)
        .build();
    if let Some(id) = o.track_id {
        s.set("track-id", id);
    }
    if !o.attributes.is_empty() {
        let attributes = o.attributes.iter().map(attribute_to_value);
        s.set("attributes", gst::Array::from_values(attributes));
    }
    if o.face_searched {
        s.set("face-searched", true);
    }
    if let Some(face) = &o.face {
        s.set("face", face_to_structure(face));
    }
    s
}

fn attribute_to_value(a: &Attribute) -> glib::SendValue {
    gst::Structure::builder("attribute")
        .field("name", a.name.as_str())
        .field("label", a.label.as_str())
        .field("confidence", a.confidence as f64)
        .field("source", a.source.as_str())
        .field_if_some("value", a.value.map(f64::from))
        .build()
        .to_send_value()
}

fn face_to_structure(f: &Face) -> gst::Structure {
    let landmarks = f
        .landmarks
        .iter()
        .flat_map(|&(x, y)| [x as f64, y as f64])
        .map(|v| v.to_send_value());
    gst::Structure::builder("face")
        .field("x", f.bbox.x as f64)
        .field("y", f.bbox.y as f64)
        .field("w", f.bbox.w as f64)
        .field("h", f.bbox.h as f64)
        .field("confidence", f.score as f64)
        .field("landmarks", gst::Array::from_values(landmarks))
        .build()
}

fn read_face(s: &gst::StructureRef) -> Result<Face, MetaError> {
    let points = field::<gst::ArrayRef>(s, "landmarks")?;
    let points: Vec<f32> = points
        .iter()
        .map(|v| v.get::<f64>().map(|v| v as f32))
        .collect::<Result<_, _>>()
        .map_err(|e| MetaError(format!("face landmarks: {e}")))?;
    let landmarks: [f32; 10] = points.try_into().map_err(|p: Vec<f32>| {
        MetaError(format!("face has {} landmark values, not 10", p.len()))
    })?;
    Ok(Face {
        bbox: BBox::new(
            field::<f64>(s, "x")? as f32,
            field::<f64>(s, "y")? as f32,
            field::<f64>(s, "w")? as f32,
            field::<f64>(s, "h")? as f32,
        ),
        score: field::<f64>(s, "confidence")? as f32,
        landmarks: std::array::from_fn(|i| (landmarks[2 * i], landmarks[2 * i + 1])),
    })
}

fn read_object(o: &mut Object, s: &gst::StructureRef) -> Result<(), MetaError> {
    o.bbox = BBox::new(
        field::<f64>(s, "x")? as f32,
        field::<f64>(s, "y")? as f32,
        field::<f64>(s, "w")? as f32,
        field::<f64>(s, "h")? as f32,
    );
    o.class_id = field::<u32>(s, "class-id")?;
    set(&mut o.label, optional(s, "label")?.unwrap_or_default());
    o.confidence = field::<f64>(s, "confidence")? as f32;
    o.track_id = optional::<u64>(s, "track-id")?;
    o.predicted = optional::<bool>(s, "predicted")?.unwrap_or(false);
    let attributes = optional::<gst::ArrayRef>(s, "attributes")?.map_or(&[][..], |a| a.as_slice());
    o.attributes.truncate(attributes.len());
    for (i, v) in attributes.iter().enumerate() {
        let a = v
            .get::<&gst::StructureRef>()
            .map_err(|e| MetaError(format!("attribute is not a structure: {e}")))?;
        if i == o.attributes.len() {
            o.attributes.push(Attribute {
                name: String::new(),
                label: String::new(),
                confidence: 0.0,
                source: String::new(),
                value: None,
            });
        }
        let dest = &mut o.attributes[i];
        set(&mut dest.name, field::<&str>(a, "name")?);
        set(&mut dest.label, field::<&str>(a, "label")?);
        dest.confidence = field::<f64>(a, "confidence")? as f32;
        set(
            &mut dest.source,
            optional::<&str>(a, "source")?.unwrap_or_default(),
        );
        dest.value = optional::<f64>(a, "value")?.map(|v| v as f32);
    }
    o.face_searched = optional::<bool>(s, "face-searched")?.unwrap_or(false);
    o.face = optional::<&gst::StructureRef>(s, "face")?
        .map(read_face)
        .transpose()?;
    Ok(())
}

/// Registers the custom meta; idempotent. Call after `gst::init()`.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let name = std::ffi::CString::new(META_NAME).unwrap();
        let tags: [*const std::ffi::c_char; 3] =
            [c"video".as_ptr(), c"size".as_ptr(), std::ptr::null()];
        // The safe `CustomMeta::register_with_transform` hides the transform data,
        // which carries the scaling element's input and output video info.
        unsafe {
            gst::ffi::gst_meta_register_custom(
                name.as_ptr(),
                tags.as_ptr() as *mut *const std::ffi::c_char,
                Some(transform),
                std::ptr::null_mut(),
                None,
            );
        }
    });
}

unsafe extern "C" fn transform(
    dest: *mut gst::ffi::GstBuffer,
    meta: *mut gst::ffi::GstCustomMeta,
    _src: *mut gst::ffi::GstBuffer,
    type_: glib::ffi::GQuark,
    data: glib::ffi::gpointer,
    _user_data: glib::ffi::gpointer,
) -> glib::ffi::gboolean {
    let source = unsafe { &*(meta as *const gst::meta::CustomMeta) }.structure();
    let dest = unsafe { gst::BufferRef::from_mut_ptr(dest) };

    if type_ == glib::Quark::from_str("gst-copy").into_glib() {
        let Ok(frame) = Frame::from_structure(source) else {
            return glib::ffi::GFALSE;
        };
        frame.attach(dest);
        return glib::ffi::GTRUE;
    }

    let scale = unsafe { gst_video::ffi::gst_video_meta_transform_scale_get_quark() };
    if type_ == scale && !data.is_null() {
        let t = unsafe { &*(data as *const gst_video::ffi::GstVideoMetaTransform) };
        if t.in_info.is_null() || t.out_info.is_null() {
            return glib::ffi::GFALSE;
        }
        let (out_w, out_h) = unsafe { ((*t.out_info).width, (*t.out_info).height) };
        let Ok(mut frame) = Frame::from_structure(source) else {
            return glib::ffi::GFALSE;
        };
        frame.rescale(out_w.max(0) as u32, out_h.max(0) as u32);
        frame.attach(dest);
        return glib::ffi::GTRUE;
    }
    glib::ffi::GFALSE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Frame {
        let mut person = Object::new(BBox::new(10.0, 20.0, 30.0, 60.0), 0, "person", 0.8);
        person.track_id = Some(7);
        person.attributes.push(Attribute {
            name: "gender".into(),
            label: "female".into(),
            confidence: 0.9,
            source: "gendercls0".into(),
            value: None,
        });
        let car = Object::new(BBox::new(100.0, 50.0, 80.0, 40.0), 2, "car", 0.55);
        Frame {
            width: 768,
            height: 576,
            source: "onnxdetect0".into(),
            model: "yolox_nano.onnx".into(),
            inferred: true,
            objects: vec![person, car],
        }
    }

    #[test]
    fn structure_round_trip() {
        gst::init().unwrap();
        let frame = sample();
        let s = frame.to_structure();
        assert_eq!(s.get::<u32>("version").unwrap(), VERSION);
        assert_eq!(Frame::from_structure(&s).unwrap(), frame);
        // The string form is what gst-launch users see in logs; it parses back.
        let reparsed: gst::Structure = s.to_string().parse().unwrap();
        assert_eq!(Frame::from_structure(&reparsed).unwrap(), frame);
    }

    #[test]
    fn json_round_trip() {
        let frame = sample();
        let json = serde_json::to_value(&frame).unwrap();
        assert_eq!(json["objects"][0]["track_id"], 7);
        assert!(json["objects"][1].get("track_id").is_none());
        assert_eq!(json["objects"][0]["attributes"][0]["label"], "female");
        let back: Frame = serde_json::from_value(json).unwrap();
        assert_eq!(back, frame);
    }

    #[test]
    fn buffer_attach_read_replace_detach() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::with_size(16).unwrap();
        let b = buffer.get_mut().unwrap();
        assert!(Frame::from_buffer(b).is_none());
        let mut frame = sample();
        frame.attach(b);
        assert_eq!(Frame::from_buffer(b).unwrap().unwrap(), frame);
        frame.objects.truncate(1);
        frame.attach(b);
        assert_eq!(Frame::from_buffer(b).unwrap().unwrap().objects.len(), 1);
        let mut metas = 0;
        b.foreach_meta(|_| {
            metas += 1;
            std::ops::ControlFlow::Continue(())
        });
        assert_eq!(metas, 1, "attach replaces, never stacks");
        Frame::detach(b);
        assert!(Frame::from_buffer(b).is_none());
    }

    #[test]
    fn attributes_are_added_in_place() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::with_size(16).unwrap();
        let b = buffer.get_mut().unwrap();
        let mut expected = sample();
        expected.attach(b);
        let target = Attribute {
            name: "ptz".into(),
            label: "target".into(),
            confidence: 1.0,
            source: "ptzservo0".into(),
            value: None,
        };
        // The car had none; the person's gender is replaced, its other kept.
        assert!(Frame::add_attribute(b, 1, &target));
        let male = Attribute {
            name: "gender".into(),
            label: "male".into(),
            confidence: 0.7,
            source: "gendercls1".into(),
            value: None,
        };
        assert!(Frame::add_attribute(b, 0, &target));
        assert!(Frame::add_attribute(b, 0, &male));
        expected.objects[1].attributes.push(target.clone());
        expected.objects[0].attributes = vec![target, male];
        assert_eq!(Frame::from_buffer(b).unwrap().unwrap(), expected);
        assert!(!Frame::add_attribute(
            b,
            2,
            &expected.objects[0].attributes[0]
        ));
        Frame::detach(b);
        assert!(!Frame::add_attribute(
            b,
            0,
            &expected.objects[0].attributes[0]
        ));
    }

    #[test]
    fn buffer_copy_keeps_meta() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::with_size(16).unwrap();
        sample().attach(buffer.get_mut().unwrap());
        let copy = buffer.copy();
        assert_eq!(Frame::from_buffer(&copy).unwrap().unwrap(), sample());
        let deep = buffer.copy_deep().unwrap();
        assert_eq!(Frame::from_buffer(&deep).unwrap().unwrap(), sample());
    }

    #[test]
    fn reading_into_a_frame_reuses_it_and_matches_a_fresh_parse() {
        gst::init().unwrap();
        let mut frame = sample();
        frame.objects[1].attributes = frame.objects[0].attributes.clone();
        let mut reused = Frame::default();
        reused.read_structure(&frame.to_structure()).unwrap();
        assert_eq!(reused, frame);
        let label = reused.objects[0].label.as_ptr();
        // Fewer objects and attributes, other values: nothing of the first read is left.
        let mut smaller = sample();
        smaller.objects.truncate(1);
        smaller.objects[0].label = "cyclist".into();
        smaller.objects[0].attributes.clear();
        smaller.objects[0].track_id = None;
        reused.read_structure(&smaller.to_structure()).unwrap();
        assert_eq!(reused, smaller);
        assert_eq!(
            reused.objects[0].label.as_ptr(),
            label,
            "label buffer reused"
        );
        let mut buffer = gst::Buffer::with_size(16).unwrap();
        assert!(reused.read_buffer(&buffer).is_none());
        frame.attach(buffer.get_mut().unwrap());
        reused.read_buffer(&buffer).unwrap().unwrap();
        assert_eq!(reused, frame);
        assert_eq!(META_NAME_C.to_str().unwrap(), META_NAME);
    }

    #[test]
    fn rescale_maps_boxes() {
        let mut frame = sample();
        frame.rescale(384, 288);
        assert_eq!(frame.objects[0].bbox, BBox::new(5.0, 10.0, 15.0, 30.0));
        assert_eq!((frame.width, frame.height), (384, 288));
    }

    #[test]
    fn bad_structures_are_errors() {
        gst::init().unwrap();
        let wrong_name = gst::Structure::new_empty("other");
        assert!(Frame::from_structure(&wrong_name).is_err());
        let bad: gst::Structure =
            "cctv/objects, width=(int)10, height=(int)10, objects=(GstValueArray)< (int)1 >"
                .parse()
                .unwrap();
        assert!(Frame::from_structure(&bad).is_err());
        let object = gst::Structure::builder("object")
            .field("x", 1.0f64)
            .field("y", 1.0f64)
            .field("w", 1.0f64)
            .field("h", 1.0f64)
            .field("class-id", 0u32)
            .build();
        let missing_conf = gst::Structure::builder(STRUCTURE_NAME)
            .field("width", 10i32)
            .field("height", 10i32)
            .field("objects", gst::Array::new([object]))
            .build();
        let err = Frame::from_structure(&missing_conf).unwrap_err();
        assert!(err.to_string().contains("confidence"), "{err}");
    }
}
