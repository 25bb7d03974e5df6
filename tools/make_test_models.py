#!/usr/bin/env python3
"""Generates tiny synthetic ONNX detectors for the output layouts no bundled real model has.

Writes tests/models/*.onnx, tests/models/expected.json and nothing else. Each graph really
consumes its input (output = Constant + 0 * ReduceMean(input), broadcast) and returns
fixed, known tensors, so onnxdetect's layout recognition and decoding can be tested
without a real model. The expected detections in expected.json are computed here from the
constants placed in the graphs (a small decoder of its own, not the Rust code), for a
64x64 frame fed with no letterbox (frame size = input size), conf 0.25, IoU 0.45,
class-aware NMS. tests/models/README.md documents each model by hand; keep it in step.

Environment (dev-time only, a throwaway venv):

    /usr/bin/python3 -m venv --system-site-packages /tmp/refvenv
    /tmp/refvenv/bin/pip install onnxruntime==1.32.0 numpy onnx

Run (rewrites the models and expected.json, then loads every model with ONNX Runtime and
checks its outputs equal the constants):

    /tmp/refvenv/bin/python tools/make_test_models.py [--out DIR]

The output is deterministic: re-running it gives the same bytes.
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPSET = 13
IR_VERSION = 8
CONF = 0.25
IOU = 0.45
FRAME = 64  # frame size = input size for every detector here
PRODUCER = "gst-cctv tools/make_test_models.py"

F32 = np.float32

# ---------------------------------------------------------------------------------------
# The rows every YOLO-style synthetic model carries, in input pixels of a 64x64 input.
# name: (cx, cy, w, h, obj, class scores)   (YOLOv8 uses obj * class scores as its scores)
# ---------------------------------------------------------------------------------------
YOLO_ROWS = [
    # a clear object of class 0: box 12..28 x 8..32
    ("A", (20, 20, 16, 24, 0.9, (0.9, 0.05, 0.05))),
    # a clear object of class 1 reaching past the right edge: 46..66 x 44..60, clipped to 64
    ("B", (56, 52, 20, 16, 0.8, (0.1, 0.85, 0.05))),
    # duplicate of A (shifted 1 px, IoU 0.816), same class, lower score: NMS drops it
    ("A_dup", (21, 21, 16, 24, 0.8, (0.8, 0.1, 0.1))),
    # overlaps A (shifted -1 px, IoU 0.816) but its best class is 2: class-aware NMS keeps it
    ("A_other_class", (19, 19, 16, 24, 0.75, (0.7, 0.1, 0.8))),
    # objectness passes 0.25 alone, but obj * cls = 0.15 is below the threshold
    ("low", (50, 12, 10, 10, 0.3, (0.5, 0.2, 0.1))),
    # zero-size box with a high score: not an object, must not be reported
    ("zero_size", (32, 32, 0, 0, 0.9, (0.05, 0.8, 0.05))),
]
NAMES = ["cat", "dog", "bird"]

# YOLOv5 [1, 252, 8]: 252 = 3 anchors x (8x8 + 4x4 + 2x2) cells, the row count a real
# YOLOv5/v7 export has for a 64x64 input; the six rows sit at these indices, the rest are 0.
V5_ROWS = 3 * (8 * 8 + 4 * 4 + 2 * 2)
V5_INDEX = {"B": 3, "A": 70, "zero_size": 71, "A_other_class": 150, "A_dup": 200, "low": 251}
# YOLOv8 [1, 7, 84]: 84 anchors (8x8 + 4x4 + 2x2) for a 64x64 input.
V8_ANCHORS = 8 * 8 + 4 * 4 + 2 * 2
V8_INDEX = {"A_dup": 0, "B": 30, "A": 31, "zero_size": 55, "low": 70, "A_other_class": 83}


def v5_tensor():
    t = np.zeros((1, V5_ROWS, 5 + len(NAMES)), dtype=F32)
    for name, (cx, cy, w, h, obj, cls) in YOLO_ROWS:
        t[0, V5_INDEX[name]] = [cx, cy, w, h, obj, *cls]
    return t


def v8_class_scores(obj, cls):
    return [float(F32(obj) * F32(c)) for c in cls]


def v8_tensor():
    t = np.zeros((1, 4 + len(NAMES), V8_ANCHORS), dtype=F32)
    for name, (cx, cy, w, h, obj, cls) in YOLO_ROWS:
        t[0, :, V8_INDEX[name]] = [cx, cy, w, h, *v8_class_scores(obj, cls)]
    return t


# TF Object Detection API: K = 5 rows, num_detections = 3; rows 3 and 4 are padding garbage
# with high scores that must be ignored. Boxes (ymin, xmin, ymax, xmax) normalised; values
# are binary fractions so that box * 64 is exact.
TFOD_K = 5
TFOD_NUM = 3
TFOD_ROWS = [
    # (box, score, category id)
    ((0.125, 0.25, 0.625, 0.5), 0.9, 1),  # person: x 16..32, y 8..40
    ((0.5, 0.5, 0.75, 0.9375), 0.7, 3),  # car: x 32..60, y 32..48
    ((0.25, 0.0625, 0.5, 0.1875), 0.2, 1),  # person below the threshold
    ((0.0, 0.0, 1.0, 1.0), 0.95, 1),  # padding beyond num_detections
    ((0.1, 0.1, 0.2, 0.2), 0.99, 3),  # padding beyond num_detections
]

# End-to-end [1, 8, 6]: x1, y1, x2, y2, score, class; NMS done in the graph; rows 4..7 are
# zero padding (score 0), as top-k exports have.
E2E6_ROWS = [
    (12, 8, 28, 32, 0.81, 0),  # A
    (46, 44, 66, 60, 0.68, 1),  # B, reaches past the right edge
    (17, 8, 33, 32, 0.5, 0),  # same class as A with IoU 0.524: the model kept it, so must we
    (30, 30, 40, 40, 0.2, 2),  # below the threshold
] + [(0, 0, 0, 0, 0.0, 0)] * 4

# End-to-end [N, 7] (N declared dynamic, 4 at run time): batch_id, x1, y1, x2, y2, class, score.
E2E7_ROWS = [
    (0, 12, 8, 28, 32, 0, 0.81),
    (0, 46, 44, 66, 60, 1, 0.68),
    (0, 17, 8, 33, 32, 0, 0.5),
    (0, 30, 30, 40, 40, 2, 0.2),
]

CLASSIFIER_LOGITS = [0.1, 2.0, -1.0, 0.5, 3.0, -0.5, 0.0, 1.5, -2.0, 0.25]


# ---------------------------------------------------------------------------------------
# Graph building
# ---------------------------------------------------------------------------------------
def build(graph_name, inp, outputs, metadata=None, dynamic_rows=False):
    """inp = (name, elem_type, shape); outputs = [(name, array, declared shape)].
    Every output = Constant(array) + 0 * ReduceMean(input) (a scalar, broadcast).
    dynamic_rows: the (single, 2-D) output's row count is made data-dependent, as after an
    in-graph NMS: rows = Gather(rows, NonZero(last column > -1)), so ONNX Runtime reports
    its first dimension as dynamic (all rows still come out)."""
    in_name, in_type, in_shape = inp
    nodes = []
    x = in_name
    if in_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [in_name], ["input_f32"], to=TensorProto.FLOAT))
        x = "input_f32"
    nodes.append(helper.make_node("ReduceMean", [x], ["input_mean"], keepdims=0))
    nodes.append(
        helper.make_node(
            "Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0.0, dtype=F32), "zero")
        )
    )
    nodes.append(helper.make_node("Mul", ["input_mean", "zero"], ["input_term"]))
    out_infos = []
    for name, array, shape in outputs:
        cname = f"{name}_const"
        nodes.append(
            helper.make_node(
                "Constant", [], [cname], value=numpy_helper.from_array(np.asarray(array, dtype=F32), cname)
            )
        )
        if not dynamic_rows:
            nodes.append(helper.make_node("Add", [cname, "input_term"], [name]))
        else:
            cols = np.asarray(array).shape[1]
            const = lambda n, v: helper.make_node(  # noqa: E731
                "Constant", [], [n], value=numpy_helper.from_array(np.asarray(v), n)
            )
            nodes += [
                helper.make_node("Add", [cname, "input_term"], ["rows"]),
                const("last_col", np.array([cols - 1], dtype=np.int64)),
                helper.make_node("Gather", ["rows", "last_col"], ["last"], axis=1),
                const("minus_one", np.array(-1.0, dtype=F32)),
                helper.make_node("Greater", ["last", "minus_one"], ["keep"]),
                helper.make_node("NonZero", ["keep"], ["keep_idx"]),  # [2, n]: (row, col) pairs
                const("zero_i64", np.array([0], dtype=np.int64)),
                helper.make_node("Gather", ["keep_idx", "zero_i64"], ["keep_rows2"], axis=0),
                helper.make_node("Squeeze", ["keep_rows2", "zero_i64"], ["keep_rows"]),
                helper.make_node("Gather", ["rows", "keep_rows"], [name], axis=0),
            ]
        out_infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    graph = helper.make_graph(
        nodes, graph_name, [helper.make_tensor_value_info(in_name, in_type, in_shape)], out_infos
    )
    model = helper.make_model(graph, producer_name=PRODUCER, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    for k, v in (metadata or {}).items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model, full_check=True)
    return model


def colour_model():
    """A classifier that reads its input: scores = the mean of each channel of a
    [N,3,16,16] crop ([N,3] out, free batch), so the class is the crop's strongest
    colour. Tests the classify element's crops, batches and labels."""
    nodes = [helper.make_node("ReduceMean", ["input"], ["scores"], axes=[2, 3], keepdims=0)]
    graph = helper.make_graph(
        nodes,
        "colour_synth",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3])],
    )
    model = helper.make_model(graph, producer_name=PRODUCER, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    feed = np.zeros((2, 3, 16, 16), dtype=F32)
    feed[0, 1] = 200.0
    feed[1] = np.array([90.0, 10.0, 30.0], dtype=F32)[:, None, None]
    want = np.array([[0.0, 200.0, 0.0], [90.0, 10.0, 30.0]], dtype=F32)
    return model, {"scores": want}, {"input": feed}


def models():
    """file name -> (model, {output name: expected array}, feed {input name: array})"""
    img64 = np.full((1, 3, 64, 64), 0.5, dtype=F32)
    out = {}
    t = v5_tensor()
    out["yolov5_synth.onnx"] = (
        build("yolov5_synth", ("images", TensorProto.FLOAT, [1, 3, 64, 64]), [("output", t, list(t.shape))]),
        {"output": t},
        {"images": img64},
    )
    t = v8_tensor()
    names = "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(NAMES)) + "}"
    out["yolov8_synth.onnx"] = (
        build(
            "yolov8_synth",
            ("images", TensorProto.FLOAT, [1, 3, 64, 64]),
            [("output0", t, list(t.shape))],
            metadata={"names": names},
        ),
        {"output0": t},
        {"images": img64},
    )
    boxes = np.array([[r[0] for r in TFOD_ROWS]], dtype=F32)
    scores = np.array([[r[1] for r in TFOD_ROWS]], dtype=F32)
    classes = np.array([[r[2] for r in TFOD_ROWS]], dtype=F32)
    num = np.array([TFOD_NUM], dtype=F32)
    tfod_out = {
        "num_detections:0": num,
        "detection_boxes:0": boxes,
        "detection_scores:0": scores,
        "detection_classes:0": classes,
    }
    out["tfod_synth.onnx"] = (
        build(
            "tfod_synth",
            ("image_tensor:0", TensorProto.UINT8, [1, "height", "width", 3]),
            [
                ("num_detections:0", num, [1]),
                ("detection_boxes:0", boxes, [1, TFOD_K, 4]),
                ("detection_scores:0", scores, [1, TFOD_K]),
                ("detection_classes:0", classes, [1, TFOD_K]),
            ],
        ),
        tfod_out,
        {"image_tensor:0": np.full((1, 48, 80, 3), 7, dtype=np.uint8)},
    )
    t = np.array([E2E6_ROWS], dtype=F32)
    out["e2e6_synth.onnx"] = (
        build("e2e6_synth", ("images", TensorProto.FLOAT, [1, 3, 64, 64]), [("output", t, list(t.shape))]),
        {"output": t},
        {"images": img64},
    )
    t = np.array(E2E7_ROWS, dtype=F32)
    out["e2e7_synth.onnx"] = (
        build(
            "e2e7_synth",
            ("images", TensorProto.FLOAT, [1, 3, 64, 64]),
            [("output", t, ["num_dets", 7])],
            dynamic_rows=True,
        ),
        {"output": t},
        {"images": img64},
    )
    out["colour_synth.onnx"] = colour_model()
    t = np.array([CLASSIFIER_LOGITS], dtype=F32)
    out["classifier_synth.onnx"] = (
        build("classifier_synth", ("input", TensorProto.FLOAT, [1, 3, 32, 32]), [("logits", t, [1, 10])]),
        {"logits": t},
        {"input": np.full((1, 3, 32, 32), 0.5, dtype=F32)},
    )
    return out


