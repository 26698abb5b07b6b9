use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::rtp::Packet;

/// A media datagram: PT 33, payload `len` bytes derived from `seq`.
fn media(seq: u16, ts: u32, marker: bool, len: usize) -> Bytes {
    let payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seq as u8).collect();
    Packet::new(33, seq, ts, 0xdead_beef, marker, payload.into())
        .to_bytes()
        .unwrap()
}

/// Encodes `packets`; returns the FEC datagrams (columns then rows interleaved as emitted).
fn encode(enc: &mut Encoder, packets: &[Bytes]) -> (Vec<Bytes>, usize, usize) {
    let (mut fec, mut columns, mut rows) = (Vec::new(), 0, 0);
    for p in packets {
        let out = enc.push(p).unwrap();
        if let Some(c) = out.column {
            columns += 1;
            fec.push(c);
        }
        if let Some(r) = out.row {
            rows += 1;
            fec.push(r);
        }
    }
    (fec, columns, rows)
}

/// Drops the packets at `lost` (indices), recovers, and checks the
/// recovered packets are exactly the dropped ones.
fn check_recovery(packets: &[Bytes], fec: &[Bytes], lost: &BTreeSet<usize>) -> Result<(), TestCaseError> {
    let received: Vec<&Bytes> = packets
        .iter()
        .enumerate()
        .filter(|(i, _)| !lost.contains(i))
        .map(|(_, p)| p)
        .collect();
    let back = recover(&received, fec);
    prop_assert!(back.errors.is_empty(), "errors: {:?}", back.errors);
    let mut got = back.packets.clone();
    got.sort_by_key(|p| packets.iter().position(|q| q == p));
    let want: Vec<Bytes> = lost.iter().map(|&i| packets[i].clone()).collect();
    prop_assert_eq!(got, want);
    Ok(())
}

#[test]
fn shape_limits() {
    for (l, d) in [(1, 4), (20, 5), (4, 20), (10, 10), (4, 8), (1, 20), (5, 20)] {
        let s = Shape::new(l, d).unwrap();
        assert_eq!((s.columns(), s.rows()), (l, d));
    }
    for (l, d, msg) in [
        (0, 4, "columns (L) must be 1 to 20"),
        (21, 4, "columns (L) must be 1 to 20"),
        (50, 2, "columns (L) must be 1 to 20"),
        (4, 2, "rows (D) must be 4 to 20"),
        (4, 21, "rows (D) must be 4 to 20"),
        (10, 11, "at most 100"),
        (20, 20, "at most 100"),
    ] {
        let e = Shape::new(l, d).unwrap_err().to_string();
        assert!(e.contains(msg), "{l}x{d}: {e}");
    }
    let e = Encoder::new(Shape::new(3, 10).unwrap(), Mode::ColumnAndRow, 0, 0).unwrap_err();
    assert!(e.to_string().contains("at least 4 with row fec"), "{e}");
    Encoder::new(Shape::new(3, 10).unwrap(), Mode::Column, 0, 0).unwrap();
}

#[test]
fn fec_packets_have_the_smpte_2022_1_layout() {
    let shape = Shape::new(4, 5).unwrap();
    let mut enc = Encoder::new(shape, Mode::ColumnAndRow, 100, 200).unwrap();
    let packets: Vec<Bytes> = (0..20u16)
        .map(|i| media(65_530u16.wrapping_add(i), 1000 + u32::from(i), false, 1316))
        .collect();
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    for p in &packets {
        let out = enc.push(p).unwrap();
        columns.extend(out.column);
        rows.extend(out.row);
    }
    assert_eq!((columns.len(), rows.len()), (4, 5));
    let c = &columns[1];
    assert_eq!(c.len(), 12 + 16 + 1316);
    assert_eq!(&c[..2], &[0x80, 96]);
    assert_eq!(u16::from_be_bytes([c[2], c[3]]), 101);
    assert_eq!(&c[8..12], &[0, 0, 0, 0], "ssrc 0");
    // SNBase of column 1 is the matrix's second packet
    assert_eq!(u16::from_be_bytes([c[12], c[13]]), 65_531);
    // five packets of 1316 bytes: the XORs of lengths and payload types are theirs
    assert_eq!(u16::from_be_bytes([c[14], c[15]]), 1316);
    assert_eq!(c[16], 0x80 | 33, "E set, pt recovery");
    assert_eq!(&c[17..20], &[0, 0, 0], "mask");
    assert_eq!(&c[24..28], &[0x00, 4, 5, 0], "column: D=0, offset L, NA D");
    let r = &rows[2];
    assert_eq!(u16::from_be_bytes([r[2], r[3]]), 202);
    assert_eq!(u16::from_be_bytes([r[12], r[13]]), 65_530u16.wrapping_add(8));
    assert_eq!(&r[24..28], &[0x40, 1, 4, 0], "row: D=1, offset 1, NA L");
    let ts = (8..12u32).fold(0, |acc, i| acc ^ (1000 + i));
    assert_eq!(u32::from_be_bytes([r[20], r[21], r[22], r[23]]), ts);
    assert_eq!(
        u32::from_be_bytes([r[4], r[5], r[6], r[7]]),
        1008,
        "timestamp of SNBase"
    );
    let parsed = FecPacket::parse(r).unwrap();
    assert_eq!(parsed.header.direction, Direction::Row);
    assert_eq!(parsed.to_bytes(), *r);
    // the payload is the XOR of the protected payloads
    let mut x = vec![0u8; 1316];
    for p in &packets[8..12] {
        xor_into(&mut x, &p[12..]);
    }
    assert_eq!(&r[28..], &x[..]);
}

