#!/usr/bin/env python3
"""Independent reference for onnxdetect's detector decoding (YOLOX raw head, YOLOv8 head).

Decodes chosen frames of the sample clip with GStreamer at a size that needs no resizing
for the model (letterbox scale 1), runs the real models with ONNX Runtime, decodes their
outputs with numpy (its own implementation, written from the models' documented layouts,
not from the Rust code), and writes the committed fixtures

    tests/fixtures/reference_yolox_nano.json    (416x312 frames, image top-left on 416x416)
    tests/fixtures/reference_yolov8_fall.json   (640x480 frames, image centred on 640x640)

Each fixture records the sha256 of the model, of the video, and of every frame's tightly
packed RGB bytes, so a Rust test that decodes the frames with the same launch line can
check it is feeding the same pixels before comparing detections.

Developers run this to regenerate the fixtures; tests never run Python.

Environment (dev-time only, a throwaway venv; the system site packages give `gi` with
GStreamer 1.22 from Debian's python3-gi / gir1.2-gstreamer-1.0):

    /usr/bin/python3 -m venv --system-site-packages /tmp/refvenv
    /tmp/refvenv/bin/pip install onnxruntime==1.32.0 numpy onnx

Assets: `scripts/fetch-assets --yolov8` (models and vtest.avi in ${CCTV_ASSETS:-<repo>/.assets}).

Run from anywhere:

    /tmp/refvenv/bin/python tools/reference_decode.py            # both fixtures + timings
    /tmp/refvenv/bin/python tools/reference_decode.py --only yolox
    /tmp/refvenv/bin/python tools/reference_decode.py --compare-placement   # also try the
        # other letterbox placement (centre for YOLOX, top-left for YOLOv8) and print counts

Options: --assets DIR, --out DIR (default <repo>/tests/fixtures), --runs N (timing runs,
default 30, 0 to skip), --threads N (ONNX Runtime intra-op threads, default 2).

Decoding rules (both models): a row is a candidate when its best class score (YOLOX:
obj * cls, YOLOv8: cls) is >= 0.25; the row's class is that best class. Greedy class-aware
NMS: sort candidates by score descending (stable, ties keep row order), a kept box
suppresses later boxes of the same class whose IoU with it is > 0.45 (IoU on continuous
coordinates, no +1). At most 100 detections. Boxes are then mapped back to the frame
(subtract the letterbox pad offset, divide by the scale, which is 1 here) and clipped to
[0, W] x [0, H]. Detections are written as x, y, w, h (top-left and size, frame pixels),
score, class_id, sorted by score descending. Arithmetic is float32 like the model outputs.
"""

import argparse
import hashlib
import json
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstApp, GstVideo  # noqa: E402,F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES = [50, 100, 300, 500, 700]
CONF = 0.25
IOU = 0.45
MAX_DET = 100
PAD_VALUE = 114
PIPELINE = (
    "filesrc location={video} ! decodebin ! videoconvert ! videoscale ! "
    "video/x-raw,format=RGB,width={w},height={h} ! appsink name=sink sync=false"
)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def decode_frames(video, width, height, indices):
    """Returns {index: HxWx3 uint8 RGB array} for the wanted frame indices (counted from 0)."""
    Gst.init(None)
    pipeline = Gst.parse_launch(PIPELINE.format(video=video, w=width, h=height))
    sink = pipeline.get_by_name("sink")
    wanted = set(indices)
    last = max(indices)
    frames = {}
    pipeline.set_state(Gst.State.PLAYING)
    try:
        index = 0
        while index <= last:
            sample = sink.emit("pull-sample")
            if sample is None:
                raise RuntimeError(f"stream ended after {index} frames, wanted frame {last}")
            if index in wanted:
                frames[index] = sample_to_rgb(sample, width, height)
            index += 1
    finally:
        pipeline.set_state(Gst.State.NULL)
    return frames


def sample_to_rgb(sample, width, height):
    buf = sample.get_buffer()
    info = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
    assert info.width == width and info.height == height, (info.width, info.height)
    stride, offset = info.stride[0], info.offset[0]
    meta = GstVideo.buffer_get_video_meta(buf)
    if meta is not None:  # the buffer's own layout wins over the caps' default layout
        stride, offset = meta.stride[0], meta.offset[0]
    ok, mapinfo = buf.map(Gst.MapFlags.READ)
    assert ok
    try:
        data = np.frombuffer(mapinfo.data, dtype=np.uint8)
        rows = data[offset : offset + stride * (height - 1) + width * 3]
        rows = np.pad(rows, (0, stride * height - rows.size))
        return rows.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()
    finally:
        buf.unmap(mapinfo)


