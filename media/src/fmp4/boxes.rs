//! ISO BMFF box writing for the init segment and media fragments.
//!
//! Boxes are written straight into one `Vec` whose capacity is computed up front; each box's
//! size field is written as zero and patched when the box closes, so there are no
//! nested temporary buffers and no size bookkeeping that could drift from what was written.

pub(crate) const VIDEO_TRACK_ID: u32 = 1;
pub(crate) const AUDIO_TRACK_ID: u32 = 2;
/// FLV timestamps and composition offsets are whole milliseconds, so a 1 kHz video timescale
/// represents them exactly.
pub(crate) const VIDEO_TIMESCALE: u32 = 1000;
const MOVIE_TIMESCALE: u32 = 1000;

/// sample_depends_on = 2 (an I-frame / independent sample).
pub(crate) const FLAGS_SYNC: u32 = 0x0200_0000;
/// sample_depends_on = 1, sample_is_non_sync_sample = 1.
pub(crate) const FLAGS_NON_SYNC: u32 = 0x0101_0000;

const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

fn begin(out: &mut Vec<u8>, kind: &[u8; 4]) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(kind);
    start
}

fn begin_full(out: &mut Vec<u8>, kind: &[u8; 4], version: u8, flags: u32) -> usize {
    let start = begin(out, kind);
    out.extend_from_slice(&((u32::from(version) << 24) | (flags & 0x00ff_ffff)).to_be_bytes());
    start
}

fn end(out: &mut [u8], start: usize) {
    let size = u32::try_from(out.len().saturating_sub(start)).unwrap_or(u32::MAX);
    patch_u32(out, start, size);
}

fn patch_u32(out: &mut [u8], at: usize, value: u32) {
    if let Some(field) = out.get_mut(at..at.saturating_add(4)) {
        field.copy_from_slice(&value.to_be_bytes());
    }
}

fn u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn zeros(out: &mut Vec<u8>, n: usize) {
    out.resize(out.len() + n, 0);
}

/// What the init segment needs to describe the video track.
pub(crate) struct VideoInit<'a> {
    /// Sample entry type: `avc1`, `hvc1`, `av01` or `vp09`.
    pub entry: [u8; 4],
    /// The configuration box inside it (`avcC`, `hvcC`, `av1C`, `vpcC`) and its payload,
    /// written verbatim.
    pub config_box: [u8; 4],
    pub config: &'a [u8],
    pub width: u32,
    pub height: u32,
}

/// The audio sample entry and its configuration.
pub(crate) enum AudioEntry<'a> {
    /// `mp4a` with the AudioSpecificConfig in the esds DecoderSpecificInfo.
    Mp4a { asc: &'a [u8] },
    /// `Opus` with this `dOps` payload.
    Opus { dops: &'a [u8] },
    /// `fLaC` with this `dfLa` payload (full-box header included).
    Flac { dfla: &'a [u8] },
}

impl AudioEntry<'_> {
    fn config_len(&self) -> usize {
        match self {
            AudioEntry::Mp4a { asc } => asc.len(),
            AudioEntry::Opus { dops } => dops.len(),
            AudioEntry::Flac { dfla } => dfla.len(),
        }
    }
}

/// What the init segment needs to describe the audio track.
pub(crate) struct AudioInit<'a> {
    pub entry: AudioEntry<'a>,
    /// The track's timescale (48000 for Opus).
    pub sample_rate: u32,
    pub channels: u16,
    pub sample_size: u16,
}

/// ftyp + moov for the given tracks (at least one should be present).
pub(crate) fn write_init(video: Option<&VideoInit<'_>>, audio: Option<&AudioInit<'_>>) -> Vec<u8> {
    // Fixed box overhead is well under 1 KiB per track; the codec configs are the variable part.
    let capacity = 1024
        + video.map_or(0, |v| 1024 + v.config.len())
        + audio.map_or(0, |a| 1024 + a.entry.config_len());
    let mut out = Vec::with_capacity(capacity);

    let ftyp = begin(&mut out, b"ftyp");
    out.extend_from_slice(b"isom");
    u32(&mut out, 0x200);
    out.extend_from_slice(b"isomiso6");
    if let Some(v) = video.filter(|v| matches!(&v.entry, b"avc1" | b"av01")) {
        out.extend_from_slice(&v.entry);
    }
    out.extend_from_slice(b"mp41");
    end(&mut out, ftyp);

    let moov = begin(&mut out, b"moov");
    write_mvhd(&mut out);
    if let Some(v) = video {
        write_trak(&mut out, TrackInit::Video(v));
    }
    if let Some(a) = audio {
        write_trak(&mut out, TrackInit::Audio(a));
    }
    let mvex = begin(&mut out, b"mvex");
    for (present, track_id) in [
        (video.is_some(), VIDEO_TRACK_ID),
        (audio.is_some(), AUDIO_TRACK_ID),
    ] {
        if present {
            let trex = begin_full(&mut out, b"trex", 0, 0);
            u32(&mut out, track_id);
            u32(&mut out, 1); // default_sample_description_index
            u32(&mut out, 0); // default_sample_duration
            u32(&mut out, 0); // default_sample_size
            u32(&mut out, FLAGS_SYNC); // audio relies on this; video sets flags per sample
            end(&mut out, trex);
        }
    }
    end(&mut out, mvex);
    end(&mut out, moov);
    out
}

