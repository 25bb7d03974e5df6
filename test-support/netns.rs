//! Tests whose peers pick addresses themselves (WebRTC's ICE) run in a
//! network namespace of their own that has only loopback: nothing they
//! send can leave the machine, whatever addresses the host has.

use std::process::Command;

const INSIDE: &str = "CCTV_PRIVATE_NETWORK";

/// Runs the calling test (`name`, its full path in the test binary) again
/// in a new network namespace with loopback up, and returns whether this
/// is that run: the caller goes on only when true. The outer run fails
/// when the inner one fails.
pub fn private_network(name: &str) -> bool {
    rerun_in_private_network([name, "--exact", "--nocapture", "--test-threads=1"].map(String::from))
}

/// Runs this program again with `args` in a new network namespace with
/// loopback up (`unshare`, as root); true in that run. Panics when the
/// run inside fails.
pub fn rerun_in_private_network(args: impl IntoIterator<Item = String>) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let status = Command::new("unshare")
        .args([
            "--net",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(std::env::current_exe().unwrap())
        .args(args)
        .env(INSIDE, "1")
        .status()
        .expect("unshare runs (util-linux, as root)");
    assert!(status.success(), "the run in a network namespace failed");
    false
}
