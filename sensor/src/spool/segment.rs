//! Segment files: `<first-seq>.seg`, the first sequence number in twenty
//! digits so that names sort like numbers, an 8-byte magic, then frames
//! ([`super::frame`]) with consecutive sequence numbers. Only the newest
//! segment is ever written to, and only at its end.

use std::{
    ffi::OsStr,
    fs::{File, OpenOptions},
    io::{self, BufReader, Read, Write},
    path::{Path, PathBuf},
};

use super::frame::{self, FRAME_HEADER};

/// The bytes at the start of every segment file.
pub(super) const MAGIC: &[u8; 8] = b"SPOOLSG1";
/// Their length.
pub(super) const SEGMENT_HEADER: usize = MAGIC.len();

/// A segment as the spool keeps it in memory.
#[derive(Debug)]
pub(super) struct Segment {
    /// The sequence number of its first record (also its name).
    pub first_seq: u64,
    /// Its file.
    pub path: PathBuf,
    /// The bytes of the file that hold good frames (header included).
    pub len: u64,
    /// Where each record's frame starts: record `first_seq + i` at `offsets[i]`.
    pub offsets: Vec<u32>,
}

impl Segment {
    /// The sequence number after its last record.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.offsets.len() as u64
    }

    /// Where record `i`'s frame ends.
    pub fn frame_end(&self, i: usize) -> u64 {
        self.offsets.get(i + 1).map_or(self.len, |&o| u64::from(o))
    }

    /// The records after `acked` and the bytes their frames take.
    pub fn unacked(&self, acked: u64) -> (u64, u64) {
        let from = self.first_seq.max(acked.saturating_add(1));
        if from >= self.end_seq() {
            return (0, 0);
        }
        let i = (from - self.first_seq) as usize;
        (self.end_seq() - from, self.len - u64::from(self.offsets[i]))
    }
}

/// The file name of the segment starting at `seq`.
pub(super) fn file_name(seq: u64) -> String {
    format!("{seq:020}.seg")
}

/// The first sequence number a segment file's name gives, if it is one: only the
/// exact form [`file_name`] writes, so `7.seg` and `0007.seg` cannot both claim
/// record 7.
pub(super) fn parse_name(name: &OsStr) -> Option<u64> {
    let name = name.to_str()?;
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Creates a new, empty segment; it must not exist yet.
pub(super) fn create(dir: &Path, first_seq: u64) -> io::Result<(File, Segment)> {
    let path = dir.join(file_name(first_seq));
    let mut f = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&path)?;
    f.write_all(MAGIC)?;
    Ok((
        f,
        Segment {
            first_seq,
            path,
            len: SEGMENT_HEADER as u64,
            offsets: Vec::new(),
        },
    ))
}

/// Opens an existing segment for appending after its last good record, cutting
/// anything past it, and writing the magic again if a crash left it short.
pub(super) fn reopen(seg: &mut Segment) -> io::Result<File> {
    let mut f = OpenOptions::new().append(true).open(&seg.path)?;
    if f.metadata()?.len() != seg.len {
        f.set_len(seg.len)?;
    }
    if seg.len < SEGMENT_HEADER as u64 {
        f.set_len(0)?;
        f.write_all(MAGIC)?;
        seg.len = SEGMENT_HEADER as u64;
    }
    Ok(f)
}

/// What a scan of a segment file found.
#[derive(Debug)]
pub(super) struct Scan {
    /// The file's size.
    pub file_len: u64,
    /// Whether it starts with [`MAGIC`]; if not, nothing else was read.
    pub magic_ok: bool,
    /// Where each good record starts.
    pub offsets: Vec<u32>,
    /// Where the good records end.
    pub good_len: u64,
    /// Why the scan stopped before the end of the file, if it did.
    pub bad: Option<&'static str>,
}

/// Reads a segment frame by frame, checking each one, and stops at the first that
/// is short, fails its checksum, is longer than `max_payload` or is out of
/// sequence. Only read errors are errors; damage is reported in [`Scan::bad`].
pub(super) fn scan(path: &Path, first_seq: u64, max_payload: u64) -> io::Result<Scan> {
    let f = File::open(path)?;
    let file_len = f.metadata()?.len();
    let mut r = BufReader::with_capacity(64 << 10, f);
    let mut magic = [0u8; SEGMENT_HEADER];
    let mut s = Scan {
        file_len,
        magic_ok: false,
        offsets: Vec::new(),
        good_len: 0,
        bad: None,
    };
    if read_full(&mut r, &mut magic)? < SEGMENT_HEADER || &magic != MAGIC {
        return Ok(s);
    }
    s.magic_ok = true;
    s.good_len = SEGMENT_HEADER as u64;
    let mut hdr = [0u8; FRAME_HEADER];
    let mut payload = Vec::new();
    let mut seq = first_seq;
    loop {
        match read_full(&mut r, &mut hdr)? {
            0 => break,
            n if n < FRAME_HEADER => {
                s.bad = Some("a frame header cut short");
                break;
            }
            _ => {}
        }
        let h = frame::header(&hdr);
        // Checked before allocating: a damaged length must not ask for gigabytes.
        if u64::from(h.len) > max_payload || u64::from(h.len) > file_len.saturating_sub(s.good_len)
        {
            s.bad = Some("a record length past the segment's end");
            break;
        }
        if h.seq != seq {
            s.bad = Some("a sequence number out of order");
            break;
        }
        payload.resize(h.len as usize, 0);
        if read_full(&mut r, &mut payload)? < payload.len() {
            s.bad = Some("a record cut short");
            break;
        }
        if !frame::verify(&h, &payload) {
            s.bad = Some("a record failing its checksum");
            break;
        }
        // Segments are at most u32::MAX bytes (checked in the config), so is this.
        s.offsets.push(s.good_len as u32);
        s.good_len += (FRAME_HEADER + payload.len()) as u64;
        seq += 1;
    }
    Ok(s)
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
