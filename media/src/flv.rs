//! FLV: the file container, and the audio/video tag bodies that RTMP carries unchanged.
//!
//! RTMP audio (type 8) and video (type 9) message payloads are byte-for-byte FLV tag bodies, so
//! the body classifiers here serve both the live path (RTMP -> fMP4) and files (recording,
//! tests). The reader is sans-IO: the caller pushes whatever bytes it has and pulls items out;
//! running out of bytes is a normal state, not an error, so it works equally for a file read in
//! one go, a network stream, or one byte at a time.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

use crate::reader::ByteReader;

/// Size of the fixed FLV file header (signature, version, flags, header size).
pub const FILE_HEADER_SIZE: usize = 9;
/// Size of a tag header (type, data size, timestamp, extended timestamp, stream id).
pub const TAG_HEADER_SIZE: usize = 11;
/// Default cap on a tag's data size. FLV can express up to 16 MiB - 1, so the default only
/// rejects sizes the format itself cannot hold; streams that never carry frames that large
/// should lower it so a corrupt size cannot make the reader buffer megabytes of garbage.
pub const DEFAULT_MAX_TAG_SIZE: u32 = 16 << 20;
/// Largest data size a tag header can express (24 bits).
pub const MAX_WRITABLE_TAG_SIZE: usize = 0x00ff_ffff;

/// The FLV file header's track flags. They are advisory: real files often set both even when
/// one track never appears, so the remuxer only uses them as a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvHeader {
    pub has_audio: bool,
    pub has_video: bool,
}

/// FLV tag type. Anything but the three defined values (including values with the reserved or
/// encryption bits set) stays `Other` with the raw byte, so it can be skipped or rewritten
/// without being misread as media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagKind {
    Audio,
    Video,
    Script,
    Other(u8),
}

impl TagKind {
    pub fn from_byte(byte: u8) -> Self {
        match byte {
            8 => TagKind::Audio,
            9 => TagKind::Video,
            18 => TagKind::Script,
            other => TagKind::Other(other),
        }
    }

    pub fn to_byte(self) -> u8 {
        match self {
            TagKind::Audio => 8,
            TagKind::Video => 9,
            TagKind::Script => 18,
            TagKind::Other(b) => b,
        }
    }
}

/// One FLV tag. `data` shares the reader's buffer, so reading a file costs no per-tag copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    pub kind: TagKind,
    /// Milliseconds: the 24-bit timestamp with the extended byte as bits 24..32.
    pub timestamp: u32,
    /// Always 0 in conforming files; kept because some muxers abuse it.
    pub stream_id: u32,
    pub data: Bytes,
}

/// What [`FlvReader::next_item`] produces: the header once, then tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvItem {
    Header(FlvHeader),
    Tag(FlvTag),
}

/// Why an FLV byte stream cannot be read (or a tag cannot be written). Offsets are absolute
/// positions in the stream, counted from the first byte ever pushed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FlvError {
    #[error("not an FLV stream: bytes 0..3 are {found:02x?}, not \"FLV\"")]
    BadSignature { found: [u8; 3] },
    #[error("FLV header at byte 5 declares a header size of {size} bytes; it must be 9..={max}")]
    BadHeaderSize { size: u32, max: u64 },
    #[error("tag header at byte {offset} declares {size} data bytes, over the {max}-byte limit")]
    TagTooLarge { offset: u64, size: u32, max: u32 },
    #[error("stream ends inside the {what} starting at byte {offset} ({have} of {need} bytes)")]
    Truncated {
        what: &'static str,
        offset: u64,
        have: u64,
        need: u64,
    },
    #[error("tag body of {size} bytes does not fit in a 24-bit FLV data size")]
    DataTooLarge { size: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    FileHeader,
    /// Extra header bytes announced by the header size field, skipped without buffering.
    HeaderPadding {
        remaining: u64,
    },
    /// The 4-byte PreviousTagSize; `expected` is what the tag just read implies.
    PrevTagSize {
        expected: u32,
    },
    TagHeader,
}

