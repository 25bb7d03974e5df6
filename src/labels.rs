//! Class names: built-in COCO lists, label files, Ultralytics model metadata,
//! and the `classes` filter every element's property of that name parses.

/// The 80 COCO classes in the contiguous order YOLO models use (person = 0).
pub const COCO80: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// COCO category ids 1..=90 (TF Object Detection API numbering), index = id - 1;
/// the ten ids COCO never used are empty.
pub fn coco91() -> Vec<String> {
    const UNUSED: [usize; 10] = [12, 26, 29, 30, 45, 66, 68, 69, 71, 83];
    let mut names = COCO80.iter();
    (1..=90)
        .map(|id| {
            if UNUSED.contains(&id) {
                String::new()
            } else {
                names.next().map(|s| s.to_string()).unwrap_or_default()
            }
        })
        .collect()
}

/// Reads a labels file: one name per line, blank lines at the end ignored.
pub fn parse_label_file(text: &str) -> Vec<String> {
    let mut labels: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    while labels.last().is_some_and(|l| l.is_empty()) {
        labels.pop();
    }
    labels
}

/// Parses Ultralytics' `names` metadata, a Python dict literal such as
/// `{0: 'person', 1: 'bicycle'}`. Returns `None` when it is not one.
pub fn parse_ultralytics_names(text: &str) -> Option<Vec<String>> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut entries = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (index, after) = rest.split_once(':')?;
        let index: usize = index.trim().parse().ok()?;
        let after = after.trim_start();
        let quote = after.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let end = after[1..].find(quote)? + 1;
        entries.push((index, after[1..end].to_string()));
        rest = after[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    entries.sort_by_key(|e| e.0);
    let contiguous = entries.iter().enumerate().all(|(i, e)| e.0 == i);
    contiguous.then(|| entries.into_iter().map(|e| e.1).collect())
}

/// A `classes` property: class names or ids, comma separated; empty keeps
/// every class. Parsed once when the property is set, and resolved against
/// the labels once they are known, so a misspelt name is an error at start
/// rather than a filter that silently matches nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassFilter {
    /// As the property was set, for reading it back.
    spec: String,
    items: Vec<ClassItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClassItem {
    Id(u32),
    Name(String),
}

/// A name in a [`ClassFilter`] that is not among the labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownClass {
    pub name: String,
    pub labels: Vec<String>,
}

impl std::fmt::Display for UnknownClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown class \"{}\" (the known labels: {})",
            self.name,
            self.labels.join(", ")
        )
    }
}

impl std::error::Error for UnknownClass {}

/// Per class id: kept or not, from [`ClassFilter::resolve`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassMask {
    /// Empty keeps every class.
    kept: Vec<bool>,
}

impl ClassMask {
    pub fn keeps(&self, class_id: u32) -> bool {
        self.kept.is_empty() || self.kept.get(class_id as usize).copied().unwrap_or(false)
    }
}

impl ClassFilter {
    pub fn parse(spec: &str) -> ClassFilter {
        let items = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| match item.parse::<u32>() {
                Ok(id) => ClassItem::Id(id),
                Err(_) => ClassItem::Name(item.to_string()),
            })
            .collect();
        ClassFilter {
            spec: spec.to_string(),
            items,
        }
    }

    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// True when it keeps every class.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The class-id mask for these labels; every name must be one of them.
    pub fn resolve<S: AsRef<str>>(&self, labels: &[S]) -> Result<ClassMask, UnknownClass> {
        if self.items.is_empty() {
            return Ok(ClassMask::default());
        }
        let mut kept = vec![false; labels.len()];
        for item in &self.items {
            let id = match item {
                ClassItem::Id(id) => *id as usize,
                ClassItem::Name(name) => labels
                    .iter()
                    .position(|l| l.as_ref() == name)
                    .ok_or_else(|| UnknownClass {
                        name: name.clone(),
                        labels: labels.iter().map(|l| l.as_ref().to_string()).collect(),
                    })?,
            };
            if id >= kept.len() {
                kept.resize(id + 1, false);
            }
            kept[id] = true;
        }
        Ok(ClassMask { kept })
    }

    /// Whether an object is kept, for streams whose label list is unknown:
    /// an id matches the class id, a name the object's label.
    pub fn keeps(&self, class_id: u32, label: &str) -> bool {
        self.items.is_empty()
            || self.items.iter().any(|item| match item {
                ClassItem::Id(id) => *id == class_id,
                ClassItem::Name(name) => name == label,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco91_maps_category_ids() {
        let names = coco91();
        assert_eq!(names.len(), 90);
        assert_eq!(names[0], "person");
        assert_eq!(names[2], "car");
        assert_eq!(names[11], "");
        assert_eq!(names[12], "stop sign");
        assert_eq!(names[89], "toothbrush");
    }

    #[test]
    fn ultralytics_names() {
        assert_eq!(
            parse_ultralytics_names("{0: 'Normal', 1: \"Fall\"}"),
            Some(vec!["Normal".to_string(), "Fall".to_string()])
        );
        assert_eq!(
            parse_ultralytics_names("{0: 'a, b', 1: 'c'}").unwrap()[0],
            "a, b"
        );
        assert_eq!(parse_ultralytics_names("[1, 2]"), None);
        assert_eq!(parse_ultralytics_names("{1: 'gap'}"), None);
    }

    #[test]
    fn label_file_lines() {
        assert_eq!(parse_label_file("cat\ndog\n\n"), vec!["cat", "dog"]);
    }

    #[test]
    fn class_filter_resolves_names_and_ids() {
        let labels = ["person", "bicycle", "car"];
        let mask = ClassFilter::parse(" person, 2 ,").resolve(&labels).unwrap();
        assert!(mask.keeps(0) && !mask.keeps(1) && mask.keeps(2) && !mask.keeps(7));
        let all = ClassFilter::parse("").resolve(&labels).unwrap();
        assert!(all.keeps(1) && all.keeps(99));
        // Ids beyond the labels are kept as ids (models may have unnamed classes).
        assert!(ClassFilter::parse("5").resolve(&labels).unwrap().keeps(5));
    }

    #[test]
    fn unknown_class_names_the_labels() {
        let err = ClassFilter::parse("person,unicorn")
            .resolve(&["person", "car"])
            .unwrap_err();
        assert_eq!(err.name, "unicorn");
        assert_eq!(
            err.to_string(),
            "unknown class \"unicorn\" (the known labels: person, car)"
        );
    }

    #[test]
    fn class_filter_without_labels_matches_ids_and_labels() {
        let filter = ClassFilter::parse("person,2");
        assert!(filter.keeps(0, "person"));
        assert!(filter.keeps(2, "car"));
        assert!(!filter.keeps(1, "bicycle"));
        assert!(ClassFilter::default().keeps(1, "bicycle"));
    }
}
