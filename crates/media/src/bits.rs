//! Bit-level reading for codec headers (H.264/H.265 parameter sets, ADTS,
//! AudioSpecificConfig).

/// Errors of [`BitReader`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The reader ran past the end of its input.
    #[error("bitstream ends at bit {bit_offset}: needed {needed} more bits")]
    Eof {
        /// Bit position at which the read started.
        bit_offset: usize,
        /// Bits that were asked for.
        needed: u32,
    },
    /// An Exp-Golomb code longer than 32 bits.
    #[error("exp-golomb code too long at bit {bit_offset}")]
    ExpGolombTooLong {
        /// Bit position at which the code starts.
        bit_offset: usize,
    },
}

/// Result of bit reads.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads bits MSB-first from a byte slice.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

// === impl BitReader ===

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Current position in bits.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bits left to read.
    pub fn remaining(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    /// Reads one bit.
    pub fn bit(&mut self) -> Result<bool> {
        Ok(self.bits(1)? == 1)
    }

    /// Reads `n` bits (at most 64) as an unsigned integer.
    pub fn bits(&mut self, n: u32) -> Result<u64> {
        debug_assert!(n <= 64, "callers read at most 64 bits at once");
        if (n as usize) > self.remaining() {
            return Err(Error::Eof {
                bit_offset: self.pos,
                needed: n,
            });
        }
        let mut v: u64 = 0;
        for _ in 0..n {
            let byte = self.data[self.pos / 8];
            let b = (byte >> (7 - (self.pos % 8))) & 1;
            v = (v << 1) | u64::from(b);
            self.pos += 1;
        }
        Ok(v)
    }

    /// Reads `n` bits (at most 32) as a `u32`.
    pub fn u32(&mut self, n: u32) -> Result<u32> {
        debug_assert!(n <= 32);
        Ok(self.bits(n)? as u32)
    }

    /// Reads `n` bits (at most 8) as a `u8`.
    pub fn u8(&mut self, n: u32) -> Result<u8> {
        debug_assert!(n <= 8);
        Ok(self.bits(n)? as u8)
    }

    /// Skips `n` bits.
    pub fn skip(&mut self, n: usize) -> Result<()> {
        if n > self.remaining() {
            return Err(Error::Eof {
                bit_offset: self.pos,
                needed: n.min(u32::MAX as usize) as u32,
            });
        }
        self.pos += n;
        Ok(())
    }

    /// Reads an unsigned Exp-Golomb code, `ue(v)` (H.264 §9.1).
    pub fn ue(&mut self) -> Result<u32> {
        let start = self.pos;
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(Error::ExpGolombTooLong { bit_offset: start });
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + rest) as u32)
    }

    /// Reads a `ue(v)` and checks it against the spec's upper bound `max`: a
    /// larger value is the error `bad` makes of a message naming the syntax
    /// element `name`, its value and bit position.
    pub(crate) fn ue_at_most<E: From<Error>>(
        &mut self,
        name: &str,
        max: u32,
        bad: impl FnOnce(String) -> E,
    ) -> Result<u32, E> {
        let at = self.pos;
        let v = self.ue()?;
        if v > max {
            return Err(bad(format!("{name} {v} at rbsp bit {at} exceeds {max}")));
        }
        Ok(v)
    }

    /// Reads a signed Exp-Golomb code, `se(v)` (H.264 §9.1.1).
    pub fn se(&mut self) -> Result<i32> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }
}

/// Writes bits MSB-first into a byte vector (for ADTS headers and tests).
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    out: Vec<u8>,
    bits: u32,
}

// === impl BitWriter ===

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the low `n` bits of `v` (at most 64).
    pub fn put(&mut self, n: u32, v: u64) {
        for i in (0..n).rev() {
            if self.bits.is_multiple_of(8) {
                self.out.push(0);
            }
            let bit = ((v >> i) & 1) as u8;
            let last = self.out.len() - 1; // a byte was pushed above when the previous one was full
            self.out[last] |= bit << (7 - (self.bits % 8));
            self.bits += 1;
        }
    }

    /// Appends an unsigned Exp-Golomb code.
    pub fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        self.put(len - 1, 0);
        self.put(len, x);
    }

    /// Appends a signed Exp-Golomb code.
    pub fn se(&mut self, v: i32) {
        let k = if v > 0 {
            2 * i64::from(v) - 1
        } else {
            -2 * i64::from(v)
        };
        self.ue(k as u32);
    }

    /// The written bytes; a partial last byte is zero-padded.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_past_end_is_error() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.bits(8).unwrap(), 0xff);
        assert_eq!(
            r.bit(),
            Err(Error::Eof {
                bit_offset: 8,
                needed: 1
            })
        );
    }

    #[test]
    fn all_zero_exp_golomb_is_bounded() {
        let zeros = [0u8; 16];
        assert!(BitReader::new(&zeros).ue().is_err());
    }

    proptest! {
        #[test]
        fn exp_golomb_round_trip(vals in proptest::collection::vec((any::<u32>().prop_map(|v| v >> 1), any::<i32>().prop_map(|v| v >> 2)), 0..50)) {
            let mut w = BitWriter::new();
            for (u, s) in &vals { w.ue(*u); w.se(*s); }
            let bytes = w.finish();
            let mut r = BitReader::new(&bytes);
            for (u, s) in &vals {
                prop_assert_eq!(r.ue().unwrap(), *u);
                prop_assert_eq!(r.se().unwrap(), *s);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = BitReader::new(&data);
            while r.ue().is_ok() && r.se().is_ok() {}
        }
    }
}