#[test]
fn a_sequence_gap_starts_a_new_matrix() {
    let shape = Shape::new(4, 4).unwrap();
    let mut enc = Encoder::new(shape, Mode::ColumnAndRow, 0, 0).unwrap();
    for seq in 0..6u16 {
        enc.push(&media(seq, 0, false, 100)).unwrap();
    }
    let mut rows = Vec::new();
    for seq in 1000..1016u16 {
        rows.extend(enc.push(&media(seq, 0, false, 100)).unwrap().row);
    }
    let first = FecPacket::parse(&rows[0]).unwrap();
    assert_eq!(first.header.sn_base, 1000);
    assert_eq!(rows.len(), 4);
}

#[test]
fn bad_media_is_refused_and_bad_fec_is_reported() {
    let mut enc = Encoder::new(Shape::new(4, 4).unwrap(), Mode::Column, 0, 0).unwrap();
    assert!(matches!(enc.push(&[0x80; 5]), Err(Error::Truncated { .. })));
    assert!(matches!(enc.push(&[0x40; 20]), Err(Error::BadPacket { .. })));
    let packets: Vec<Bytes> = (0..16).map(|s| media(s, 0, false, 50)).collect();
    let (mut fec, _, _) = encode(&mut enc, &packets);
    // a column FEC packet cut short: its recovered length no longer fits
    fec[0] = fec[0].slice(..40);
    fec.push(Bytes::from_static(&[0x80, 96, 0, 0]));
    let back = recover(&packets[1..], &fec);
    assert!(back.packets.is_empty());
    assert_eq!(back.errors.len(), 2, "{:?}", back.errors);
}

#[test]
fn rows_and_columns_together_fix_a_cross() {
    // losses a row alone or a column alone cannot fix: two in row 1, two in column 1
    let shape = Shape::new(4, 4).unwrap();
    let mut enc = Encoder::new(shape, Mode::ColumnAndRow, 0, 0).unwrap();
    let packets: Vec<Bytes> = (0..16)
        .map(|s| media(s, u32::from(s) * 7, s % 5 == 0, 188 * 7))
        .collect();
    let (fec, _, _) = encode(&mut enc, &packets);
    check_recovery(&packets, &fec, &BTreeSet::from([4, 5, 9, 13])).unwrap();
}

fn arb_shape(rows: bool) -> impl Strategy<Value = Shape> {
    let min_l = if rows { 4u32 } else { 1 };
    (min_l..=20u32, 4u32..=20).prop_filter_map("L x D over 100", |(l, d)| Shape::new(l, d).ok())
}

