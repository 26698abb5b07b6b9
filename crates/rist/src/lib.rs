//! RIST (Reliable Internet Stream Transport) through the system librist
//! (0.2, Debian's `librist-dev`): a [`Receiver`] that reads data blocks and
//! a [`Sender`] that writes them, both in the main profile.
//!
//! URLs follow librist: `rist://HOST:PORT` calls the peer, `rist://@HOST:PORT`
//! (`rist://@0.0.0.0:PORT` for every interface) listens for it; options go
//! in the query (`?cname=NAME&buffer=MS&secret=...&aes-type=128`), parsed by
//! librist itself (`rist_parse_address2`).
//!
//! A hand-written FFI (a dozen functions) instead of `librist-sys`, whose
//! build needs an old bindgen. Every call into librist is in this file.
//! Dropping a [`Receiver`] or [`Sender`] destroys its librist context, which
//! stops librist's threads and closes its sockets.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Largest timeout one [`Receiver::recv`] call waits (librist takes an `int` of milliseconds).
const MAX_WAIT_MS: u128 = 60_000;

/// An error from librist or from a URL it refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The result of a RIST operation.
pub type Result<T> = std::result::Result<T, Error>;

mod ffi {
    //! The part of librist 0.2's C API used here (`librist/*.h`, API 4.x).

    use std::ffi::{c_char, c_int, c_void};

    /// `RIST_PROFILE_MAIN`.
    pub(super) const PROFILE_MAIN: c_int = 1;
    /// `RIST_LOG_WARN`.
    pub(super) const LOG_WARN: c_int = 4;
    /// `RIST_LOG_ERROR`.
    pub(super) const LOG_ERROR: c_int = 3;
    /// `RIST_CONNECTION_ESTABLISHED`, `RIST_CLIENT_CONNECTED`.
    pub(super) const CONNECTED: [c_int; 2] = [0, 2];

    /// `struct rist_ctx`, `struct rist_peer`, `struct rist_peer_config`,
    /// `struct rist_logging_settings`: only handled by pointer.
    #[repr(C)]
    pub(super) struct Opaque {
        _private: [u8; 0],
    }

    /// `struct rist_data_block` (`librist/headers.h`).
    #[repr(C)]
    pub(super) struct DataBlock {
        pub(super) payload: *const c_void,
        pub(super) payload_len: usize,
        pub(super) ts_ntp: u64,
        pub(super) virt_src_port: u16,
        pub(super) virt_dst_port: u16,
        pub(super) peer: *mut Opaque,
        pub(super) flow_id: u32,
        pub(super) seq: u64,
        pub(super) flags: u32,
        pub(super) ref_: *mut Opaque,
    }

    pub(super) type LogCb = extern "C" fn(*mut c_void, c_int, *const c_char) -> c_int;
    pub(super) type StatusCb = extern "C" fn(*mut c_void, *mut Opaque, c_int);

    unsafe extern "C" {
        pub(super) fn rist_logging_set(
            settings: *mut *mut Opaque,
            level: c_int,
            log_cb: Option<LogCb>,
            cb_arg: *mut c_void,
            address: *mut c_char,
            logfp: *mut c_void,
        ) -> c_int;
        pub(super) fn rist_receiver_create(ctx: *mut *mut Opaque, profile: c_int, log: *mut Opaque) -> c_int;
        pub(super) fn rist_sender_create(
            ctx: *mut *mut Opaque,
            profile: c_int,
            flow_id: u32,
            log: *mut Opaque,
        ) -> c_int;
        pub(super) fn rist_parse_address2(url: *const c_char, config: *mut *mut Opaque) -> c_int;
        pub(super) fn rist_peer_config_free2(config: *mut *mut Opaque) -> c_int;
        pub(super) fn rist_peer_create(
            ctx: *mut Opaque,
            peer: *mut *mut Opaque,
            config: *const Opaque,
        ) -> c_int;
        pub(super) fn rist_connection_status_callback_set(
            ctx: *mut Opaque,
            cb: Option<StatusCb>,
            arg: *mut c_void,
        ) -> c_int;
        pub(super) fn rist_start(ctx: *mut Opaque) -> c_int;
        pub(super) fn rist_destroy(ctx: *mut Opaque) -> c_int;
        pub(super) fn rist_receiver_data_read2(
            ctx: *mut Opaque,
            block: *mut *mut DataBlock,
            timeout: c_int,
        ) -> c_int;
        pub(super) fn rist_receiver_data_block_free2(block: *mut *mut DataBlock);
        pub(super) fn rist_sender_data_write(ctx: *mut Opaque, block: *const DataBlock) -> c_int;
        pub(super) fn librist_version() -> *const c_char;
    }
}

