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
            ..RemuxConfig::default()
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

/// Enhanced tag headers: random bytes behind every first byte, and mutations of real
/// multitrack and ModEx headers. Whatever parses must describe ranges inside the body.
#[test]
fn enhanced_tag_headers_random_and_mutated() {
    use rtmpws_media::tag::{parse_audio_tag, parse_video_tag};
    let mut rng = Rng(0x5151_a0a0_7777_0101);
    let seeds: [&[u8]; 6] = [
        &[
            0x96, 0x13, b'a', b'v', b'0', b'1', 0, 0, 0, 2, 1, 2, 5, 0, 0, 1, 3,
        ],
        &[
            0x96, 0x21, b'h', b'v', b'c', b'1', 0, 0, 0, 4, 0, 0, 1, 9, b'v', b'p', b'0', b'9', 1,
            0, 0, 1, 8,
        ],
        &[
            0x97, 2, 0x0f, 0x42, 0x3f, 0x01, b'h', b'v', b'c', b'1', 0, 0, 5, 1,
        ],
        &[
            0x95, 0x11, b'O', b'p', b'u', b's', 0, 0, 0, 1, 0xf8, 1, 0, 0, 2, 0xf8, 0xf9,
        ],
        &[
            0x97, 0xff, 0x00, 0x01, 0, 0, 0, 0x01, b'f', b'L', b'a', b'C', 0xff, 0xf8,
        ],
        &[0xd1, 1],
    ];
    for _ in 0..50_000 * scale() {
        let body = if rng.chance(3) {
            let len = rng.below(40);
            let mut b = rng.bytes(len);
            if let Some(first) = b.first_mut() {
                *first |= 0x80;
            }
            b
        } else {
            let seed = seeds[rng.below(seeds.len())];
            rng.mutate(seed)
        };
        if let Ok(info) = parse_video_tag(&body) {
            assert!(info.payload_offset <= info.payload_end && info.payload_end <= body.len());
            let mut tracks = 0;
            for t in info.tracks(&body) {
                assert!(t.payload_offset <= t.payload_end && t.payload_end <= body.len());
                tracks += 1;
                assert!(tracks <= body.len(), "every track takes at least one byte");
            }
            assert!(info.is_command() || tracks >= 1);
            assert!(!(info.is_keyframe() && (info.is_sequence_header() || info.is_command())));
            let _ = rtmpws_media::tag::video_track_as_message(&body, info.track_id);
        }
        if let Ok(info) = parse_audio_tag(&body) {
            assert!(info.payload_offset <= info.payload_end && info.payload_end <= body.len());
            for t in info.tracks(&body) {
                assert!(t.payload_offset <= t.payload_end && t.payload_end <= body.len());
            }
            let _ = rtmpws_media::tag::audio_track_as_message(&body, info.track_id);
        }
    }
}

