//! The relay's wire decoders on arbitrary bytes, cut into arbitrary chunks:
//! they return items or errors, never panic, never allocate past the limits.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use relay::wire::{ControlDecoder, Limits, MediaDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let limits = Limits { payload: 1 << 20, ..Limits::default() };
    let mut media = MediaDecoder::new(limits);
    let mut server = ControlDecoder::<proto::relay::ServerMessage>::new(limits, "server message");
    let mut client = ControlDecoder::<proto::relay::ClientMessage>::new(limits, "client message");
    let step = usize::from(cut).max(1);
    for chunk in rest.chunks(step) {
        let chunk = Bytes::copy_from_slice(chunk);
        media.push(chunk.clone());
        server.push(chunk.clone());
        client.push(chunk);
        while let Ok(Some(_)) = media.next_item() {}
        while let Ok(Some(_)) = server.next_item() {}
        while let Ok(Some(_)) = client.next_item() {}
    }
    let _ = media.finish();
    let _ = server.finish();
    let _ = client.finish();
});