/// Packets of `matrices` whole matrices plus `extra`, from `start`, of
/// varying lengths, markers and timestamps.
fn stream(shape: Shape, matrices: usize, extra: usize, start: u16, lens: &[usize]) -> Vec<Bytes> {
    let n = matrices * (shape.columns() * shape.rows()) as usize + extra;
    (0..n)
        .map(|i| {
            let seq = start.wrapping_add(i as u16);
            media(
                seq,
                (i as u32).wrapping_mul(3003),
                i % 3 == 0,
                lens[i % lens.len()],
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn header_round_trip(bytes in proptest::array::uniform16(any::<u8>())) {
        let h = Header::parse(&bytes).unwrap();
        let mut out = Vec::new();
        h.write(&mut out);
        prop_assert_eq!(&out[..], &bytes[..]);
    }

    #[test]
    fn one_loss_per_column_is_recovered(
        shape in arb_shape(false),
        start: u16,
        lens in proptest::collection::vec(0usize..400, 1..5),
        rows in proptest::collection::vec(0u32..20, 20),
        matrices in 1usize..4,
    ) {
        let mut enc = Encoder::new(shape, Mode::Column, 0, 0).unwrap();
        let packets = stream(shape, matrices, 3, start, &lens);
        let (fec, columns, _) = encode(&mut enc, &packets);
        prop_assert_eq!(columns, matrices * shape.columns() as usize);
        let (l, d) = (shape.columns() as usize, shape.rows() as usize);
        let mut lost = BTreeSet::new();
        for m in 0..matrices {
            for c in 0..l {
                let r = rows[(c + m) % rows.len()] as usize % d;
                lost.insert(m * l * d + r * l + c);
            }
        }
        check_recovery(&packets, &fec, &lost)?;
    }

    #[test]
    fn a_burst_of_l_packets_is_recovered(
        shape in arb_shape(true),
        start: u16,
        len in 0usize..1400,
        at: prop::sample::Index,
        matrices in 1usize..3,
    ) {
        let mut enc = Encoder::new(shape, Mode::ColumnAndRow, 7, 9).unwrap();
        let packets = stream(shape, matrices, 0, start, &[len]);
        let (fec, columns, rows) = encode(&mut enc, &packets);
        let (l, d) = (shape.columns() as usize, shape.rows() as usize);
        prop_assert_eq!(columns, matrices * l);
        prop_assert_eq!(rows, matrices * d);
        // L consecutive packets anywhere in the last matrix touch each column once
        let base = (matrices - 1) * l * d;
        let first = base + at.index(l * d - l + 1);
        let lost: BTreeSet<usize> = (first..first + l).collect();
        check_recovery(&packets, &fec, &lost)?;
    }

    #[test]
    fn one_loss_per_row_is_recovered_by_rows(
        shape in arb_shape(true),
        start: u16,
        lens in proptest::collection::vec(0usize..300, 1..4),
        cols in proptest::collection::vec(0u32..20, 20),
    ) {
        let mut enc = Encoder::new(shape, Mode::ColumnAndRow, 0, 0).unwrap();
        let packets = stream(shape, 1, 0, start, &lens);
        let (fec, _, _) = encode(&mut enc, &packets);
        // row FEC only: drop the column packets
        let rows_only: Vec<Bytes> = fec
            .into_iter()
            .filter(|f| FecPacket::parse(f).unwrap().header.direction == Direction::Row)
            .collect();
        let (l, d) = (shape.columns() as usize, shape.rows() as usize);
        let lost: BTreeSet<usize> = (0..d).map(|r| r * l + cols[r % cols.len()] as usize % l).collect();
        check_recovery(&packets, &rows_only, &lost)?;
    }

    #[test]
    fn arbitrary_packets_never_panic(
        media in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..40),
        fec in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..40),
    ) {
        let back = recover(&media, &fec);
        for p in &back.packets {
            prop_assert!(p.len() >= 12);
        }
    }

    #[test]
    fn arbitrary_fec_against_real_media_never_panics(
        fec in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 28..120), 0..20),
        drop in 0usize..16,
        seeds in proptest::collection::vec(any::<(u8, u8)>(), 0..20),
    ) {
        let packets: Vec<Bytes> = (0..16).map(|s| media(s, 0, false, 60)).collect();
        let mut fec = fec;
        for (f, (offset, na)) in fec.iter_mut().zip(&seeds) {
            // aim some at the real packets
            f[0] = 0x80;
            f[12] = 0;
            f[13] = 0;
            f[24] = 0;
            f[25] = *offset % 5;
            f[26] = *na % 17;
        }
        let received: Vec<&Bytes> = packets.iter().enumerate().filter(|(i, _)| *i != drop).map(|(_, p)| p).collect();
        let _ = recover(&received, &fec);
    }
}
