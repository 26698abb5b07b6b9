//! Base64 (RFC 4648 §4, standard alphabet) for SDP format parameters such as
//! `sprop-parameter-sets` (RFC 6184 §8.1) and `sprop-vps` (RFC 7798 §7.1).

/// Errors of base64 decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A byte outside the alphabet (`A-Z a-z 0-9 + /` and trailing `=`).
    #[error("base64: invalid character {byte:#04x} at byte {offset}")]
    BadCharacter {
        /// Offset of the byte in the input.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// The input ends with a lone character (a length of 4n + 1 without padding).
    #[error("base64: truncated group at byte {offset}")]
    Truncated {
        /// Offset of the incomplete group.
        offset: usize,
    },
    /// `=` padding in the wrong place, or too much of it.
    #[error("base64: bad padding at byte {offset}")]
    BadPadding {
        /// Offset of the offending `=`.
        offset: usize,
    },
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes standard base64. Padding is optional (some encoders omit it),
/// but when present it must close the input; bits left over in the last
/// group are ignored as RFC 4648 §3.5 allows decoders to.
pub fn decode(input: &[u8]) -> Result<Vec<u8>, Error> {
    let data_len = input.iter().rposition(|&b| b != b'=').map_or(0, |p| p + 1);
    let padding = input.len() - data_len;
    if padding > 2 || (padding > 0 && !input.len().is_multiple_of(4)) {
        return Err(Error::BadPadding { offset: data_len });
    }
    let mut out = Vec::with_capacity(data_len / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for (offset, &byte) in input[..data_len].iter().enumerate() {
        let v = match value(byte) {
            Some(v) => v,
            None if byte == b'=' => return Err(Error::BadPadding { offset }),
            None => return Err(Error::BadCharacter { offset, byte }),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if data_len % 4 == 1 {
        return Err(Error::Truncated { offset: data_len - 1 });
    }
    Ok(out)
}

/// Encodes as standard base64 with `=` padding.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc4648_vectors() {
        let vectors: [(&str, &str); 7] = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded.as_bytes()).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn sps_from_ffmpeg() {
        let sps = decode(b"Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==").unwrap();
        assert_eq!(&sps[..4], &[0x67, 0x64, 0x00, 0x0d]);
        assert_eq!(decode(b"aOvjyyLA").unwrap(), [0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0]);
    }

    #[test]
    fn unpadded_input_decodes() {
        assert_eq!(decode(b"Zm8").unwrap(), b"fo");
        assert_eq!(decode(b"Zg").unwrap(), b"f");
    }

    #[test]
    fn errors_name_the_offset() {
        assert_eq!(
            decode(b"Zm9v*g=="),
            Err(Error::BadCharacter {
                offset: 4,
                byte: b'*'
            })
        );
        assert_eq!(decode(b"Zm9vY"), Err(Error::Truncated { offset: 4 }));
        assert_eq!(decode(b"Zg=a"), Err(Error::BadPadding { offset: 2 }));
        assert_eq!(decode(b"Z==="), Err(Error::BadPadding { offset: 1 }));
        assert_eq!(decode(b"Zg="), Err(Error::BadPadding { offset: 2 }));
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(decode(encode(&data).as_bytes()).unwrap(), data);
        }

        #[test]
        fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&data);
        }
    }
}
