//! Helpers shared by the integration tests: temp dirs, ffmpeg/ffprobe, FLV reading, remuxing,
//! and a small JSON reader for ffprobe's output (hand-rolled to keep the crate free of
//! dev-dependencies).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rtmpws_media::flv::{self, AvcPacketType, FlvHeader, FlvItem, FlvReader, FlvTag, TagKind};
use rtmpws_media::{RemuxConfig, RemuxOutput, Remuxer};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "rtmpws-media-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("RTMPWS_KEEP_TEST_FILES").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Whether ffmpeg and ffprobe can run; outside CI, tests that need them print a note and pass
/// otherwise.
pub fn have_ffmpeg() -> bool {
    let ok = |tool: &str| {
        Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let found = ok("ffmpeg") && ok("ffprobe");
    // CI installs ffmpeg (scripts/setup.sh): there a missing ffmpeg is a failure, not a skip.
    assert!(
        found || std::env::var_os("CI").is_none(),
        "ffmpeg/ffprobe not found on PATH"
    );
    if !found {
        eprintln!("SKIPPED: ffmpeg/ffprobe not found on PATH");
    }
    found
}

pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Generates a test FLV with ffmpeg. `size` like "640x360"; either track can be left out.
pub fn generate_flv(path: &Path, size: &str, seconds: u32, video: bool, audio: bool) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-threads", "1"]);
    if video {
        cmd.args(["-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={size}:rate=30"));
    }
    if audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440"]);
    }
    cmd.args(["-t", &seconds.to_string()]);
    if video {
        cmd.args([
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-g",
            "30",
            "-bf",
            "2",
        ]);
    }
    if audio {
        cmd.args(["-c:a", "aac", "-ar", "44100"]);
    }
    cmd.args(["-f", "flv"]).arg(path);
    run(&mut cmd);
}

/// Reads a whole FLV file through the incremental reader, in uneven chunks.
pub fn read_flv(path: &Path) -> (FlvHeader, Vec<FlvTag>) {
    let bytes = std::fs::read(path).expect("read flv");
    let mut reader = FlvReader::new();
    let mut header = None;
    let mut tags = Vec::new();
    for chunk in bytes.chunks(4093) {
        reader.push(chunk);
        while let Some(item) = reader.next_item().expect("valid flv") {
            match item {
                FlvItem::Header(h) => header = Some(h),
                FlvItem::Tag(t) => tags.push(t),
            }
        }
    }
    reader.finish().expect("flv ends on a tag boundary");
    assert_eq!(reader.prev_tag_size_mismatches(), 0);
    (header.expect("flv header"), tags)
}

/// Video tags that carry a picture, as (dts ms, cts ms).
pub fn video_frames(tags: &[FlvTag]) -> Vec<(u32, i32)> {
    tags.iter()
        .filter(|t| t.kind == TagKind::Video)
        .filter_map(|t| {
            let info = flv::parse_video_tag(&t.data).ok()?;
            (info.avc_packet_type == Some(AvcPacketType::Nalu)
                && t.data.len() > info.payload_offset)
                .then_some((t.timestamp, info.composition_time))
        })
        .collect()
}

/// Audio tags that carry a raw AAC frame.
pub fn audio_frames(tags: &[FlvTag]) -> Vec<u32> {
    tags.iter()
        .filter(|t| t.kind == TagKind::Audio)
        .filter_map(|t| {
            let info = flv::parse_audio_tag(&t.data).ok()?;
            (info.aac_packet_type == Some(flv::AacPacketType::Raw)
                && t.data.len() > info.payload_offset)
                .then_some(t.timestamp)
        })
        .collect()
}