/// Incremental FLV reader: [`push`](Self::push) bytes, then call [`next_item`](Self::next_item)
/// until it returns `Ok(None)`.
///
/// PreviousTagSize fields are checked but a mismatch is only counted
/// ([`prev_tag_size_mismatches`](Self::prev_tag_size_mismatches)): many writers get them wrong
/// and the tag headers alone are enough to stay in sync. A bad tag header is fatal because
/// after it there is no reliable way to find the next tag; the error then repeats on every
/// call.
#[derive(Debug)]
pub struct FlvReader {
    buf: BytesMut,
    /// Absolute stream offset of `buf[0]`.
    offset: u64,
    state: ReadState,
    max_tag_size: u32,
    failed: Option<FlvError>,
    mismatches: u64,
}

impl Default for FlvReader {
    fn default() -> Self {
        FlvReader::new()
    }
}

impl FlvReader {
    pub fn new() -> Self {
        FlvReader::with_max_tag_size(DEFAULT_MAX_TAG_SIZE)
    }

    /// A reader that rejects tags whose header claims more than `max_tag_size` data bytes.
    pub fn with_max_tag_size(max_tag_size: u32) -> Self {
        FlvReader {
            buf: BytesMut::new(),
            offset: 0,
            state: ReadState::FileHeader,
            max_tag_size,
            failed: None,
            mismatches: 0,
        }
    }

    /// Appends input. Bytes pushed after a fatal error are discarded.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// [`push`](Self::push) for input the caller owns: with nothing buffered (a whole number
    /// of tags per push, as WebSocket messages usually carry), the bytes are adopted without a
    /// copy and the tags come out as slices of them.
    pub fn push_vec(&mut self, bytes: Vec<u8>) {
        if self.failed.is_some() {
            return;
        }
        if self.buf.is_empty() {
            self.buf = BytesMut::from(Bytes::from(bytes));
        } else {
            self.buf.extend_from_slice(&bytes);
        }
    }

    /// Total bytes consumed into items so far: the offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes pushed but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// How many PreviousTagSize fields disagreed with the tag before them.
    pub fn prev_tag_size_mismatches(&self) -> u64 {
        self.mismatches
    }