fn write_mvhd(out: &mut Vec<u8>) {
    let mvhd = begin_full(out, b"mvhd", 0, 0);
    u32(out, 0); // creation_time
    u32(out, 0); // modification_time
    u32(out, MOVIE_TIMESCALE);
    u32(out, 0); // duration: unknown, fragments carry it
    u32(out, 0x0001_0000); // rate 1.0
    u16(out, 0x0100); // volume 1.0
    zeros(out, 10);
    for m in UNITY_MATRIX {
        u32(out, m);
    }
    zeros(out, 24); // pre_defined
    u32(out, AUDIO_TRACK_ID + 1); // next_track_ID
    end(out, mvhd);
}

enum TrackInit<'a> {
    Video(&'a VideoInit<'a>),
    Audio(&'a AudioInit<'a>),
}

fn write_trak(out: &mut Vec<u8>, track: TrackInit<'_>) {
    let (track_id, timescale) = match &track {
        TrackInit::Video(_) => (VIDEO_TRACK_ID, VIDEO_TIMESCALE),
        TrackInit::Audio(a) => (AUDIO_TRACK_ID, a.sample_rate),
    };
    let trak = begin(out, b"trak");

    let tkhd = begin_full(out, b"tkhd", 0, 0x3); // enabled | in_movie
    u32(out, 0);
    u32(out, 0);
    u32(out, track_id);
    u32(out, 0); // reserved
    u32(out, 0); // duration
    zeros(out, 8);
    u16(out, 0); // layer
    u16(out, 0); // alternate_group
    u16(
        out,
        if matches!(track, TrackInit::Audio(_)) {
            0x0100
        } else {
            0
        },
    );
    u16(out, 0);
    for m in UNITY_MATRIX {
        u32(out, m);
    }
    let (width, height) = match &track {
        TrackInit::Video(v) => (v.width, v.height),
        TrackInit::Audio(_) => (0, 0),
    };
    // 16.16 fixed point; dimensions are bounded well below 65536 by the SPS parser.
    u32(out, width.min(0xffff) << 16);
    u32(out, height.min(0xffff) << 16);
    end(out, tkhd);

    let mdia = begin(out, b"mdia");
    let mdhd = begin_full(out, b"mdhd", 0, 0);
    u32(out, 0);
    u32(out, 0);
    u32(out, timescale);
    u32(out, 0);
    u16(out, 0x55c4); // language "und"
    u16(out, 0);
    end(out, mdhd);

    let hdlr = begin_full(out, b"hdlr", 0, 0);
    u32(out, 0);
    let (handler, name): (&[u8; 4], &[u8]) = match &track {
        TrackInit::Video(_) => (b"vide", b"VideoHandler\0"),
        TrackInit::Audio(_) => (b"soun", b"SoundHandler\0"),
    };
    out.extend_from_slice(handler);
    zeros(out, 12);
    out.extend_from_slice(name);
    end(out, hdlr);

    let minf = begin(out, b"minf");
    match &track {
        TrackInit::Video(_) => {
            let vmhd = begin_full(out, b"vmhd", 0, 1);
            zeros(out, 8); // graphicsmode, opcolor
            end(out, vmhd);
        }
        TrackInit::Audio(_) => {
            let smhd = begin_full(out, b"smhd", 0, 0);
            zeros(out, 4); // balance, reserved
            end(out, smhd);
        }
    }
    let dinf = begin(out, b"dinf");
    let dref = begin_full(out, b"dref", 0, 0);
    u32(out, 1);
    let url = begin_full(out, b"url ", 0, 1); // self-contained
    end(out, url);
    end(out, dref);
    end(out, dinf);

    let stbl = begin(out, b"stbl");
    let stsd = begin_full(out, b"stsd", 0, 0);
    u32(out, 1);
    match &track {
        TrackInit::Video(v) => write_visual_entry(out, v),
        TrackInit::Audio(a) => write_audio_entry(out, a),
    }
    end(out, stsd);
    for kind in [b"stts", b"stsc", b"stco"] {
        let b = begin_full(out, kind, 0, 0);
        u32(out, 0); // entry_count
        end(out, b);
    }
    let stsz = begin_full(out, b"stsz", 0, 0);
    u32(out, 0); // sample_size
    u32(out, 0); // sample_count
    end(out, stsz);
    end(out, stbl);
    end(out, minf);
    end(out, mdia);
    end(out, trak);
}