# ---------------------------------------------------------------------------------------
# Expected detections, from the constants above (not from the graphs, not from Rust)
# ---------------------------------------------------------------------------------------
def iou(a, b):
    """a, b = (x1, y1, x2, y2)"""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def finish(cands, nms):
    """cands: dicts with row, corners, score, class_id. Returns (detections, dropped)."""
    dropped = []
    kept = []
    for c in cands:
        x1, y1, x2, y2 = c["corners"]
        if c["score"] < CONF:
            dropped.append({"row": c["row"], "reason": f"score {c['score']:.4f} < {CONF}"})
        elif x2 <= x1 or y2 <= y1:
            dropped.append({"row": c["row"], "reason": "zero-size box"})
        else:
            kept.append(c)
    kept.sort(key=lambda c: -c["score"])
    final = []
    for c in kept:
        if nms:
            over = [f for f in final if f["class_id"] == c["class_id"] and iou(f["corners"], c["corners"]) > IOU]
            if over:
                o = over[0]
                dropped.append(
                    {
                        "row": c["row"],
                        "reason": f"NMS: IoU {iou(o['corners'], c['corners']):.3f} with row {o['row']} of the same class",
                    }
                )
                continue
        final.append(c)
    dets = []
    for c in final:
        x1, y1, x2, y2 = (min(max(v, 0.0), FRAME) for v in c["corners"])
        d = {"x": float(x1), "y": float(y1), "w": float(x2 - x1), "h": float(y2 - y1), "score": round(c["score"], 6), "class_id": c["class_id"]}
        for k in ("category_id", "label", "row_name"):
            if k in c:
                d[k] = c[k]
        dets.append(d)
    dropped.sort(key=lambda d: d["row"])
    return dets, dropped