    /// The next header or tag, `Ok(None)` when more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<FlvItem>, FlvError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        loop {
            match self.state {
                ReadState::FileHeader => {
                    let Some(header) = self.buf.get(..FILE_HEADER_SIZE) else {
                        return Ok(None);
                    };
                    let mut r = ByteReader::new(header);
                    let signature: [u8; 3] = r.array().unwrap_or_default();
                    let _version = r.u8();
                    let flags = r.u8().unwrap_or(0);
                    let size = r.u32().unwrap_or(0);
                    if &signature != b"FLV" {
                        return Err(self.fail(FlvError::BadSignature { found: signature }));
                    }
                    // A header bigger than a maximal tag is not padding, it is garbage.
                    let max = FILE_HEADER_SIZE as u64 + u64::from(self.max_tag_size);
                    if (size as usize) < FILE_HEADER_SIZE || u64::from(size) > max {
                        return Err(self.fail(FlvError::BadHeaderSize { size, max }));
                    }
                    self.consume(FILE_HEADER_SIZE);
                    self.state = ReadState::HeaderPadding {
                        remaining: u64::from(size) - FILE_HEADER_SIZE as u64,
                    };
                    return Ok(Some(FlvItem::Header(FlvHeader {
                        has_audio: flags & 0x04 != 0,
                        has_video: flags & 0x01 != 0,
                    })));
                }
                ReadState::HeaderPadding { remaining } => {
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(self.buf.len());
                    self.consume(n);
                    let left = remaining - n as u64;
                    if left > 0 {
                        self.state = ReadState::HeaderPadding { remaining: left };
                        return Ok(None);
                    }
                    self.state = ReadState::PrevTagSize { expected: 0 };
                }
                ReadState::PrevTagSize { expected } => {
                    let Some(field) = self.buf.get(..4) else {
                        return Ok(None);
                    };
                    let found = ByteReader::new(field).u32().unwrap_or(0);
                    if found != expected {
                        self.mismatches += 1;
                    }
                    self.consume(4);
                    self.state = ReadState::TagHeader;
                }
                ReadState::TagHeader => {
                    let Some(header) = self.buf.get(..TAG_HEADER_SIZE) else {
                        return Ok(None);
                    };
                    let mut r = ByteReader::new(header);
                    let kind = TagKind::from_byte(r.u8().unwrap_or(0));
                    let size = r.u24().unwrap_or(0);
                    let ts_low = r.u24().unwrap_or(0);
                    let ts_high = r.u8().unwrap_or(0);
                    let stream_id = r.u24().unwrap_or(0);
                    if size > self.max_tag_size {
                        return Err(self.fail(FlvError::TagTooLarge {
                            offset: self.offset,
                            size,
                            max: self.max_tag_size,
                        }));
                    }
                    let total = TAG_HEADER_SIZE + size as usize;
                    if self.buf.len() < total {
                        return Ok(None);
                    }
                    let mut tag = self.buf.split_to(total).freeze();
                    tag.advance(TAG_HEADER_SIZE);
                    self.offset += total as u64;
                    self.state = ReadState::PrevTagSize {
                        expected: total as u32,
                    };
                    return Ok(Some(FlvItem::Tag(FlvTag {
                        kind,
                        timestamp: (u32::from(ts_high) << 24) | ts_low,
                        stream_id,
                        data: tag,
                    })));
                }
            }
        }
    }

    /// Call at end of input: `Ok` if the stream stopped on a tag boundary (a missing final
    /// PreviousTagSize is accepted), otherwise what was cut off and where.
    pub fn finish(&self) -> Result<(), FlvError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let have = self.buf.len() as u64;
        let (what, need) = match self.state {
            ReadState::FileHeader => ("file header", FILE_HEADER_SIZE as u64),
            ReadState::HeaderPadding { remaining } => ("file header padding", remaining),
            ReadState::PrevTagSize { .. } if have == 0 => return Ok(()),
            ReadState::PrevTagSize { .. } => ("previous tag size", 4),
            ReadState::TagHeader if have == 0 => return Ok(()),
            ReadState::TagHeader => {
                let size = self
                    .buf
                    .get(1..4)
                    .map(|s| ByteReader::new(s).u24().unwrap_or(0))
                    .map_or(0, u64::from);
                if have < TAG_HEADER_SIZE as u64 {
                    ("tag header", TAG_HEADER_SIZE as u64)
                } else {
                    ("tag", TAG_HEADER_SIZE as u64 + size)
                }
            }
        };
        Err(FlvError::Truncated {
            what,
            offset: self.offset,
            have,
            need,
        })
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.advance(n);
        self.offset += n as u64;
    }

    fn fail(&mut self, err: FlvError) -> FlvError {
        self.failed = Some(err.clone());
        self.buf = BytesMut::new();
        err
    }
}

/// Appends the 9-byte FLV header and the zero PreviousTagSize0 that must follow it, i.e.
/// everything a file needs before its first [`write_tag`].
pub fn write_file_header(has_audio: bool, has_video: bool, out: &mut Vec<u8>) {
    let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
    out.extend_from_slice(&[b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]);
}

/// Appends one tag followed by its PreviousTagSize, so tags can be written back to back.
/// Stream id is always 0. Fails only for bodies too big for the 24-bit size field.
pub fn write_tag(
    kind: TagKind,
    timestamp: u32,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), FlvError> {
    if data.len() > MAX_WRITABLE_TAG_SIZE {
        return Err(FlvError::DataTooLarge { size: data.len() });
    }
    let size = data.len() as u32;
    out.reserve(TAG_HEADER_SIZE + data.len() + 4);
    out.push(kind.to_byte());
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    out.extend_from_slice(&timestamp.to_be_bytes()[1..]);
    out.push((timestamp >> 24) as u8);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(data);
    out.extend_from_slice(&(size + TAG_HEADER_SIZE as u32).to_be_bytes());
    Ok(())
}

