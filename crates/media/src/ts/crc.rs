//! The CRC-32 of MPEG-2 PSI sections (ISO/IEC 13818-1 Annex A): polynomial
//! 0x04C11DB7, initial value 0xFFFFFFFF, MSB first, no reflection, no final XOR.

/// Lookup table for [`crc32`], one entry per leading byte.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// CRC-32/MPEG-2 of `data` (ISO/IEC 13818-1 Annex A, table-driven).
///
/// A PSI section including its trailing `CRC_32` field has a CRC of zero.
///
/// ```
/// assert_eq!(media::ts::crc32(b"123456789"), 0x0376_E6E7);
/// ```
pub fn crc32(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &b| {
        (crc << 8) ^ TABLE[usize::from((crc >> 24) as u8 ^ b)]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // the catalogued check value of CRC-32/MPEG-2
        assert_eq!(crc32(b"123456789"), 0x0376_E6E7);
        assert_eq!(crc32(b""), 0xFFFF_FFFF);
    }

    #[test]
    fn section_with_its_crc_checks_to_zero() {
        let mut s = b"\x00\xb0\x0d\x00\x01\xc1\x00\x00\x00\x01\xf0\x00".to_vec();
        let crc = crc32(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(crc32(&s), 0);
    }
}
