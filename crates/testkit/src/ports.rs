//! Loopback ports for the servers tests start, handed out so that two tests never get the same one.
//!
//! Asking the OS for port 0 and closing the socket returns a port from the ephemeral range, the same
//! range every outgoing connection takes its local port from. Such a port may be taken again before
//! the server binds it, and it is free game once a test kills a server to restart it: another test's
//! server, or any client socket, can take it in between, and the restarted server then fails to bind
//! while the test talks to somebody else's. So ports come from below the ephemeral range (no client
//! socket is given one there), each at most once per process (the tests of one binary run as threads
//! of one process), starting at a point that depends on the process id (two test processes at once
//! rarely look in the same place), and only if they can be bound now.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};

/// The first port handed out.
const LOWEST: u16 = 10_000;
/// How many ports there are to hand out: with [`CLUSTER_BUS_OFFSET`] added, the highest stays below
/// Linux's default ephemeral range (32768 and up).
const SPAN: u16 = 12_000;
/// Redis Cluster also listens on its port plus this, for the cluster bus.
pub const CLUSTER_BUS_OFFSET: u16 = 10_000;

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A loopback port nothing listens on and no other call in this process was given.
pub fn reserve() -> u16 {
    reserve_free(&[0])
}

/// A port as [`reserve`] gives, whose cluster-bus port ([`CLUSTER_BUS_OFFSET`] above it) is free too.
pub fn reserve_with_cluster_bus() -> u16 {
    reserve_free(&[0, CLUSTER_BUS_OFFSET])
}

fn reserve_free(offsets: &[u16]) -> u16 {
    // A test that panicked while holding the lock left the set whole: it only ever inserts.
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let start = (std::process::id() as usize).wrapping_mul(7_919) % usize::from(SPAN);
    for step in 0..usize::from(SPAN) {
        // `(start + step) % SPAN` is below SPAN, so it fits in a u16.
        let port = LOWEST + ((start + step) % usize::from(SPAN)) as u16;
        let free = || {
            offsets
                .iter()
                .all(|offset| TcpListener::bind(("127.0.0.1", port + offset)).is_ok())
        };
        if !handed_out.contains(&port) && free() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!(
        "no free loopback port between {LOWEST} and {}",
        LOWEST + SPAN
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_never_handed_out_twice_and_stay_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..200)
            .map(|i| {
                if i % 2 == 0 {
                    reserve()
                } else {
                    reserve_with_cluster_bus()
                }
            })
            .collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        assert!(
            ports
                .iter()
                .all(|&p| (LOWEST..32_768 - CLUSTER_BUS_OFFSET).contains(&p))
        );
    }

    #[test]
    fn a_port_something_listens_on_is_skipped() {
        let taken = reserve();
        let _listening = TcpListener::bind(("127.0.0.1", taken)).unwrap();
        // Forget it was handed out, so only the listener can keep it from being handed out again.
        HANDED_OUT.lock().unwrap().remove(&taken);
        for _ in 0..10 {
            assert_ne!(reserve(), taken);
        }
    }
}