def letterbox(rgb, size, placement):
    """Scale-1 letterbox: the frame on a size x size canvas of PAD_VALUE. Returns canvas, (pad_x, pad_y)."""
    h, w, _ = rgb.shape
    assert w <= size and h <= size
    if placement == "top-left":
        px, py = 0, 0
    elif placement == "center":
        px, py = (size - w) // 2, (size - h) // 2
    else:
        raise ValueError(placement)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[py : py + h, px : px + w] = rgb
    return canvas, (px, py)


def preprocess_yolox(rgb, placement):
    canvas, pad = letterbox(rgb, 416, placement)
    bgr = canvas[:, :, ::-1]
    tensor = np.ascontiguousarray(bgr.transpose(2, 0, 1)[None].astype(np.float32))  # raw 0-255
    return tensor, pad


def preprocess_yolov8(rgb, placement):
    canvas, pad = letterbox(rgb, 640, placement)
    tensor = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0))
    return tensor, pad


def candidates_yolox(out, input_size=416):
    """Raw YOLOX head [1, rows, 5+C] -> corners (x1,y1,x2,y2), scores, classes (input pixels)."""
    pred = out[0].astype(np.float32)
    grids, strides = [], []
    for s in (8, 16, 32):
        g = input_size // s
        ys, xs = np.meshgrid(np.arange(g, dtype=np.float32), np.arange(g, dtype=np.float32), indexing="ij")
        grids.append(np.stack([xs.ravel(), ys.ravel()], axis=1))  # row = y*g + x
        strides.append(np.full(g * g, s, dtype=np.float32))
    grid = np.concatenate(grids)
    stride = np.concatenate(strides)
    assert grid.shape[0] == pred.shape[0], (grid.shape, pred.shape)
    cx = (pred[:, 0] + grid[:, 0]) * stride
    cy = (pred[:, 1] + grid[:, 1]) * stride
    w = np.exp(pred[:, 2]) * stride
    h = np.exp(pred[:, 3]) * stride
    cls = pred[:, 5:]
    cls_id = cls.argmax(axis=1)
    score = pred[:, 4] * cls[np.arange(len(cls)), cls_id]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, score.astype(np.float32), cls_id


def candidates_yolov8(out):
    """YOLOv8 head [1, 4+C, anchors] -> corners, scores, classes (input pixels)."""
    pred = out[0].astype(np.float32).T  # [anchors, 4+C]
    cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    cls = pred[:, 4:]
    cls_id = cls.argmax(axis=1)
    score = cls[np.arange(len(cls)), cls_id]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, score.astype(np.float32), cls_id


def iou_one(box, boxes):
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def nms_class_aware(boxes, scores, classes, iou_thr, max_det):
    order = np.argsort(-scores, kind="stable")
    boxes, scores, classes = boxes[order], scores[order], classes[order]
    alive = np.ones(len(scores), dtype=bool)
    keep = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        keep.append(i)
        if len(keep) == max_det:
            break
        rest = np.arange(i + 1, len(scores))
        rest = rest[alive[rest] & (classes[rest] == classes[i])]
        if rest.size:
            alive[rest[iou_one(boxes[i], boxes[rest]) > iou_thr]] = False
    return boxes[keep], scores[keep], classes[keep]


def borderline(boxes, scores, classes):
    """Decisions close to a threshold, where float differences between implementations could
    flip the outcome: rows scoring within 0.005 of CONF, and (kept box, lower-scored
    candidate of its class) pairs with IoU within 0.02 of IOU."""
    near_conf = int(np.sum(np.abs(scores - CONF) < 0.005))
    mask = scores >= CONF
    cb, cs, cc = boxes[mask], scores[mask], classes[mask]
    kb, ks, kc = nms_class_aware(cb, cs, cc, IOU, MAX_DET)
    near_iou = 0
    for b, s, c in zip(kb, ks, kc):
        rest = (cc == c) & (cs < s)
        if rest.any():
            near_iou += int(np.sum(np.abs(iou_one(b, cb[rest]) - IOU) < 0.02))
    return near_conf, near_iou


def postprocess(boxes, scores, classes, pad, scale, width, height):
    mask = scores >= CONF
    boxes, scores, classes = nms_class_aware(boxes[mask], scores[mask], classes[mask], IOU, MAX_DET)
    dets = []
    for b, s, c in zip(boxes, scores, classes):
        x1 = min(max((float(b[0]) - pad[0]) / scale, 0.0), width)
        y1 = min(max((float(b[1]) - pad[1]) / scale, 0.0), height)
        x2 = min(max((float(b[2]) - pad[0]) / scale, 0.0), width)
        y2 = min(max((float(b[3]) - pad[1]) / scale, 0.0), height)
        dets.append(
            {
                "x": round(x1, 3),
                "y": round(y1, 3),
                "w": round(x2 - x1, 3),
                "h": round(y2 - y1, 3),
                "score": round(float(s), 6),
                "class_id": int(c),
            }
        )
    return dets


