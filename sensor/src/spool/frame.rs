//! One record as written in a segment file:
//!
//! ```text
//! len: u32 LE | crc: u32 LE | seq: u64 LE | payload: len bytes
//! ```
//!
//! The CRC32 (IEEE) covers `len`, `seq` and the payload, so a flipped bit in the
//! length or the sequence number is caught as surely as one in the payload, and
//! a torn write (a frame cut short by a crash) never reads as a record.

/// The bytes of a frame before its payload.
pub(super) const FRAME_HEADER: usize = 16;

/// A frame's header, not yet checked against its payload.
#[derive(Clone, Copy, Debug)]
pub(super) struct Header {
    pub len: u32,
    pub crc: u32,
    pub seq: u64,
}

/// Writes the frame of `payload` into `out` (cleared first, so one buffer serves
/// every append). The caller has checked that the payload's length fits a u32.
pub(super) fn encode(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    let len = payload.len() as u32;
    out.clear();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(len, seq, payload).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Reads a frame header.
pub(super) fn header(b: &[u8; FRAME_HEADER]) -> Header {
    Header {
        len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        crc: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        seq: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
    }
}

/// Whether `payload` is the one `h` was written with.
pub(super) fn verify(h: &Header, payload: &[u8]) -> bool {
    payload.len() == h.len as usize && checksum(h.len, h.seq, payload) == h.crc
}

fn checksum(len: u32, seq: u64, payload: &[u8]) -> u32 {
    let mut c = crc32fast::Hasher::new();
    c.update(&len.to_le_bytes());
    c.update(&seq.to_le_bytes());
    c.update(payload);
    c.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_flipped_bit_is_caught() {
        let mut buf = Vec::new();
        encode(&mut buf, 42, b"finding");
        let h = header(buf[..FRAME_HEADER].try_into().unwrap());
        assert_eq!((h.len, h.seq), (7, 42));
        assert!(verify(&h, &buf[FRAME_HEADER..]));
        for bit in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let h = header(bad[..FRAME_HEADER].try_into().unwrap());
            let payload = &bad[FRAME_HEADER..];
            assert!(!verify(&h, payload), "bit {bit} flipped unnoticed");
        }
    }
}
