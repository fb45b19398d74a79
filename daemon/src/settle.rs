//! When a received upload may be committed.
//!
//! In stream mode the end of the data connection is the end of the file
//! (RFC 959 §3.4.1), so the upload of a client killed mid-`STOR` (a
//! Ctrl-C'd `curl -T`, a crashed mirror job) looks complete: its kernel
//! closes the data connection with a FIN like any finished upload. What
//! tells it apart is the control connection: a dying process's kernel
//! closes all its sockets in one pass of its exit path (Linux releases them
//! from the task's work list, newest first, so the data connection usually
//! goes first and the control connection microseconds later), while a
//! living client keeps the control connection open to read the `226`.
//!
//! So after the data connection's end the loop
//! 1. reads what is waiting on the control connection: an end (FIN) or a
//!    reset there means the client is gone, and the upload is dropped;
//! 2. if the client announced the size with `ALLO`, decides at once: fewer
//!    bytes than announced is refused (`426`), exactly the announced bytes
//!    is complete whatever happens to the client afterwards;
//! 3. otherwise waits [`window`] - at least one more poll round - during
//!    which an end or reset of the control connection drops the upload;
//!    then commits.
//!
//! Why this is enough on loopback: both FINs of a dying client are sent by
//! its own kernel during its exit, the second a few microseconds after the
//! first, and loopback delivers them as they are sent. Measured with
//! 1,000 clients killed mid-`STOR` each (`SIGKILL` after their last data
//! byte, the data connection's FIN first): with no window the loop took
//! 16-75 % of them for complete uploads (it read the data connection's
//! end before the second FIN was sent); with a 100 µs floor
//! ([`SETTLE_MIN`]) none of 2,000 at load average 1.3. What remains is a client preempted between its two closes
//! (its exit path yields between files), which happens only when the CPUs
//! are oversubscribed and then lasts a run-queue delay: the loop measures
//! that delay on itself ([`Lateness`]) and widens the window to four times
//! it; with two CPU hogs on two cores that left 0.1-0.8 % of killed
//! uploads committed, against 4.1 % for a fixed 200 µs and none for the
//! old fixed 20 ms, which cost 22 ms per upload. The floor is 100 µs, not
//! more, because on a virtual machine a sleep past the hypervisor's
//! halt-polling time costs far more than its length: 500 small STORs ran
//! at 1.1-1.4x pyftpdlib's rate with a 100 µs window and at 0.7-0.9x with
//! 200 µs. The figures are in `bench/RESULTS.md`.
//!
//! What it guarantees across a real network: the two FINs leave the
//! client back to back and travel the same path, so they arrive apart by
//! the path's delay variation. The window is at least TCP's own
//! retransmission estimate for the data connection, `srtt + 4 * rttvar`
//! (RFC 6298 §2, without its 200 ms floor; measured from the handshake,
//! which no delayed ACK inflates): a control-connection FIN sent together
//! with the data connection's and not lost arrives within it, up to
//! [`SETTLE_MAX`]. A lost FIN, a client host that loses power and sends
//! nothing, or a client that closes its data connection and only dies
//! later, are not told apart from a finished upload by any window short of
//! a timeout; for those only `ALLO`, or the client checking its `226`,
//! can tell.
//!
//! Behind a load balancer (`proxy_protocol`: the control connection came
//! with a PROXY header) neither figure above holds. The two FINs reach
//! ftpshd from the balancer, which relays each connection on its own: it
//! sends the control connection's end when it gets round to that
//! connection, after its own scheduling, not a few microseconds after the
//! data connection's. And the data connection's round trip is the
//! balancer's, which says nothing of the client's path or of the relay.
//! Measured with HAProxy 2.6 (`mode tcp`, `send-proxy-v2`, passive ports
//! relayed, default threads) on the same 2-core VM, 1,000 clients killed
//! mid-`STOR` each, the FINs timestamped as they reached ftpshd's sockets
//! (`tcpdump` on loopback; `bench/killed_stor.py --pcap`), load 1.3-3.5:
//! the control connection's end came a median 26-37 µs after the data
//! connection's, but 1.8-3.8 % of them more than 1 ms after, p99
//! 1.9-2.4 ms, p99.9 4.1-5.5 ms (sent directly: 1.6 % over 1 ms, p99.9
//! 4.2 ms, at load 3.5, where the client itself is preempted between its
//! two closes; the lateness term covers those). With the 100 µs floor
//! 6-7 of 1,000 killed uploads were committed through HAProxy (1-4
//! directly); with a fixed window of 0.5, 1, 2 and 5 ms, 11, 8, 3 and 0
//! of 1,000. So a control connection relayed by a balancer gets a floor
//! of its own, [`SETTLE_MIN_PROXIED`] (5 ms, the `settle_min_proxied_us`
//! setting, at most [`SETTLE_MAX`]), under the same round-trip and
//! lateness terms: 0 of 1,000 killed uploads committed through HAProxy at
//! load 1.3-3.5, and 0 of 960 in the test that kills 8 `curl -T` at once
//! (`tests/tests/proxy_protocol/killed_stor.rs`; 11 of 576 there with the
//! 100 µs floor).
//!
//! What that guarantees: the upload of a client killed behind the
//! balancer is dropped when the balancer relays the control connection's
//! end within the floor (or the longer window) of the data connection's,
//! and the client's two FINs reached the balancer apart by less than that
//! too. With HAProxy's `nbthread 1` the spread was larger (16 % over
//! 1 ms, p99.9 5.1 ms in one run, 11 ms in another at load 3.1, which
//! committed 32 of 1,000 with the 100 µs floor; the 5 ms floor committed
//! none of 1,000 in the first). A balancer that is itself starved for
//! longer - an overloaded host - or a client whose path to the balancer
//! varies by more, needs a larger `settle_min_proxied_us` (up to
//! [`SETTLE_MAX`]); beyond that only `ALLO` decides exactly. The price is
//! the floor on every upload of unknown size through the balancer: a
//! session storing 4 KiB files one after another runs at about
//! 1 / (floor + round trip), 154-163 files/s against 900-1,200 with the
//! 100 µs floor (`bench/killed_stor.py --smallfiles 500`, release build);
//! connections without a PROXY header keep the 100 µs floor and their
//! rate, and `ALLO` uploads do not wait at all.

