#!/usr/bin/python3
"""A Python (PyGObject) app reading gst-cctv detections from a pad probe.

Needs Debian's python3-gi and python3-gst-1.0 (installed by scripts/setup), so
run it with /usr/bin/python3, and the plugin on GST_PLUGIN_PATH:

    GST_PLUGIN_PATH=target/release /usr/bin/python3 examples/read_detections.py \
        "filesrc location=.assets/media/vtest.avi ! decodebin ! onnxdetect classes=person ! fakesink name=sink"

The metadata is a GstCustomMeta named "CctvObjectsMeta"; its structure holds
the frame size and an array of object structures (see docs/metadata.md).
Prints one JSON line per frame.
"""
import json
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

META_NAME = "CctvObjectsMeta"


def frame_from_buffer(buf):
    meta = buf.get_custom_meta(META_NAME)
    if meta is None:
        return None
    s = meta.get_structure()
    objects = []
    for o in s.get_value("objects") or []:
        obj = {
            "label": o.get_value("label"),
            "class_id": o.get_value("class-id"),
            "confidence": round(o.get_value("confidence"), 4),
            "bbox": [round(o.get_value(k), 1) for k in ("x", "y", "w", "h")],
        }
        if o.has_field("track-id"):
            obj["track_id"] = o.get_value("track-id")
        attributes = o.get_value("attributes") if o.has_field("attributes") else None
        if attributes:
            obj["attributes"] = {a.get_value("name"): a.get_value("label") for a in attributes}
        objects.append(obj)
    return {
        "pts": buf.pts,
        "width": s.get_value("width"),
        "height": s.get_value("height"),
        "inferred": s.get_value("inferred"),
        "objects": objects,
    }


def main():
    launch = sys.argv[1] if len(sys.argv) > 1 else \
        "videotestsrc num-buffers=10 ! onnxdetect ! fakesink name=sink"
    Gst.init(None)
    pipeline = Gst.parse_launch(launch)
    sink = pipeline.get_by_name("sink")
    if sink is None:
        sys.exit("read_detections.py: the pipeline needs an element named sink")

    def probe(pad, info):
        frame = frame_from_buffer(info.get_buffer())
        print(json.dumps(frame), flush=True)
        return Gst.PadProbeReturn.OK

    sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg and msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        sys.exit(f"read_detections.py: {err.message} ({debug})")


if __name__ == "__main__":
    main()
