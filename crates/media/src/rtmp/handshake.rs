//! The plain RTMP handshake, server side (RTMP 1.0 §5.2).
//!
//! The client sends C0 (one version byte, 3) and C1 (1536 bytes: 4-byte
//! time, 4 zero bytes, 1528 random bytes); the server answers S0, S1 (its own
//! time, zeros, random bytes) and S2 (an echo of C1); the client ends with C2
//! (an echo of S1).
//!
//! Flash clients, ffmpeg and librtmp (OBS) send a C1 carrying an HMAC digest
//! (the "complex" handshake of Flash Player 9). They only check the server's
//! digest when S1's version bytes (bytes 4..8) are non-zero: ffmpeg checks
//! only when playing (`rtmp_handshake`: `if (rt->is_input && serverdata[5] >= 3)`),
//! librtmp falls back to the plain handshake when `serversig[4] == 0`. This
//! server sends zero version bytes, so no digest is needed for publishers.
//! C2 is not checked: clients differ in what they put there.

use bytes::{Buf, BufMut, BytesMut};

use super::{Error, Result};

/// Length of C1, C2, S1 and S2 (§5.2.3).
pub const HANDSHAKE_SIZE: usize = 1536;
/// The RTMP version in C0 and S0 (§5.2.2).
pub const RTMP_VERSION: u8 = 3;

/// Server side of the plain handshake, fed with the bytes the client sends.
#[derive(Debug, Clone)]
pub struct ServerHandshake {
    state: State,
    epoch: u32,
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for C0 and C1.
    C0C1,
    /// S0, S1, S2 sent; waiting for C2.
    C2,
    /// C2 received.
    Done,
}

// === impl ServerHandshake ===

impl ServerHandshake {
    /// A handshake whose S1 carries `epoch` as its time field and 1528
    /// pseudo-random bytes derived from `seed` (they need not be secret).
    pub fn new(epoch: u32, seed: u64) -> Self {
        Self {
            state: State::C0C1,
            epoch,
            seed,
        }
    }

    /// Whether C2 has been received.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes handshake bytes from `buf` (only whole C0+C1 or C2) and writes
    /// the answer to `out`. Returns `Ok(true)` once the handshake is complete;
    /// bytes after C2 are left in `buf` (they are the first chunks).
    pub fn handle(&mut self, buf: &mut BytesMut, out: &mut impl BufMut) -> Result<bool> {
        if self.state == State::C0C1 {
            if buf.len() < 1 + HANDSHAKE_SIZE {
                // fail early on a wrong version: a non-RTMP peer may never send 1537 bytes
                return match buf.first() {
                    Some(&v) if v != RTMP_VERSION => Err(Error::BadVersion(v)),
                    _ => Ok(false),
                };
            }
            let version = buf.get_u8();
            if version != RTMP_VERSION {
                return Err(Error::BadVersion(version));
            }
            let c1 = buf.split_to(HANDSHAKE_SIZE);
            out.put_u8(RTMP_VERSION);
            self.put_s1(out);
            // S2: C1 echoed as it is, which librtmp compares with what it sent
            out.put_slice(&c1);
            self.state = State::C2;
        }
        if self.state == State::C2 {
            if buf.len() < HANDSHAKE_SIZE {
                return Ok(false);
            }
            buf.advance(HANDSHAKE_SIZE);
            self.state = State::Done;
        }
        Ok(true)
    }

    /// S1: time, four zero bytes (no digest handshake), random bytes (xorshift64*).
    fn put_s1(&self, out: &mut impl BufMut) {
        out.put_u32(self.epoch);
        out.put_u32(0);
        let mut x = self.seed | 1;
        for _ in 0..(HANDSHAKE_SIZE - 8) / 8 {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            out.put_u64(x.wrapping_mul(0x2545_f491_4f6c_dd1d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_handshake_byte_by_byte() {
        let mut hs = ServerHandshake::new(7, 42);
        let mut c1 = vec![0u8; HANDSHAKE_SIZE];
        c1[0..4].copy_from_slice(&[0, 0, 1, 2]);
        c1[4..8].copy_from_slice(&[9, 0, 124, 2]);
        for (i, b) in c1.iter_mut().enumerate().skip(8) {
            *b = i as u8;
        }
        let mut input = vec![RTMP_VERSION];
        input.extend_from_slice(&c1);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in &input {
            assert!(!hs.handle(&mut buf, &mut out).unwrap());
            buf.put_u8(b);
        }
        assert!(!hs.handle(&mut buf, &mut out).unwrap());
        assert!(buf.is_empty());
        assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
        assert_eq!(out[0], RTMP_VERSION);
        assert_eq!(&out[1..5], &[0, 0, 0, 7]);
        assert_eq!(&out[5..9], &[0, 0, 0, 0], "zero version: plain handshake");
        assert_eq!(&out[1 + HANDSHAKE_SIZE..], &c1[..], "s2 echoes c1");
        // C2 (echo of S1) and the first chunk bytes in one read
        buf.extend_from_slice(&out[1..1 + HANDSHAKE_SIZE]);
        buf.extend_from_slice(&[0x03, 0x00]);
        assert!(hs.handle(&mut buf, &mut out).unwrap());
        assert!(hs.is_done());
        assert_eq!(&buf[..], &[0x03, 0x00]);
    }

    #[test]
    fn wrong_version_fails_at_once() {
        let mut hs = ServerHandshake::new(0, 0);
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        assert_eq!(hs.handle(&mut buf, &mut Vec::new()), Err(Error::BadVersion(b'G')));
    }
}
