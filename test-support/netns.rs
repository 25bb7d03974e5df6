//! Tests whose peers pick addresses themselves (WebRTC's ICE) run in a
//! network namespace of their own that has only loopback: nothing they
//! send can leave the machine, whatever addresses the host has.

use std::process::Command;

const INSIDE: &str = "CCTV_PRIVATE_NETWORK";

/// The shell that brings loopback up in the new namespace, then runs the
/// program it is given.
const UNSHARE: [&str; 5] = [
    "unshare",
    "--net",
    "sh",
    "-c",
    "ip link set lo up && exec \"$0\" \"$@\"",
];

/// Runs the calling test (`name`, its full path in the test binary, as
/// `--list` shows it) again alone in a new network namespace with loopback
/// up (`unshare`, as root), and returns whether this is that run: the
/// caller goes on only when true. The outer run fails unless the inner one
/// ran that one test and it passed.
pub fn private_network(name: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    crate::run_alone(name, &[(INSIDE, "1")], &UNSHARE);
    false
}

/// Runs this program again with `args` in a new network namespace with
/// loopback up; true in that run. Panics when the run inside fails.
pub fn rerun_in_private_network(args: impl IntoIterator<Item = String>) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let status = Command::new(UNSHARE[0])
        .args(&UNSHARE[1..])
        .arg(std::env::current_exe().unwrap())
        .args(args)
        .env(INSIDE, "1")
        .status()
        .expect("unshare runs (util-linux, as root)");
    assert!(status.success(), "the run in a network namespace failed");
    false
}