use std::time::Duration;

/// Shortest wait for the control connection's end: covers the gap
/// between a dying client's two FINs on loopback, where the round-trip
/// time is tens of microseconds, when nothing preempts the client.
pub(crate) const SETTLE_MIN: Duration = Duration::from_micros(100);

/// Default shortest wait behind a load balancer (the
/// `settle_min_proxied_us` setting): covers the balancer's relaying of a
/// dying client's two FINs on separate connections, measured with HAProxy
/// (see the module documentation).
pub(crate) const SETTLE_MIN_PROXIED: Duration = Duration::from_millis(5);

/// Longest wait: the fixed grace the daemon used to apply to every
/// upload. A path whose round-trip estimate exceeds it gets no longer
/// wait: there a client must use `ALLO` (or check its `226`) for
/// certainty.
pub(crate) const SETTLE_MAX: Duration = Duration::from_millis(20);

/// A connection's round-trip statistics, as the kernel measures them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rtt {
    /// Smoothed round-trip time.
    pub srtt: Duration,
    /// Round-trip time variation (mean deviation).
    pub rttvar: Duration,
}

/// How late the loop has recently been woken for its settle deadlines: a
/// decaying maximum, so a burst of load lengthens the window at once and
/// quiet rounds bring it back within a few dozen uploads.
///
/// It stands for the run-queue delay of the machine. A dying client that
/// is preempted between closing its two sockets (its exit path yields
/// between files) sends the second FIN that much later; the loop's own
/// lateness is the delay the same scheduler imposes on it.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Lateness {
    recent: Duration,
}

impl Lateness {
    /// Records that a deadline fired `late` after it was due.
    pub(crate) fn observe(&mut self, late: Duration) {
        self.recent = late.max(self.recent - self.recent / 8);
    }

    /// The current estimate.
    pub(crate) fn recent(&self) -> Duration {
        self.recent
    }
}

/// How long a received upload waits for its control connection to end
/// before it is committed: the largest of `srtt + 4 * rttvar` of the data
/// connection (RFC 6298's retransmission estimate, without its floor),
/// four times the loop's recent [`Lateness`] and `floor`, clamped to
/// [`SETTLE_MIN`]..=[`SETTLE_MAX`]; [`SETTLE_MAX`] when the round trip is
/// unknown. `floor` is [`SETTLE_MIN`] for a client's own control
/// connection and the `settle_min_proxied_us` setting (default
/// [`SETTLE_MIN_PROXIED`]) for one relayed by a load balancer.
pub(crate) fn window(rtt: Option<Rtt>, lateness: Lateness, floor: Duration) -> Duration {
    match rtt {
        Some(r) => (r.srtt + 4 * r.rttvar)
            .max(4 * lateness.recent())
            .max(floor)
            .clamp(SETTLE_MIN, SETTLE_MAX),
        None => SETTLE_MAX,
    }
}