fn write_visual_entry(out: &mut Vec<u8>, v: &VideoInit<'_>) {
    let entry = begin(out, &v.entry);
    zeros(out, 6);
    u16(out, 1); // data_reference_index
    zeros(out, 16); // pre_defined, reserved
    u16(out, v.width.min(0xffff) as u16);
    u16(out, v.height.min(0xffff) as u16);
    u32(out, 0x0048_0000); // 72 dpi
    u32(out, 0x0048_0000);
    u32(out, 0);
    u16(out, 1); // frame_count
    zeros(out, 32); // compressorname
    u16(out, 0x0018); // depth
    u16(out, 0xffff); // pre_defined = -1
    let config = begin(out, &v.config_box);
    out.extend_from_slice(v.config);
    end(out, config);
    end(out, entry);
}

fn write_audio_entry(out: &mut Vec<u8>, a: &AudioInit<'_>) {
    let kind: &[u8; 4] = match a.entry {
        AudioEntry::Mp4a { .. } => b"mp4a",
        AudioEntry::Opus { .. } => b"Opus",
        AudioEntry::Flac { .. } => b"fLaC",
    };
    let entry = begin(out, kind);
    zeros(out, 6);
    u16(out, 1); // data_reference_index
    zeros(out, 8); // reserved
    u16(out, a.channels);
    u16(out, a.sample_size);
    u32(out, 0); // pre_defined, reserved
                 // 16.16 sample rate; rates that do not fit are left 0, decoders use the codec config.
    u32(
        out,
        if a.sample_rate <= 0xffff {
            a.sample_rate << 16
        } else {
            0
        },
    );
    match a.entry {
        AudioEntry::Mp4a { asc } => write_esds(out, asc),
        AudioEntry::Opus { dops } => {
            let b = begin(out, b"dOps");
            out.extend_from_slice(dops);
            end(out, b);
        }
        AudioEntry::Flac { dfla } => {
            let b = begin(out, b"dfLa");
            out.extend_from_slice(dfla);
            end(out, b);
        }
    }
    end(out, entry);
}

fn write_esds(out: &mut Vec<u8>, asc: &[u8]) {
    let esds = begin_full(out, b"esds", 0, 0);
    let asc_len = asc.len();
    // DecoderSpecificInfo, DecoderConfigDescriptor, SLConfigDescriptor, ES_Descriptor bodies.
    let dsi_len = asc_len;
    let dcd_len = 13 + descriptor_header_len(dsi_len) + dsi_len;
    let sl_len = 1;
    let es_len =
        3 + descriptor_header_len(dcd_len) + dcd_len + descriptor_header_len(sl_len) + sl_len;
    descriptor_header(out, 0x03, es_len);
    u16(out, 0); // ES_ID
    out.push(0); // no dependency, URL or OCR stream
    descriptor_header(out, 0x04, dcd_len);
    out.push(0x40); // objectTypeIndication: MPEG-4 Audio
    out.push(0x15); // streamType audio (5) << 2 | reserved 1
    out.extend_from_slice(&[0, 0, 0]); // bufferSizeDB
    u32(out, 0); // maxBitrate
    u32(out, 0); // avgBitrate
    descriptor_header(out, 0x05, dsi_len);
    out.extend_from_slice(asc);
    descriptor_header(out, 0x06, sl_len);
    out.push(0x02); // predefined: MP4
    end(out, esds);
}

/// MPEG-4 descriptors use a 7-bits-per-byte length; short lengths use the one-byte form
/// because some decoders mishandle the padded four-byte form in small configs.
fn descriptor_header_len(len: usize) -> usize {
    match len {
        0..=0x7f => 2,
        0x80..=0x3fff => 3,
        0x4000..=0x1f_ffff => 4,
        _ => 5,
    }
}

