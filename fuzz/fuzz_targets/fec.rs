#![no_main]
//! Arbitrary bytes, cut into datagrams, as media and FEC packets for
//! `media::fec::recover`, and as media packets for the encoder.
use libfuzzer_sys::fuzz_target;
use media::fec::{Encoder, Mode, Shape, recover};

/// Splits `data` into chunks whose lengths come from the data itself.
fn datagrams(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        out.push(&tail[..n]);
        rest = &tail[n..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let chunks = datagrams(data);
    let (media, fec): (Vec<&[u8]>, Vec<&[u8]>) = chunks.iter().partition(|c| c.first().is_some_and(|b| b & 1 == 0));
    let back = recover(&media, &fec);
    for p in &back.packets {
        assert!(p.len() >= 12);
    }
    let mut enc = Encoder::new(Shape::new(4, 4).unwrap(), Mode::ColumnAndRow, 0, 0).unwrap();
    let mut out = Vec::new();
    for c in &media {
        if let Ok(e) = enc.push(c) {
            out.extend(e.column.into_iter().chain(e.row));
        }
    }
    let _ = recover(&media, &out);
});