/// The kernel's round-trip estimate of a TCP connection (`TCP_INFO`,
/// `tcpi_rtt` and `tcpi_rttvar`, in microseconds). `None` before the
/// first measurement or when the call fails.
pub(crate) fn rtt(socket: &impl std::os::fd::AsRawFd) -> Option<Rtt> {
    let info = tcp_info(socket.as_raw_fd())?;
    if info.tcpi_rtt == 0 {
        return None;
    }
    Some(Rtt {
        srtt: Duration::from_micros(u64::from(info.tcpi_rtt)),
        rttvar: Duration::from_micros(u64::from(info.tcpi_rttvar)),
    })
}

/// `getsockopt(TCP_INFO)`: neither `nix` nor `socket2` wraps it.
#[allow(unsafe_code)]
fn tcp_info(fd: std::os::fd::RawFd) -> Option<libc::tcp_info> {
    // SAFETY: `tcp_info` is a plain C struct of integers, for which all
    // zero bytes are a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::tcp_info>()).ok()?;
    // SAFETY: `info` is a live, writable `tcp_info` of `len` bytes; the
    // kernel writes at most `len` bytes and updates `len`. A bad `fd`
    // only makes the call fail.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::from_mut(&mut info).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn window_is_the_rto_estimate_clamped() {
        let rows = [
            (None, SETTLE_MAX),
            (Some((30, 10)), SETTLE_MIN),
            (Some((2_000, 500)), us(4_000)),
            (Some((80_000, 20_000)), SETTLE_MAX),
        ];
        for (rtt, want) in rows {
            let rtt = rtt.map(|(s, v)| Rtt {
                srtt: us(s),
                rttvar: us(v),
            });
            assert_eq!(
                window(rtt, Lateness::default(), SETTLE_MIN),
                want,
                "{rtt:?}"
            );
        }
    }

    #[test]
    fn lateness_lengthens_the_window_then_decays() {
        let rtt = Some(Rtt {
            srtt: us(30),
            rttvar: us(10),
        });
        let mut late = Lateness::default();
        late.observe(us(2_000));
        assert_eq!(window(rtt, late, SETTLE_MIN), us(8_000));
        late.observe(us(20_000));
        assert_eq!(window(rtt, late, SETTLE_MIN), SETTLE_MAX);
        for _ in 0..100 {
            late.observe(us(10));
        }
        assert_eq!(window(rtt, late, SETTLE_MIN), SETTLE_MIN);
    }

    #[test]
    fn a_proxied_floor_lengthens_short_windows_only() {
        let floor = us(2_000);
        let rows = [
            // Loopback to the balancer: the floor.
            (Some((30, 10)), 0, floor),
            // A longer round trip or a late loop still win.
            (Some((2_000, 500)), 0, us(4_000)),
            (Some((30, 10)), 1_500, us(6_000)),
            // Neither the floor nor anything else passes the cap.
            (Some((80_000, 20_000)), 0, SETTLE_MAX),
            (None, 0, SETTLE_MAX),
        ];
        for (rtt, late, want) in rows {
            let rtt = rtt.map(|(s, v)| Rtt {
                srtt: us(s),
                rttvar: us(v),
            });
            let mut lateness = Lateness::default();
            lateness.observe(us(late));
            assert_eq!(window(rtt, lateness, floor), want, "{rtt:?} {late}");
        }
        let rtt = Some(Rtt {
            srtt: us(30),
            rttvar: us(10),
        });
        let lateness = Lateness::default();
        assert_eq!(window(rtt, lateness, us(60_000)), SETTLE_MAX);
        assert_eq!(window(rtt, lateness, Duration::ZERO), SETTLE_MIN);
    }

    #[test]
    fn loopback_connection_has_a_measured_rtt() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        for _ in 0..3 {
            server.write_all(b"ping").unwrap();
            client.read_exact(&mut buf).unwrap();
            client.write_all(b"pong").unwrap();
            server.read_exact(&mut buf).unwrap();
        }
        let r = rtt(&server).expect("TCP_INFO on a connected socket");
        assert!(
            r.srtt > Duration::ZERO && r.srtt < Duration::from_secs(1),
            "{r:?}"
        );
        let listener_fd = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(rtt(&listener_fd), None, "a listener has no round trips");
    }
}