pub use crate::tag::{
    parse_audio_tag, parse_video_tag, AacPacketType, AudioCodec, AudioTagInfo, AvcPacketType,
    TagBodyError, VideoCodec, VideoTagInfo,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_file() -> (Vec<u8>, Vec<FlvTag>) {
        let tags = vec![
            FlvTag {
                kind: TagKind::Script,
                timestamp: 0,
                stream_id: 0,
                data: Bytes::from_static(b"\x02\x00\x0aonMetaData\x08\0\0\0\0\0\0\x09"),
            },
            FlvTag {
                kind: TagKind::Video,
                timestamp: 0,
                stream_id: 0,
                data: Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1e]),
            },
            FlvTag {
                kind: TagKind::Audio,
                timestamp: 23,
                stream_id: 0,
                data: Bytes::from_static(&[0xaf, 1, 0x21, 0x10]),
            },
            FlvTag {
                kind: TagKind::Other(0x2a),
                timestamp: 0x0123_4567, // needs the extended byte
                stream_id: 0,
                data: Bytes::new(),
            },
        ];
        let mut file = Vec::new();
        write_file_header(true, true, &mut file);
        for tag in &tags {
            write_tag(tag.kind, tag.timestamp, &tag.data, &mut file).unwrap();
        }
        (file, tags)
    }

    fn read_all(reader: &mut FlvReader, out: &mut Vec<FlvItem>) -> Result<(), FlvError> {
        while let Some(item) = reader.next_item()? {
            out.push(item);
        }
        Ok(())
    }

    fn expected_items(tags: &[FlvTag]) -> Vec<FlvItem> {
        let mut items = vec![FlvItem::Header(FlvHeader {
            has_audio: true,
            has_video: true,
        })];
        items.extend(tags.iter().cloned().map(FlvItem::Tag));
        items
    }

    #[test]
    fn round_trip_in_one_push() {
        let (file, tags) = sample_file();
        let mut reader = FlvReader::new();
        reader.push(&file);
        let mut items = Vec::new();
        read_all(&mut reader, &mut items).unwrap();
        assert_eq!(items, expected_items(&tags));
        assert_eq!(reader.finish(), Ok(()));
        assert_eq!(reader.offset(), file.len() as u64);
        assert_eq!(reader.prev_tag_size_mismatches(), 0);
    }

    #[test]
    fn byte_at_a_time() {
        let (file, tags) = sample_file();
        let mut reader = FlvReader::new();
        let mut items = Vec::new();
        for b in &file {
            reader.push(std::slice::from_ref(b));
            read_all(&mut reader, &mut items).unwrap();
        }
        assert_eq!(items, expected_items(&tags));
        assert_eq!(reader.finish(), Ok(()));
    }

    #[test]
    fn every_truncation_is_a_state_then_a_finish_error() {
        let (file, tags) = sample_file();
        // Offsets where a complete item (or the whole file) ends; a cut there is clean.
        // A header without PreviousTagSize0 is accepted like a missing final PreviousTagSize.
        let mut boundaries = vec![0usize, FILE_HEADER_SIZE, FILE_HEADER_SIZE + 4];
        let mut pos = FILE_HEADER_SIZE + 4;
        for tag in &tags {
            pos += TAG_HEADER_SIZE + tag.data.len();
            boundaries.push(pos); // without the trailing PreviousTagSize
            pos += 4;
            boundaries.push(pos);
        }
        for cut in 0..file.len() {
            let mut reader = FlvReader::new();
            reader.push(&file[..cut]);
            let mut items = Vec::new();
            read_all(&mut reader, &mut items).unwrap();
            let finish = reader.finish();
            if cut != 0 && boundaries.contains(&cut) {
                assert_eq!(finish, Ok(()), "cut at {cut}");
            } else {
                assert!(
                    matches!(finish, Err(FlvError::Truncated { .. })),
                    "cut at {cut}: {finish:?}"
                );
            }
        }
        let mut reader = FlvReader::new();
        reader.push(&file[..FILE_HEADER_SIZE + 4 + 5]);
        reader.next_item().unwrap();
        assert!(reader.next_item().unwrap().is_none());
        assert_eq!(
            reader.finish(),
            Err(FlvError::Truncated {
                what: "tag header",
                offset: 13,
                have: 5,
                need: 11
            })
        );
    }

    #[test]
    fn absurd_tag_size_names_the_offset_and_sticks() {
        let mut file = Vec::new();
        write_file_header(false, true, &mut file);
        write_tag(TagKind::Video, 0, &[0x17, 1, 0, 0, 0], &mut file).unwrap();
        let bad_at = file.len() as u64;
        file.extend_from_slice(&[9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0]);
        let mut reader = FlvReader::with_max_tag_size(1 << 20);
        reader.push(&file);
        assert!(matches!(reader.next_item(), Ok(Some(FlvItem::Header(_)))));
        assert!(matches!(reader.next_item(), Ok(Some(FlvItem::Tag(_)))));
        let err = FlvError::TagTooLarge {
            offset: bad_at,
            size: 0xff_ffff,
            max: 1 << 20,
        };
        assert_eq!(reader.next_item(), Err(err.clone()));
        reader.push(&[0; 100]);
        assert_eq!(reader.next_item(), Err(err.clone()));
        assert_eq!(reader.finish(), Err(err.clone()));
        assert_eq!(reader.buffered(), 0);
        assert!(err.to_string().contains(&format!("byte {bad_at}")), "{err}");
    }

    #[test]
    fn bad_headers() {
        let mut reader = FlvReader::new();
        reader.push(b"GIF89a\x01\x02\x03\x04");
        assert_eq!(
            reader.next_item(),
            Err(FlvError::BadSignature { found: *b"GIF" })
        );

        let mut reader = FlvReader::new();
        reader.push(&[b'F', b'L', b'V', 1, 5, 0, 0, 0, 3]);
        assert!(matches!(
            reader.next_item(),
            Err(FlvError::BadHeaderSize { size: 3, .. })
        ));

        let mut reader = FlvReader::with_max_tag_size(1000);
        reader.push(&[b'F', b'L', b'V', 1, 5, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            reader.next_item(),
            Err(FlvError::BadHeaderSize { size: u32::MAX, .. })
        ));
    }

    #[test]
    fn header_padding_is_skipped_even_byte_by_byte() {
        let mut file = vec![
            b'F', b'L', b'V', 1, 4, 0, 0, 0, 12, 0xaa, 0xbb, 0xcc, 0, 0, 0, 0,
        ];
        write_tag(TagKind::Audio, 5, &[0xaf, 1, 7], &mut file).unwrap();
        let mut reader = FlvReader::new();
        let mut items = Vec::new();
        for b in &file {
            reader.push(std::slice::from_ref(b));
            read_all(&mut reader, &mut items).unwrap();
        }
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0],
            FlvItem::Header(FlvHeader {
                has_audio: true,
                has_video: false
            })
        );
        let FlvItem::Tag(tag) = &items[1] else {
            panic!("expected a tag")
        };
        assert_eq!((tag.kind, tag.timestamp), (TagKind::Audio, 5));
        assert_eq!(&tag.data[..], &[0xaf, 1, 7]);
    }

    #[test]
    fn prev_tag_size_mismatch_is_tolerated() {
        let (mut file, tags) = sample_file();
        // Corrupt PreviousTagSize0 and the one after the first tag.
        file[FILE_HEADER_SIZE] = 0x55;
        let after_first = FILE_HEADER_SIZE + 4 + TAG_HEADER_SIZE + tags[0].data.len();
        file[after_first + 3] ^= 0xff;
        let mut reader = FlvReader::new();
        reader.push(&file);
        let mut items = Vec::new();
        read_all(&mut reader, &mut items).unwrap();
        assert_eq!(items, expected_items(&tags));
        assert_eq!(reader.prev_tag_size_mismatches(), 2);
    }

    #[test]
    fn writer_limits_and_layout() {
        let mut out = Vec::new();
        write_file_header(true, false, &mut out);
        assert_eq!(out, b"FLV\x01\x04\0\0\0\x09\0\0\0\0");
        out.clear();
        write_tag(TagKind::Video, 0x8000_0001, &[1, 2], &mut out).unwrap();
        assert_eq!(out, [9, 0, 0, 2, 0, 0, 1, 0x80, 0, 0, 0, 1, 2, 0, 0, 0, 13]);
        let big = vec![0u8; MAX_WRITABLE_TAG_SIZE + 1];
        assert_eq!(
            write_tag(TagKind::Video, 0, &big, &mut out),
            Err(FlvError::DataTooLarge { size: big.len() })
        );
    }

    #[test]
    fn tag_kinds() {
        for b in 0..=255u8 {
            assert_eq!(TagKind::from_byte(b).to_byte(), b);
        }
        assert_eq!(TagKind::from_byte(0x28), TagKind::Other(0x28)); // filtered audio
    }
}
