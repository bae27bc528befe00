//! Any bytes a replication stream could carry decode to a message or an error, never a panic, and a
//! decoded tuple's cells all lie inside the input.
#![no_main]

use freshet_sources::postgres::pgoutput::{Cell, Message, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let inside = |bytes: &[u8]| {
        let (start, end) = (data.as_ptr() as usize, data.as_ptr() as usize + data.len());
        let at = bytes.as_ptr() as usize;
        assert!(bytes.is_empty() || (at >= start && at + bytes.len() <= end));
    };
    let cells = match decode(data) {
        Ok(Message::Insert { new, .. }) => new,
        Ok(Message::Update { old, new, .. }) => old.into_iter().flatten().chain(new).collect(),
        _ => return,
    };
    for cell in cells {
        if let Cell::Text(b) | Cell::Binary(b) = cell {
            inside(b);
        }
    }
});
