//! Class names: built-in COCO lists, label files and Ultralytics model metadata.

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
}