fn descriptor_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    let len = len.min(0x0fff_ffff);
    let n = descriptor_header_len(len) - 1;
    for i in (0..n).rev() {
        let byte = ((len >> (7 * i)) & 0x7f) as u8;
        out.push(if i > 0 { byte | 0x80 } else { byte });
    }
}

/// One sample of a fragment run, in track timescale units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RunSample {
    pub duration: u32,
    pub size: u32,
    pub sync: bool,
    pub composition_offset: i32,
}

/// One track's part of a fragment: its samples, whose `data_len` payload bytes the caller
/// appends after the mdat header, contiguous in decode order.
pub(crate) struct TrackRun<'a> {
    pub track_id: u32,
    pub is_video: bool,
    pub base_decode_time: u64,
    pub samples: &'a [RunSample],
    pub data_len: usize,
}

const MFHD_SIZE: usize = 16;
const TFHD_SIZE: usize = 16;
const TFHD_AUDIO_SIZE: usize = 20;
const TFDT_SIZE: usize = 20;
const TRUN_HEADER_SIZE: usize = 20;

fn traf_size(run: &TrackRun<'_>) -> usize {
    let (tfhd, per_sample) = if run.is_video {
        (TFHD_SIZE, 16)
    } else {
        (TFHD_AUDIO_SIZE, 8)
    };
    8 + tfhd + TFDT_SIZE + TRUN_HEADER_SIZE + per_sample * run.samples.len()
}