def yolo_cands(v8):
    cands = []
    for name, (cx, cy, w, h, obj, cls) in YOLO_ROWS:
        scores = v8_class_scores(obj, cls) if v8 else [float(F32(obj) * F32(c)) for c in cls]
        cid = int(np.argmax(scores))
        cands.append(
            {
                "row": (V8_INDEX if v8 else V5_INDEX)[name],
                "row_name": name,
                "corners": (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2),
                "score": scores[cid],
                "class_id": cid,
                **({"label": NAMES[cid]} if v8 else {}),
            }
        )
    return cands


def expected():
    common = {"frame": [FRAME, FRAME], "letterbox": "none", "conf_threshold": CONF, "iou_threshold": IOU}
    exp = {
        "tool": "tools/make_test_models.py",
        "notes": [
            "Frame 64x64 = input size, no letterbox; boxes x,y,w,h (top-left, size) in frame pixels, "
            "clipped to the frame; detections sorted by score descending.",
            "Scores are float32 products (obj * cls) for YOLOv5 and given as is otherwise; compare "
            "with a small tolerance (1e-5 on scores, 1e-3 px on boxes).",
            "class_id is 0-based. For tfod_synth, category_id is the raw 1-based COCO category id "
            "the graph outputs and class_id = category_id - 1, the index into the COCO category-id "
            "list without its background entry (the 91-entry list 'background, person, bicycle, car, "
            "...' with index 0 dropped, i.e. ids 1..90, unused ids empty): person = 0, car = 2.",
            "'dropped' lists the rows that must not come out, and why (row = index along the "
            "output's row/anchor axis).",
        ],
        "models": {},
    }
    m = exp["models"]
    dets, dropped = finish(yolo_cands(False), nms=True)
    m["yolov5_synth.onnx"] = {
        "layout": "YOLOv5/v7 [1,N,5+C] rows cx,cy,w,h,obj,cls*C; score = obj * max cls",
        "input": {"name": "images", "shape": [1, 3, 64, 64], "type": "float32"},
        "output": {"name": "output", "shape": [1, V5_ROWS, 5 + len(NAMES)]},
        "classes": len(NAMES),
        "nms": "class-aware",
        **common,
        "detections": dets,
        "dropped": dropped,
    }
    dets, dropped = finish(yolo_cands(True), nms=True)
    m["yolov8_synth.onnx"] = {
        "layout": "YOLOv8/11 [1,4+C,N] columns cx,cy,w,h,cls*C; score = max cls",
        "input": {"name": "images", "shape": [1, 3, 64, 64], "type": "float32"},
        "output": {"name": "output0", "shape": [1, 4 + len(NAMES), V8_ANCHORS]},
        "classes": len(NAMES),
        "labels_from_metadata": NAMES,
        "nms": "class-aware",
        **common,
        "detections": dets,
        "dropped": dropped,
    }
    cands = []
    for i, ((ymin, xmin, ymax, xmax), score, cat) in enumerate(TFOD_ROWS[:TFOD_NUM]):
        cands.append(
            {
                "row": i,
                "corners": (xmin * FRAME, ymin * FRAME, xmax * FRAME, ymax * FRAME),
                "score": float(F32(score)),
                "class_id": cat - 1,
                "category_id": cat,
                "label": {1: "person", 3: "car"}[cat],
            }
        )
    dets, dropped = finish(cands, nms=False)
    dropped += [
        {"row": i, "reason": f"beyond num_detections = {TFOD_NUM} (padding, score {TFOD_ROWS[i][1]})"}
        for i in range(TFOD_NUM, TFOD_K)
    ]
    m["tfod_synth.onnx"] = {
        "layout": "TF Object Detection API: num_detections [1], detection_boxes [1,K,4] "
        "(ymin,xmin,ymax,xmax normalised), detection_scores [1,K], detection_classes [1,K] "
        "(1-based COCO category ids); NMS in the graph",
        "input": {"name": "image_tensor:0", "shape": [1, "height", "width", 3], "type": "uint8"},
        "outputs": ["num_detections:0", "detection_boxes:0", "detection_scores:0", "detection_classes:0"],
        "nms": "none (done in the graph)",
        **common,
        "note": "Boxes are normalised, so they scale to any frame: for a WxH frame multiply x by W and y by H.",
        "detections": dets,
        "dropped": dropped,
    }
    for fname, rows, to_cand, shape in (
        (
            "e2e6_synth.onnx",
            E2E6_ROWS,
            lambda i, r: {"row": i, "corners": r[0:4], "score": float(F32(r[4])), "class_id": int(r[5])},
            [1, len(E2E6_ROWS), 6],
        ),
        (
            "e2e7_synth.onnx",
            E2E7_ROWS,
            lambda i, r: {"row": i, "corners": r[1:5], "score": float(F32(r[6])), "class_id": int(r[5])},
            ["num_dets", 7],
        ),
    ):
        dets, dropped = finish([to_cand(i, r) for i, r in enumerate(rows)], nms=False)
        m[fname] = {
            "layout": (
                "end-to-end [1,N,6] rows x1,y1,x2,y2,score,class (YOLOv10 / Ultralytics nms=True)"
                if "e2e6" in fname
                else "end-to-end [N,7] rows batch_id,x1,y1,x2,y2,class,score (YOLOv7 end2end / EfficientNMS)"
            ),
            "input": {"name": "images", "shape": [1, 3, 64, 64], "type": "float32"},
            "output": {"name": "output", "shape": shape, **({"runtime_shape": [len(rows), 7]} if "e2e7" in fname else {})},
            "nms": "none (done in the graph): rows 0 and 2 are the same class with IoU 0.524 > 0.45 "
            "and both must come out",
            **common,
            "detections": dets,
            "dropped": dropped,
        }
    m["classifier_synth.onnx"] = {
        "layout": "not a detector: input [1,3,32,32] float, output logits [1,10]",
        "input": {"name": "input", "shape": [1, 3, 32, 32], "type": "float32"},
        "output": {"name": "logits", "shape": [1, 10]},
        "expect_error": True,
    }
    return exp