/// Pushes tags through a remuxer, flushing after every `flush_every` video frames (or audio
/// frames when there is no video), then at end of stream.
pub fn remux(
    tags: &[FlvTag],
    expect: Option<(bool, bool)>,
    flush_every: usize,
) -> (Remuxer, Vec<RemuxOutput>) {
    let mut remuxer = Remuxer::new(RemuxConfig::default());
    if let Some((audio, video)) = expect {
        remuxer.expect_tracks(audio, video);
    }
    let has_video = tags.iter().any(|t| t.kind == TagKind::Video);
    let mut since_flush = 0usize;
    let mut outputs = Vec::new();
    for tag in tags {
        match tag.kind {
            TagKind::Video => {
                remuxer
                    .push_video(tag.timestamp, &tag.data)
                    .expect("push video");
                if has_video {
                    since_flush += 1;
                }
            }
            TagKind::Audio => {
                remuxer
                    .push_audio(tag.timestamp, &tag.data)
                    .expect("push audio");
                if !has_video {
                    since_flush += 1;
                }
            }
            _ => continue,
        }
        if since_flush == flush_every {
            remuxer.flush(false);
            since_flush = 0;
        }
        while let Some(out) = remuxer.poll_output() {
            outputs.push(out);
        }
    }
    remuxer.flush(true);
    while let Some(out) = remuxer.poll_output() {
        outputs.push(out);
    }
    (remuxer, outputs)
}

/// Concatenates outputs into a file body, checking the segment order rules on the way.
pub fn concat(outputs: &[RemuxOutput]) -> Vec<u8> {
    let mut file = Vec::new();
    let mut last_end = f64::NEG_INFINITY;
    for (i, out) in outputs.iter().enumerate() {
        match out {
            RemuxOutput::Init { data, .. } => {
                assert!(i == 0 || !file.is_empty());
                file.extend_from_slice(data);
            }
            RemuxOutput::Media {
                data,
                start_ms,
                end_ms,
                ..
            } => {
                assert!(i > 0, "media before init");
                assert!(start_ms <= end_ms, "segment {i}: {start_ms} > {end_ms}");
                assert!(*end_ms >= last_end - 50.0, "segment {i} goes back in time");
                last_end = last_end.max(*end_ms);
                file.extend_from_slice(data);
            }
        }
    }
    file
}

pub fn ffprobe_json(args: &[&str], file: &Path) -> Json {
    let out = run(Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "json"])
        .arg(file));
    Json::parse(&String::from_utf8_lossy(&out.stdout)).expect("ffprobe JSON")
}