/// librist's version string (for example `0.2.7`).
pub fn version() -> String {
    // SAFETY: librist_version returns a pointer to a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(ffi::librist_version()) };
    v.to_string_lossy().into_owned()
}

/// librist's messages at warning level and above go to `tracing`.
extern "C" fn log_to_tracing(_arg: *mut c_void, level: c_int, msg: *const c_char) -> c_int {
    if msg.is_null() {
        return 0;
    }
    // SAFETY: librist passes a NUL-terminated message valid for the duration of the call.
    let msg = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    let msg = msg.trim_end();
    if level <= ffi::LOG_ERROR {
        tracing::warn!(target: "librist", "{msg}");
    } else {
        tracing::debug!(target: "librist", "{msg}");
    }
    0
}

/// The process-wide logging settings every context uses (created once, never freed).
fn logging() -> *mut ffi::Opaque {
    struct Settings(*mut ffi::Opaque);
    // SAFETY: librist only reads the settings after creation; they are never freed or changed.
    unsafe impl Send for Settings {}
    // SAFETY: as above, shared read-only.
    unsafe impl Sync for Settings {}
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS
        .get_or_init(|| {
            let mut s: *mut ffi::Opaque = ptr::null_mut();
            // SAFETY: `s` is a valid out-pointer to NULL, so librist allocates the settings;
            // the callback is a plain function valid for the program's lifetime.
            let r = unsafe {
                ffi::rist_logging_set(
                    &mut s,
                    ffi::LOG_WARN,
                    Some(log_to_tracing),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            };
            Settings(if r == 0 { s } else { ptr::null_mut() })
        })
        .0
}

/// Counts connected peers from librist's connection status callback.
extern "C" fn on_status(arg: *mut c_void, _peer: *mut ffi::Opaque, status: c_int) {
    // SAFETY: `arg` is the `AtomicUsize` boxed in the owning `Context`, which outlives the
    // librist context (rist_destroy runs before the box is dropped).
    let peers = unsafe { &*arg.cast::<AtomicUsize>() };
    if ffi::CONNECTED.contains(&status) {
        peers.fetch_add(1, Ordering::Relaxed);
    } else {
        let _ = peers.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// Checks the form librist does not check itself: `rist://[@]HOST:PORT[?QUERY]`
/// (the host may be empty after `@`, an IPv6 literal is in brackets).
fn check_url(url: &str) -> Result<()> {
    let bad = |why: &str| Err(Error(format!("{url}: not a valid RIST URL ({why})")));
    let Some(rest) = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("rist://"))
        .map(|_| &url[7..])
    else {
        return bad("it must start with rist://");
    };
    let authority = rest.split_once('?').map_or(rest, |(a, _)| a);
    let (listen, authority) = match authority.strip_prefix('@') {
        Some(a) => (true, a),
        None => (false, authority),
    };
    let Some((host, port)) = authority.rsplit_once(':') else {
        return bad("HOST:PORT expected");
    };
    if port.parse::<u16>().ok().filter(|&p| p != 0).is_none() {
        return bad("the port must be 1 to 65535");
    }
    let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
    let plain = !host.is_empty() && !host.contains([':', '/', '[', ']', '@']);
    if !(bracketed || plain || (listen && host.is_empty())) {
        return bad("bad host");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("whitespace or control character");
    }
    Ok(())
}

/// A started librist context with one peer.
struct Context {
    ctx: *mut ffi::Opaque,
    peers: Box<AtomicUsize>,
}

// SAFETY: librist contexts are used from any thread (librist runs its own threads and
// locks its queues); `Context` gives out no aliasing references to librist memory.
unsafe impl Send for Context {}

impl Context {
    /// Creates a receiver or sender context, adds the peer of `url` and starts it.
    fn new(url: &str, sender: bool) -> Result<Self> {
        check_url(url)?;
        let c_url = CString::new(url).map_err(|_| Error(format!("{url:?}: NUL byte in the URL")))?;
        let mut ctx: *mut ffi::Opaque = ptr::null_mut();
        let log = logging();
        let r = if sender {
            // SAFETY: `ctx` is a valid out-pointer; flow id 0 lets librist choose; `log` is
            // NULL or settings that live forever.
            unsafe { ffi::rist_sender_create(&mut ctx, ffi::PROFILE_MAIN, 0, log) }
        } else {
            // SAFETY: as above.
            unsafe { ffi::rist_receiver_create(&mut ctx, ffi::PROFILE_MAIN, log) }
        };
        if r != 0 || ctx.is_null() {
            return Err(Error("librist: cannot create a context".into()));
        }
        // from here on, dropping `this` destroys the context
        let this = Self {
            ctx,
            peers: Box::new(AtomicUsize::new(0)),
        };
        let arg = ptr::from_ref::<AtomicUsize>(&this.peers)
            .cast_mut()
            .cast::<c_void>();
        // SAFETY: `ctx` is live; `arg` points to the boxed counter, which outlives the context.
        unsafe { ffi::rist_connection_status_callback_set(this.ctx, Some(on_status), arg) };
        let mut config: *mut ffi::Opaque = ptr::null_mut();
        // SAFETY: `c_url` is NUL-terminated; `config` is a valid out-pointer to NULL.
        let r = unsafe { ffi::rist_parse_address2(c_url.as_ptr(), &mut config) };
        if r != 0 || config.is_null() {
            return Err(Error(format!("{url}: not a valid RIST URL (librist refused it)")));
        }
        let mut peer: *mut ffi::Opaque = ptr::null_mut();
        // SAFETY: `ctx` and `config` are live; `peer` is a valid out-pointer.
        let r = unsafe { ffi::rist_peer_create(this.ctx, &mut peer, config) };
        // SAFETY: `config` was allocated by rist_parse_address2 and is not used afterwards.
        unsafe { ffi::rist_peer_config_free2(&mut config) };
        if r != 0 {
            return Err(Error(format!(
                "{url}: librist cannot create the peer (address in use or unresolvable?)"
            )));
        }
        // SAFETY: `ctx` is live and configured.
        if unsafe { ffi::rist_start(this.ctx) } != 0 {
            return Err(Error(format!("{url}: librist cannot start")));
        }
        Ok(this)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: `ctx` is live and owned by `self`; nothing uses it after this.
        unsafe { ffi::rist_destroy(self.ctx) };
    }
}

/// A RIST receiver: the listener or caller of `url`, reading data blocks.
pub struct Receiver {
    context: Context,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("peers", &self.peers()).finish()
    }
}

impl Receiver {
    /// Starts receiving from `url` (see the crate docs for the forms).
    pub fn new(url: &str) -> Result<Self> {
        Ok(Self {
            context: Context::new(url, false)?,
        })
    }

    /// Waits up to `timeout` for the next data block (with MPEG-TS, whole
    /// TS packets); `None` when nothing came in time. Blocks the thread.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let ms = timeout.as_millis().min(MAX_WAIT_MS) as c_int;
        let mut block: *mut ffi::DataBlock = ptr::null_mut();
        // SAFETY: the context is live; `block` is a valid out-pointer to NULL.
        let r = unsafe { ffi::rist_receiver_data_read2(self.context.ctx, &mut block, ms) };
        if r < 0 {
            return Err(Error("librist: reading failed".into()));
        }
        if block.is_null() {
            return Ok(None);
        }
        // SAFETY: librist returned a valid block, not freed until below.
        let b = unsafe { &*block };
        let data = if b.payload.is_null() || b.payload_len == 0 {
            Vec::new()
        } else {
            // SAFETY: the block's payload holds `payload_len` readable bytes while the block lives.
            unsafe { std::slice::from_raw_parts(b.payload.cast::<u8>(), b.payload_len) }.to_vec()
        };
        // SAFETY: the block came from rist_receiver_data_read2 and is freed exactly once.
        unsafe { ffi::rist_receiver_data_block_free2(&mut block) };
        Ok(Some(data))
    }

    /// Peers connected now, as librist reports them.
    pub fn peers(&self) -> usize {
        self.context.peers.load(Ordering::Relaxed)
    }
}