def to_json(obj):
    """Indented JSON; dicts and lists holding no dict are written on one line."""

    def flat(v):
        if isinstance(v, dict):
            return all(flat(x) and not isinstance(x, dict) for x in v.values())
        if isinstance(v, list):
            return all(not isinstance(x, dict) and flat(x) for x in v)
        return True

    def dump(v, ind):
        pad = " " * ind
        if isinstance(v, dict) and not flat(v):
            items = [f"{pad} {json.dumps(k)}: {dump(x, ind + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(v, list) and v and (not flat(v) or any(isinstance(x, str) and len(x) > 40 for x in v)):
            items = [f"{pad} {dump(x, ind + 1)}" for x in v]
            return "[\n" + ",\n".join(items) + "\n" + pad + "]"
        return json.dumps(v)

    text = dump(obj, 0)
    assert json.loads(text) == obj
    return text + "\n"


def check_with_onnxruntime(path, expected_outputs, feed):
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, feed)))
    for name, want in expected_outputs.items():
        g = got[name]
        if g.shape != want.shape or not np.array_equal(g, want):
            sys.exit(f"{path}: output {name} {g.shape} differs from the constant {want.shape}")
    ins = [(i.name, i.shape, i.type) for i in sess.get_inputs()]
    outs = [(o.name, o.shape) for o in sess.get_outputs()]
    return ins, outs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(REPO, "tests", "models"))
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for fname, (model, outputs, feed) in models().items():
        path = os.path.join(args.out, fname)
        onnx.save(model, path)
        ins, outs = check_with_onnxruntime(path, outputs, feed)
        print(f"{fname}: {os.path.getsize(path)} bytes, inputs {ins}, outputs {outs}: outputs as placed")
    exp = expected()
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        f.write(to_json(exp))
    for fname, e in exp["models"].items():
        if "detections" in e:
            summary = ", ".join(
                f"{d['class_id']}@{d['score']:.2f} ({d['x']:g},{d['y']:g},{d['w']:g},{d['h']:g})" for d in e["detections"]
            )
            print(f"expected {fname}: {summary}")
    print(f"wrote {os.path.relpath(args.out, REPO)}/expected.json")


if __name__ == "__main__":
    main()