def to_json(result):
    """Pretty JSON with one line per detection (short, diff-friendly)."""
    head = {k: v for k, v in result.items() if k != "frames"}
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    lines.append(' "frames": [')
    for i, fr in enumerate(result["frames"]):
        lines.append(f'  {{"index": {fr["index"]}, "rgb_sha256": {json.dumps(fr["rgb_sha256"])}, "detections": [')
        dets = [f"   {json.dumps(d)}" for d in fr["detections"]]
        lines.append(",\n".join(dets)) if dets else None
        lines.append("  ]}" + ("," if i + 1 < len(result["frames"]) else ""))
    lines += [" ]", "}"]
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == json.loads(json.dumps(result))
    return text


MODELS = {
    "yolox": {
        "file": "yolox_nano.onnx",
        "fixture": "reference_yolox_nano.json",
        "width": 416,
        "height": 312,
        "placement": "top-left",
        "other": "center",
        "preprocess": preprocess_yolox,
        "candidates": candidates_yolox,
    },
    "yolov8": {
        "file": "yolov8_fall_fp16.onnx",
        "fixture": "reference_yolov8_fall.json",
        "width": 640,
        "height": 480,
        "placement": "center",
        "other": "top-left",
        "preprocess": preprocess_yolov8,
        "candidates": candidates_yolov8,
    },
}


def detect(session, spec, rgb, placement):
    tensor, pad = spec["preprocess"](rgb, placement)
    inp = session.get_inputs()[0].name
    out = session.run(None, {inp: tensor})[0]
    boxes, scores, classes = spec["candidates"](out)
    dets = postprocess(boxes, scores, classes, pad, 1.0, spec["width"], spec["height"])
    return dets, tensor, borderline(boxes, scores, classes)


def run_model(key, args, video, video_sha):
    spec = MODELS[key]
    model = os.path.join(args.assets, "models", spec["file"])
    if not os.path.isfile(model):
        print(f"{key}: {model} missing (scripts/fetch-assets --yolov8)", file=sys.stderr)
        return False
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    w, h = spec["width"], spec["height"]
    frames = decode_frames(video, w, h, FRAMES)
    result = {
        "tool": "tools/reference_decode.py",
        "model": spec["file"],
        "model_sha256": sha256_file(model),
        "video_sha256": video_sha,
        "pipeline": PIPELINE.format(video="<video>", w=w, h=h),
        "width": w,
        "height": h,
        "letterbox": spec["placement"],
        "conf_threshold": CONF,
        "iou_threshold": IOU,
        "frames": [],
    }
    print(f"{spec['file']} ({w}x{h}, {spec['placement']}):")
    tensor = None
    for index in FRAMES:
        rgb = frames[index]
        dets, tensor, (near_conf, near_iou) = detect(session, spec, rgb, spec["placement"])
        result["frames"].append(
            {
                "index": index,
                "rgb_sha256": hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest(),
                "detections": dets,
            }
        )
        by_class = {}
        for d in dets:
            by_class[d["class_id"]] = by_class.get(d["class_id"], 0) + 1
        scores = ", ".join(f"{d['score']:.2f}" for d in dets)
        line = f"  frame {index:3d}: {len(dets)} detections {by_class} [{scores}]"
        if near_conf or near_iou:
            line += f" (borderline: {near_conf} rows near conf, {near_iou} pairs near IoU)"
        if args.compare_placement:
            other, _, _ = detect(session, spec, rgb, spec["other"])
            other_scores = ", ".join(f"{d['score']:.2f}" for d in other)
            line += f"; {spec['other']}: {len(other)} [{other_scores}]"
        print(line)
    out_path = os.path.join(args.out, spec["fixture"])
    os.makedirs(args.out, exist_ok=True)
    with open(out_path, "w") as f:
        f.write(to_json(result))
    print(f"  wrote {os.path.relpath(out_path, REPO)}")
    if args.runs > 0:
        inp = session.get_inputs()[0].name
        for _ in range(3):  # warm-up
            session.run(None, {inp: tensor})
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            session.run(None, {inp: tensor})
            times.append((time.perf_counter() - t0) * 1000.0)
        print(
            f"  inference: median {statistics.median(times):.2f} ms over {args.runs} runs "
            f"(min {min(times):.2f}, max {max(times):.2f}; {args.threads} intra-op threads, "
            f"onnxruntime {ort.__version__})"
        )
    return True


def main():
    default_assets = os.environ.get("CCTV_ASSETS") or os.path.join(REPO, ".assets")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--assets", default=default_assets)
    p.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures"))
    p.add_argument("--only", choices=sorted(MODELS))
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compare-placement", action="store_true")
    args = p.parse_args()
    video = os.path.join(args.assets, "media", "vtest.avi")
    if not os.path.isfile(video):
        sys.exit(f"{video} missing (scripts/fetch-assets)")
    video_sha = sha256_file(video)
    ok = True
    for key in [args.only] if args.only else ["yolox", "yolov8"]:
        ok &= run_model(key, args, video, video_sha)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