/// A RIST sender: the caller or listener of `url`, writing data blocks.
pub struct Sender {
    context: Context,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("peers", &self.peers()).finish()
    }
}

impl Sender {
    /// Starts sending to `url` (see the crate docs for the forms).
    pub fn new(url: &str) -> Result<Self> {
        Ok(Self {
            context: Context::new(url, true)?,
        })
    }

    /// Queues one data block (1316 bytes, 7 TS packets, is the usual size);
    /// librist sends it and keeps it for retransmission. Does not wait for
    /// the network. Returns the bytes queued.
    pub fn send(&mut self, data: &[u8]) -> Result<usize> {
        let block = ffi::DataBlock {
            payload: data.as_ptr().cast(),
            payload_len: data.len(),
            ts_ntp: 0,
            virt_src_port: 0,
            virt_dst_port: 0,
            peer: ptr::null_mut(),
            flow_id: 0,
            seq: 0,
            flags: 0,
            ref_: ptr::null_mut(),
        };
        // SAFETY: the context is live; `block` and its payload are valid for the call (librist
        // copies the payload).
        let r = unsafe { ffi::rist_sender_data_write(self.context.ctx, &block) };
        usize::try_from(r).map_err(|_| Error("librist: writing failed".into()))
    }

    /// Peers connected now, as librist reports them.
    pub fn peers(&self) -> usize {
        self.context.peers.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_0_2() {
        assert!(version().starts_with("0."), "{}", version());
    }

    #[test]
    fn bad_urls_are_errors() {
        for url in [
            "udp://127.0.0.1:5000",
            "rist://",
            "not a url",
            "rist://127.0.0.1:5000\0",
            "rist://:5000",
            "rist://h:0",
            "rist://h:99999",
            "rist://h",
            "rist://::1:5000",
        ] {
            let e = Receiver::new(url).unwrap_err();
            assert!(e.to_string().contains("not a valid RIST URL"), "{url}: {e}");
            let e = Sender::new(url).unwrap_err();
            assert!(e.to_string().contains("not a valid RIST URL"), "{url}: {e}");
        }
        for url in [
            "rist://@:5000",
            "rist://@[::1]:5000?cname=x",
            "RIST://host.example:1",
        ] {
            check_url(url).unwrap();
        }
    }

    #[test]
    fn sender_to_receiver_over_loopback() {
        let port = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().port()
        };
        let mut rx = Receiver::new(&format!("rist://@127.0.0.1:{port}")).unwrap();
        let mut tx = Sender::new(&format!("rist://127.0.0.1:{port}?buffer=200")).unwrap();
        let mut block = vec![0u8; 1316];
        for (i, chunk) in block.chunks_mut(188).enumerate() {
            chunk[0] = 0x47;
            chunk[1] = i as u8;
        }
        let mut got = None;
        for _ in 0..100 {
            tx.send(&block).unwrap();
            if let Some(b) = rx.recv(Duration::from_millis(50)).unwrap() {
                got = Some(b);
                break;
            }
        }
        assert_eq!(got.as_deref(), Some(&block[..]));
        assert!(tx.peers() >= 1 || rx.peers() >= 1, "a connection was reported");
    }
}