/// The configuration parsers of the enhanced codecs, on random and mutated input.
#[test]
fn enhanced_config_records_random_and_mutated() {
    use rtmpws_media::{av1, flac, hevc, opus, vp9};
    let mut rng = Rng(0xabcd_ef01_2345_6789);
    let hvcc = hex(concat!(
        "0101600000009000000000003cf000fcfdf8f800000f03200001001840010c01ffff016000000300900000",
        "03000003003c959409210001002a42010101600000030090000003000003003ca00a080f16595952930b",
        "c05a02000003000200000300321022000100064401c073c189"
    ));
    let av1c = hex("81000c000a0b0200000521e7fde017c002");
    let vpcc = hex("010000000014820202020000");
    let head =
        b"OpusHead\x01\x06\x38\x01\x80\xbb\x00\x00\x00\x00\x01\x04\x02\x00\x04\x01\x02\x03\x05"
            .to_vec();
    let mut streaminfo = b"fLaC\x80\x00\x00\x22".to_vec();
    streaminfo.extend(hex(
        "100010000000000000000ac440f00001588800000000000000000000000000000000",
    ));
    for _ in 0..20_000 * scale() {
        let pick = |rng: &mut Rng, valid: &[u8]| {
            if rng.chance(4) {
                let len = rng.below(64);
                rng.bytes(len)
            } else {
                rng.mutate(valid)
            }
        };
        if let Ok(c) = hevc::HevcDecoderConfig::parse(&pick(&mut rng, &hvcc)) {
            assert!(c.codec_string().starts_with("hvc1."));
            if let Ok(sps) = c.first_sps() {
                assert!(sps.width <= 16384 && sps.height <= 16384);
            }
        }
        if let Ok(c) = av1::Av1Config::parse(&pick(&mut rng, &av1c)) {
            assert!(c.codec_string().starts_with("av01."));
            assert!(matches!(c.bit_depth, 8 | 10 | 12));
        }
        let frame = pick(&mut rng, &av1c[4..]);
        assert!(av1::temporal_delimiter_len(&frame) <= frame.len());
        let _ = av1::sequence_header_size(&frame);
        if let Ok(c) = vp9::Vp9Config::parse(&pick(&mut rng, &vpcc)) {
            assert_eq!(c.vpcc.len(), 12);
        }
        let _ = vp9::keyframe_size(&pick(
            &mut rng,
            &[0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf6],
        ));
        if let Ok(c) = opus::OpusConfig::parse(&pick(&mut rng, &head)) {
            assert!(c.channels > 0);
            assert_eq!(opus::OpusConfig::parse(&c.to_dops()), Ok(c));
        }
        if let Some(d) = opus::packet_duration(&pick(&mut rng, &[0xf8, 0x01])) {
            assert!((120..=5760).contains(&d));
        }
        if let Ok(c) = flac::FlacStreamInfo::parse(&pick(&mut rng, &streaminfo)) {
            assert!(c.sample_rate > 0 && c.channels >= 1 && c.channels <= 8);
            assert_eq!(c.to_dfla().len(), 42);
        }
        if let Some(n) =
            flac::frame_block_size(&pick(&mut rng, &[0xff, 0xf8, 0x79, 0x08, 0xc2, 0x80, 1, 0]))
        {
            assert!((1..=65536).contains(&n));
        }
    }
}

/// The remuxer fed enhanced streams with hostile bodies mixed in: no panic, and every output
/// stays a well-formed box tree.
#[test]
fn remuxer_survives_enhanced_input() {
    let mut rng = Rng(0x0e0e_1212_3434_5656);
    let av1c = hex("81000c000a0b0200000521e7fde017c002");
    let vpcc = hex("010000000014820202020000");
    let video_seeds: Vec<Vec<u8>> = vec![
        [&[0x90, b'a', b'v', b'0', b'1'][..], &av1c].concat(),
        [&[0x90, b'v', b'p', b'0', b'9'][..], &vpcc].concat(),
        vec![
            0x91, b'a', b'v', b'0', b'1', 0x12, 0x00, 0x32, 0x02, 0x10, 0x00,
        ],
        vec![
            0x91, b'v', b'p', b'0', b'9', 0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf6, 0,
        ],
        vec![0xa1, b'v', b'p', b'0', b'9', 0x86, 0x00, 0x40],
        vec![
            0x96, 0x13, b'a', b'v', b'0', b'1', 0, 0, 0, 2, 0x12, 0, 1, 0, 0, 1, 3,
        ],
    ];
    let audio_seeds: Vec<Vec<u8>> = vec![
        b"\x90OpusOpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00".to_vec(),
        vec![0x91, b'O', b'p', b'u', b's', 0xf8, 0xff, 0xfe],
        vec![0x91, b'O', b'p', b'u', b's', 0xfb, 0x83, 1, 2],
        vec![0x94, b'O', b'p', b'u', b's', 1, 2, 0, 0, 0, 3],
    ];
    let (mut inits, mut media) = (0usize, 0usize);
    for _ in 0..60 * scale() {
        let mut r = Remuxer::new(RemuxConfig::default());
        let mut ts = 0u32;
        for _ in 0..300 {
            ts = ts.wrapping_add(rng.below(40) as u32);
            if rng.chance(2) {
                let seed = &video_seeds[rng.below(video_seeds.len())];
                let body = if rng.chance(5) {
                    rng.mutate(seed)
                } else {
                    seed.clone()
                };
                let _ = r.push_video(ts, &body);
            } else {
                let seed = &audio_seeds[rng.below(audio_seeds.len())];
                let body = if rng.chance(5) {
                    rng.mutate(seed)
                } else {
                    seed.clone()
                };
                let _ = r.push_audio(ts, &body);
            }
            if rng.chance(10) {
                r.flush(rng.chance(5));
            }
            while let Some(out) = r.poll_output() {
                check_output(&out);
                match out {
                    RemuxOutput::Init { .. } => inits += 1,
                    RemuxOutput::Media { .. } => media += 1,
                }
            }
        }
    }
    assert!(inits > 10 && media > 100, "{inits} {media}");
}