/// moof + the mdat header for the given runs (empty runs are skipped), in an allocation
/// sized exactly for the payloads the caller appends next: each present run's `data_len`
/// bytes, in order.
pub(crate) fn write_fragment(sequence: u32, runs: &[TrackRun<'_>]) -> Vec<u8> {
    let runs_present = || runs.iter().filter(|r| !r.samples.is_empty());
    let moof_size = 8 + MFHD_SIZE + runs_present().map(traf_size).sum::<usize>();
    let data_size: usize = runs_present().map(|r| r.data_len).sum();
    let mut out = Vec::with_capacity(moof_size + 8 + data_size);

    let moof = begin(&mut out, b"moof");
    let mfhd = begin_full(&mut out, b"mfhd", 0, 0);
    u32(&mut out, sequence);
    end(&mut out, mfhd);

    // (position of the trun data_offset field, offset of the run's data within mdat's payload)
    let mut data_offset_fields = [(0usize, 0usize); 2];
    let mut data_in_mdat = 0usize;
    for (slot, run) in runs_present().enumerate() {
        let traf = begin(&mut out, b"traf");
        if run.is_video {
            let tfhd = begin_full(&mut out, b"tfhd", 0, 0x02_0000); // default-base-is-moof
            u32(&mut out, run.track_id);
            end(&mut out, tfhd);
        } else {
            // default-base-is-moof | default-sample-flags-present: every AAC frame is sync.
            let tfhd = begin_full(&mut out, b"tfhd", 0, 0x02_0020);
            u32(&mut out, run.track_id);
            u32(&mut out, FLAGS_SYNC);
            end(&mut out, tfhd);
        }
        let tfdt = begin_full(&mut out, b"tfdt", 1, 0);
        u64(&mut out, run.base_decode_time);
        end(&mut out, tfdt);

        // data-offset | sample-duration | sample-size [| sample-flags | composition offsets]
        let (version, flags) = if run.is_video {
            (1, 0x0f01)
        } else {
            (0, 0x0301)
        };
        let trun = begin_full(&mut out, b"trun", version, flags);
        u32(
            &mut out,
            u32::try_from(run.samples.len()).unwrap_or(u32::MAX),
        );
        if let Some(field) = data_offset_fields.get_mut(slot) {
            *field = (out.len(), data_in_mdat);
        }
        u32(&mut out, 0); // data_offset, patched once the moof size is known
        for s in run.samples {
            u32(&mut out, s.duration);
            u32(&mut out, s.size);
            if run.is_video {
                u32(&mut out, if s.sync { FLAGS_SYNC } else { FLAGS_NON_SYNC });
                out.extend_from_slice(&s.composition_offset.to_be_bytes());
            }
        }
        end(&mut out, trun);
        end(&mut out, traf);
        data_in_mdat += run.data_len;
    }
    end(&mut out, moof);

    let moof_len = out.len() - moof;
    for (field, offset) in data_offset_fields.iter().take(runs_present().count()) {
        let value = u32::try_from(moof_len + 8 + offset).unwrap_or(u32::MAX);
        patch_u32(&mut out, *field, value);
    }

    u32(&mut out, u32::try_from(8 + data_size).unwrap_or(u32::MAX));
    out.extend_from_slice(b"mdat");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks a box tree and returns (path, size) pairs, checking every size nests exactly.
    pub(crate) fn walk(data: &[u8], prefix: &str, out: &mut Vec<(String, usize)>) {
        const CONTAINERS: [&[u8; 4]; 10] = [
            b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl", b"mvex", b"moof", b"traf",
            b"edts",
        ];
        let mut pos = 0;
        while pos < data.len() {
            let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
            assert!(
                size >= 8 && pos + size <= data.len(),
                "bad size at {prefix}"
            );
            let name = format!("{prefix}/{}", String::from_utf8_lossy(&kind));
            out.push((name.clone(), size));
            if CONTAINERS.contains(&&kind) {
                walk(&data[pos + 8..pos + size], &name, out);
            }
            pos += size;
        }
        assert_eq!(pos, data.len(), "trailing bytes in {prefix}");
    }

    #[test]
    fn init_segment_structure() {
        let avcc = [1u8, 0x64, 0, 0x1e, 0xff, 0xe0, 0];
        let init = write_init(
            Some(&VideoInit {
                entry: *b"avc1",
                config_box: *b"avcC",
                config: &avcc,
                width: 640,
                height: 360,
            }),
            Some(&AudioInit {
                entry: AudioEntry::Mp4a { asc: &[0x12, 0x10] },
                sample_rate: 44100,
                channels: 2,
                sample_size: 16,
            }),
        );
        let mut boxes = Vec::new();
        walk(&init, "", &mut boxes);
        let names: Vec<&str> = boxes.iter().map(|(n, _)| n.as_str()).collect();
        for expected in [
            "/ftyp",
            "/moov/mvhd",
            "/moov/trak/tkhd",
            "/moov/trak/mdia/minf/vmhd",
            "/moov/trak/mdia/minf/smhd",
            "/moov/trak/mdia/minf/stbl/stsd",
            "/moov/mvex/trex",
        ] {
            assert!(names.contains(&expected), "missing {expected} in {names:?}");
        }
        assert!(init.len() <= init.capacity());
        assert!(init.windows(4).any(|w| w == b"avcC"));
        assert!(init.windows(4).any(|w| w == b"esds"));
    }

    #[test]
    fn descriptor_lengths() {
        for len in [0usize, 1, 127, 128, 300, 0x3fff, 0x4000] {
            let mut out = Vec::new();
            descriptor_header(&mut out, 5, len);
            assert_eq!(out.len(), descriptor_header_len(len));
            let mut value = 0usize;
            for b in &out[1..] {
                value = (value << 7) | usize::from(b & 0x7f);
            }
            assert_eq!(value, len);
        }
    }

    #[test]
    fn fragment_is_exactly_sized_and_offsets_point_into_mdat() {
        let video = [
            RunSample {
                duration: 33,
                size: 3,
                sync: true,
                composition_offset: 66,
            },
            RunSample {
                duration: 33,
                size: 2,
                sync: false,
                composition_offset: -33,
            },
        ];
        let audio = [RunSample {
            duration: 1024,
            size: 4,
            sync: true,
            composition_offset: 0,
        }];
        let mut frag = write_fragment(
            7,
            &[
                TrackRun {
                    track_id: 1,
                    is_video: true,
                    base_decode_time: 1000,
                    samples: &video,
                    data_len: 5,
                },
                TrackRun {
                    track_id: 2,
                    is_video: false,
                    base_decode_time: 44100,
                    samples: &audio,
                    data_len: 4,
                },
            ],
        );
        frag.extend_from_slice(&[1, 1, 1, 2, 2, 9, 9, 9, 9]);
        assert_eq!(frag.len(), frag.capacity());
        let mut boxes = Vec::new();
        walk(&frag, "", &mut boxes);
        assert_eq!(boxes.last().unwrap().0, "/mdat");
        let trun_offsets: Vec<usize> = frag
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == b"trun")
            .map(|(i, _)| u32::from_be_bytes(frag[i + 12..i + 16].try_into().unwrap()) as usize)
            .collect();
        assert_eq!(trun_offsets.len(), 2);
        assert_eq!(
            &frag[trun_offsets[0]..trun_offsets[0] + 5],
            &[1, 1, 1, 2, 2]
        );
        assert_eq!(&frag[trun_offsets[1]..trun_offsets[1] + 4], &[9, 9, 9, 9]);
    }
}
