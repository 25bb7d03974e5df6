#!/usr/bin/python3
"""Test RTSP server: serves a launch line at rtsp://127.0.0.1:PORT/test.

Usage: rtsp_server.py PORT "( videotestsrc ! x264enc ! rtph264pay name=pay0 pt=96 )"
Runs until killed. Uses Debian's python3-gi and gir1.2-gst-rtsp-server-1.0.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    port, launch = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        sys.exit(f"rtsp_server.py: cannot listen on port {port}")
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