/// Decodes the whole file; returns ffmpeg's stderr, which must be empty for a clean file.
pub fn decode_errors(file: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-threads", "1", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg decode failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Just enough JSON for ffprobe output.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing data at {}", p.i));
        }
        Ok(v)
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn array(&self) -> &[Json] {
        match self {
            Json::Arr(items) => items,
            _ => &[],
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Numbers, and numbers in strings (ffprobe quotes many of them).
    pub fn num(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            Json::Str(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn field_num(&self, key: &str) -> f64 {
        self.get(key)
            .and_then(Json::num)
            .unwrap_or_else(|| panic!("no numeric {key} in {self:?}"))
    }

    pub fn field_str(&self, key: &str) -> &str {
        self.get(key)
            .and_then(Json::str)
            .unwrap_or_else(|| panic!("no string {key} in {self:?}"))
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at {}", b as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.eat(b':')?;
                    fields.push((key, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return Err(format!("bad object at {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("bad array at {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Json::Null)
            }
            Some(_) => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
                {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .map(Json::Num)
                    .ok_or_else(|| format!("bad value at {start}"))
            }
            None => Err("unexpected end".into()),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("bad escape")?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("bad \\u")?;
                            self.i += 4;
                            let code = u32::from_str_radix(std::str::from_utf8(hex).unwrap(), 16)
                                .map_err(|e| e.to_string())?;
                            let c = char::from_u32(code).unwrap_or('\u{fffd}');
                            out.extend_from_slice(c.to_string().as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
        String::from_utf8(out).map_err(|e| e.to_string())
    }
}

/// One parsed top-level or nested box: (type, payload).
pub fn boxes(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
        assert!(
            size >= 8 && pos + size <= data.len(),
            "box {} at {pos} has bad size {size} (of {})",
            String::from_utf8_lossy(&kind),
            data.len()
        );
        out.push((kind, &data[pos + 8..pos + size]));
        pos += size;
    }
    out
}

pub fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, body)| body)
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// A sample as written in a trun: (duration, size, flags, composition offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrunSample {
    pub duration: u32,
    pub size: u32,
    pub flags: u32,
    pub cto: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traf {
    pub track_id: u32,
    pub base_decode_time: u64,
    pub samples: Vec<TrunSample>,
    /// The samples' bytes, located through the trun data offset.
    pub data: Vec<u8>,
}

/// Parses a moof+mdat produced by the remuxer, checking sizes and offsets on the way.
pub fn parse_fragment(fragment: &[u8]) -> (u32, Vec<Traf>) {
    let top = boxes(fragment);
    assert_eq!(top.len(), 2, "moof + mdat");
    assert_eq!(&top[0].0, b"moof");
    assert_eq!(&top[1].0, b"mdat");
    let moof = top[0].1;
    let mfhd = child(moof, b"mfhd").expect("mfhd");
    let sequence = be32(mfhd, 4);
    let mut trafs = Vec::new();
    for (kind, traf) in boxes(moof) {
        if &kind != b"traf" {
            continue;
        }
        let tfhd = child(traf, b"tfhd").expect("tfhd");
        let tfhd_flags = be32(tfhd, 0) & 0xff_ffff;
        assert!(tfhd_flags & 0x02_0000 != 0, "default-base-is-moof");
        let default_flags = if tfhd_flags & 0x20 != 0 {
            Some(be32(tfhd, 8))
        } else {
            None
        };
        let tfdt = child(traf, b"tfdt").expect("tfdt");
        assert_eq!(tfdt[0], 1, "tfdt version 1");
        let base_decode_time = u64::from_be_bytes(tfdt[4..12].try_into().unwrap());
        let trun = child(traf, b"trun").expect("trun");
        let version = trun[0];
        let flags = be32(trun, 0) & 0xff_ffff;
        let count = be32(trun, 4) as usize;
        assert!(flags & 1 != 0, "data offset present");
        let data_offset = be32(trun, 8) as usize;
        let mut pos = 12;
        let mut samples = Vec::new();
        for _ in 0..count {
            let mut s = TrunSample {
                duration: 0,
                size: 0,
                flags: default_flags.unwrap_or(0),
                cto: 0,
            };
            if flags & 0x100 != 0 {
                s.duration = be32(trun, pos);
                pos += 4;
            }
            if flags & 0x200 != 0 {
                s.size = be32(trun, pos);
                pos += 4;
            }
            if flags & 0x400 != 0 {
                s.flags = be32(trun, pos);
                pos += 4;
            }
            if flags & 0x800 != 0 {
                assert_eq!(version, 1, "signed composition offsets need trun v1");
                s.cto = be32(trun, pos) as i32;
                pos += 4;
            }
            samples.push(s);
        }
        assert_eq!(pos, trun.len(), "trun length");
        let total: usize = samples.iter().map(|s| s.size as usize).sum();
        let data = fragment[data_offset..data_offset + total].to_vec();
        trafs.push(Traf {
            track_id: be32(tfhd, 4),
            base_decode_time,
            samples,
            data,
        });
    }
    let mdat_len = top[1].1.len();
    let in_runs: usize = trafs.iter().map(|t| t.data.len()).sum();
    assert_eq!(mdat_len, in_runs, "mdat holds exactly the runs");
    (sequence, trafs)
}

/// FFmpeg 9 (Enhanced RTMP/FLV), installed by `scripts/setup.sh test` under `.cache/ffmpeg9`;
/// `RTMPWS_FFMPEG9` overrides the path. Tests that need it fail, with this explanation, when
/// it is missing: CI installs it, so there is no silent skip.
pub fn ffmpeg9() -> PathBuf {
    let path = std::env::var_os("RTMPWS_FFMPEG9")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../.cache/ffmpeg9/imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2")
        });
    assert!(
        path.is_file(),
        "FFmpeg 9 not found at {}: run `bash scripts/setup.sh test` or set RTMPWS_FFMPEG9",
        path.display()
    );
    path
}
