//! The elements against real servers started by the tests on free loopback
//! ports: the RTSP server (camsrc), mosquitto (mqttsink), PostgreSQL
//! (pgsink), both through the shared network layer, the virtual ONVIF PTZ
//! camera (ptzservo), and the test servers themselves. One binary for all.

mod camsrc;
mod harness;
mod mqttsink;
mod net_sinks;
mod pgsink;
mod ptzservo;
