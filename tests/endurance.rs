//! 200 consecutive lifecycles of one container ID, the way containerd drives a runtime:
//! no hang (every call has the suite's deadline), no failure, nothing left behind.

mod common;

use common::*;

#[test]
fn two_hundred_consecutive_lifecycles() {
    let rt = Runtime::new("endure");
    let mut b = Bundle::new("endure");
    b.args(&["true"]);
    let c = rt.container(&b);
    for round in 0..200 {
        c.create(&[]).assert_ok();
        assert_eq!(c.status(), "created", "round {round}");
        c.start().assert_ok();
        c.wait_status("stopped");
        c.delete(false).assert_ok();
        c.assert_nothing_left();
    }
}
