//! Deterministic fuzz loops: random and mutated input must never panic, errors must be
//! sticky where documented, and every remuxer output must be a well-formed box tree.
//! `RTMPWS_FUZZ_SCALE=<n>` multiplies the iteration counts for longer runs.

mod common;

use rtmpws_media::aac::AudioSpecificConfig;
use rtmpws_media::avc::{parse_sps, AvcDecoderConfig};
use rtmpws_media::flv::{self, FlvItem, FlvReader, TagKind};
use rtmpws_media::{RemuxConfig, RemuxOutput, Remuxer};

/// xorshift64: tiny, deterministic, good enough to explore parsers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Flips bits, overwrites bytes, truncates or extends a valid input.
    fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..=self.below(4) {
            match self.below(5) {
                0 | 1 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] ^= 1 << self.below(8);
                }
                2 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] = self.next() as u8;
                }
                3 => {
                    let keep = self.below(out.len() + 1);
                    out.truncate(keep);
                }
                _ => {
                    let extra = self.below(8);
                    let more = self.bytes(extra);
                    let at = self.below(out.len() + 1);
                    out.splice(at..at, more);
                }
            }
        }
        out
    }
}

fn scale() -> usize {
    std::env::var("RTMPWS_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn record() -> Vec<u8> {
    hex("0164001effe1001a6764001eacd940a02ff970110000030001000003003c0f162d9601000668ebe3cb22c0fdf8f800")
}

const ASC: [u8; 5] = [0x12, 0x08, 0x56, 0xe5, 0x00];

fn valid_flv() -> Vec<u8> {
    let mut file = Vec::new();
    flv::write_file_header(true, true, &mut file);
    let mut seq = vec![0x17, 0, 0, 0, 0];
    seq.extend_from_slice(&record());
    flv::write_tag(TagKind::Video, 0, &seq, &mut file).unwrap();
    flv::write_tag(TagKind::Audio, 0, &[0xaf, 0, 0x12, 0x08], &mut file).unwrap();
    for i in 0..6u32 {
        flv::write_tag(
            TagKind::Video,
            i * 33,
            &[0x27, 1, 0, 0, 0x21, 0, 0, 0, 2, 0x41, 0x9a],
            &mut file,
        )
        .unwrap();
        flv::write_tag(TagKind::Audio, i * 23, &[0xaf, 1, 0x21, 0x10, 4], &mut file).unwrap();
    }
    flv::write_tag(TagKind::Script, 0x0100_0000, b"\x02\0\x04test", &mut file).unwrap();
    file
}

fn drive_reader(rng: &mut Rng, input: &[u8]) {
    let max = if rng.chance(3) {
        64
    } else {
        flv::DEFAULT_MAX_TAG_SIZE
    };
    let mut reader = FlvReader::with_max_tag_size(max);
    let mut pos = 0;
    let mut failed = None;
    while pos < input.len() && failed.is_none() {
        let n = 1 + rng.below(40);
        let end = (pos + n).min(input.len());
        reader.push(&input[pos..end]);
        pos = end;
        loop {
            match reader.next_item() {
                Ok(Some(FlvItem::Tag(tag))) => assert!(tag.data.len() <= max as usize),
                Ok(Some(FlvItem::Header(_))) => {}
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
    }
    if let Some(e) = failed {
        assert_eq!(reader.next_item(), Err(e.clone()), "errors are sticky");
        assert_eq!(reader.finish(), Err(e));
    } else {
        let _ = reader.finish();
    }
    assert!(reader.offset() <= input.len() as u64);
}

#[test]
fn flv_reader_random_and_mutated() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let valid = valid_flv();
    for _ in 0..3000 * scale() {
        let input = match rng.below(3) {
            0 => {
                let len = rng.below(200);
                rng.bytes(len)
            }
            1 => {
                let len = rng.below(200);
                let mut v = b"FLV\x01\x05\0\0\0\x09\0\0\0\0".to_vec();
                v.extend(rng.bytes(len));
                v
            }
            _ => rng.mutate(&valid),
        };
        drive_reader(&mut rng, &input);
    }
}

#[test]
fn tag_classifiers_exhaustive_short_bodies() {
    for a in 0..=255u8 {
        let _ = flv::parse_video_tag(&[a]);
        let _ = flv::parse_audio_tag(&[a]);
        for b in 0..=255u8 {
            let _ = flv::parse_video_tag(&[a, b]);
            let _ = flv::parse_audio_tag(&[a, b]);
            let _ = flv::parse_video_tag(&[a, b, 0xff, 0x80]);
        }
    }
}

#[test]
fn aac_config_exhaustive_and_random() {
    for a in 0..=255u8 {
        for b in 0..=255u8 {
            if let Ok(asc) = AudioSpecificConfig::parse(&[a, b]) {
                assert!(asc.sample_rate > 0);
                assert!(asc.object_type > 0);
                assert!(asc.codec_string().starts_with("mp4a.40."));
                assert!(asc.channel_count() > 0);
            }
        }
    }
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..20_000 * scale() {
        let input = if rng.chance(2) {
            let len = rng.below(10);
            rng.bytes(len)
        } else {
            rng.mutate(&ASC)
        };
        if let Ok(asc) = AudioSpecificConfig::parse(&input) {
            assert!(asc.sample_rate > 0 && asc.sample_rate < 1 << 24);
            assert!(asc.frame_length == 1024 || asc.frame_length == 960);
        }
    }
}

#[test]
fn avc_record_and_sps_random_and_mutated() {
    let mut rng = Rng(0x0bad_cafe_dead_beef);
    let valid = record();
    let sps = valid[8..8 + 26].to_vec();
    for _ in 0..20_000 * scale() {
        let record = match rng.below(3) {
            0 => {
                let len = rng.below(64);
                let mut r = rng.bytes(len);
                if let Some(first) = r.first_mut() {
                    *first = 1;
                }
                r
            }
            _ => rng.mutate(&valid),
        };
        if let Ok(cfg) = AvcDecoderConfig::parse(&record) {
            assert!(matches!(cfg.nalu_length_size, 1 | 2 | 4));
            assert_eq!(cfg.codec_string().len(), "avc1.000000".len());
            if let Ok(info) = cfg.first_sps() {
                assert!(info.width > 0 && info.height > 0);
                assert!(info.width <= 32768 && info.height <= 65536);
            }
        }
        let nal = if rng.chance(2) {
            rng.mutate(&sps)
        } else {
            let len = rng.below(40);
            let mut n = rng.bytes(len);
            if let Some(first) = n.first_mut() {
                *first = 0x67;
            }
            n
        };
        if let Ok(info) = parse_sps(&nal) {
            assert!(info.width <= info.coded_width && info.height <= info.coded_height);
            assert!(info.width > 0 && info.height > 0);
        }
    }
}

/// Checks one remuxer output for structural validity.
fn check_output(out: &RemuxOutput) {
    match out {
        RemuxOutput::Init { data, mime, .. } => {
            let top = common::boxes(data);
            assert_eq!(&top[0].0, b"ftyp");
            assert_eq!(&top[1].0, b"moov");
            assert!(mime.contains("codecs=\""));
        }
        RemuxOutput::Media {
            data,
            start_ms,
            end_ms,
            ..
        } => {
            assert!(start_ms <= end_ms && start_ms.is_finite() && *start_ms >= 0.0);
            let (_, trafs) = common::parse_fragment(data);
            assert!(!trafs.is_empty());
            for t in trafs {
                assert!(t.samples.iter().all(|s| s.duration >= 1));
            }
        }
    }
}

fn video_body(rng: &mut Rng, record: &[u8]) -> Vec<u8> {
    match rng.below(8) {
        0 => {
            let mut b = vec![0x17, 0, 0, 0, 0];
            b.extend_from_slice(record);
            if rng.chance(4) {
                b = rng.mutate(&b);
            }
            b
        }
        1 => {
            let len = rng.below(20);
            rng.bytes(len)
        }
        2 => vec![0x17, 2, 0, 0, 0],
        3 => vec![0x12, 0, 1, 2],
        _ => {
            let key = rng.chance(4);
            let cts = (rng.below(200) as i32 - 50).to_be_bytes();
            let nal_len = rng.below(30);
            let mut b = vec![if key { 0x17 } else { 0x27 }, 1, cts[1], cts[2], cts[3]];
            b.extend_from_slice(&(nal_len as u32).to_be_bytes());
            b.extend(rng.bytes(nal_len));
            if rng.chance(6) {
                b = rng.mutate(&b);
            }
            b
        }
    }
}

fn audio_body(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        0 => {
            let mut b = vec![0xaf, 0];
            b.extend_from_slice(if rng.chance(2) { &ASC } else { &[0x11, 0x90] });
            if rng.chance(4) {
                b = rng.mutate(&b);
            }
            b
        }
        1 => {
            let len = rng.below(10);
            rng.bytes(len)
        }
        2 => vec![0x2f, 0xff, 0xfb],
        _ => {
            let len = rng.below(40);
            let mut b = vec![0xaf, 1];
            b.extend(rng.bytes(len));
            b
        }
    }
}

#[test]
fn remuxer_survives_anything() {
    let mut rng = Rng(0xfeed_f00d_1234_5678);
    let records = [record(), {
        let mut r = record();
        r[3] = 0x1f;
        r[11] = 0x1f;
        r
    }];
    let (mut inits, mut media) = (0usize, 0usize);
    for _ in 0..60 * scale() {
        let config = RemuxConfig {
            track_wait_ms: rng.below(2000) as u32,
            expected_track_wait_ms: rng.below(6000) as u32,
            gap_threshold_ms: 1 + rng.below(2000) as u32,
            max_queued_bytes: 200 + rng.below(5000),
        };
        let mut r = Remuxer::new(config);
        if rng.chance(2) {
            r.expect_tracks(rng.chance(2), rng.chance(2));
        }
        let mut ts: u32 = if rng.chance(5) { u32::MAX - 500 } else { 0 };
        for _ in 0..400 {
            ts = match rng.below(20) {
                0 => ts.wrapping_sub(rng.below(3000) as u32),
                1 => ts.wrapping_add(rng.below(10_000) as u32),
                2 => rng.next() as u32,
                _ => ts.wrapping_add(rng.below(40) as u32),
            };
            match rng.below(12) {
                0..=4 => {
                    let rec = &records[rng.below(2)];
                    let body = video_body(&mut rng, rec);
                    let _ = r.push_video(ts, &body);
                }
                5..=8 => {
                    let body = audio_body(&mut rng);
                    let _ = r.push_audio(ts, &body);
                }
                9 => r.flush(rng.chance(3)),
                10 if rng.chance(10) => r.reset(),
                10 => r.expect_tracks(rng.chance(2), rng.chance(2)),
                _ => {}
            }
            while let Some(out) = r.poll_output() {
                check_output(&out);
                match out {
                    RemuxOutput::Init { .. } => inits += 1,
                    RemuxOutput::Media { .. } => media += 1,
                }
            }
        }
        r.flush(true);
        while let Some(out) = r.poll_output() {
            check_output(&out);
            media += usize::from(matches!(out, RemuxOutput::Media { .. }));
        }
    }
    eprintln!("remuxer fuzz: {inits} init and {media} media segments checked");
    // The loop must reach the output paths, not just the error paths.
    assert!(
        inits > 20 * scale() && media > 500 * scale(),
        "{inits} {media}"
    );
}
