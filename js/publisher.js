// Publishing a MediaStream: WebCodecs encoders in, RTMP audio/video tags out.
//
// Video is H.264 (legacy AVC tags, which every player reads), AV1 or VP9 (Enhanced RTMP
// `av01`/`vp09` tags); audio is Opus (an `Opus` ExAudioTagHeader, OpusHead as its sequence
// start). Frames are read with MediaStreamTrackProcessor (Chromium); the tag headers are
// written by the media crate (Connection.sendVideoTag/sendAudioTag).

const PACKET_START = 0;
const PACKET_FRAMES = 1;

/** Frames waiting in the video encoder beyond which new ones are dropped (it fell behind). */
const MAX_VIDEO_QUEUE = 3;

/**
 * The WebCodecs codec string for a picture size: the profile is fixed, the level the lowest
 * that commonly covers the size (encoders take the string as a hint; decoders read the record).
 */
const VIDEO_CODECS = {
  h264: { fourcc: 'avc1', codec: (px) => (px <= 921600 ? 'avc1.42E01F' : 'avc1.640028'), extra: { avc: { format: 'avc' } } },
  av1: { fourcc: 'av01', codec: (px) => (px <= 665856 ? 'av01.0.04M.08' : 'av01.0.08M.08'), extra: {} },
  vp9: { fourcc: 'vp09', codec: (px) => (px <= 983040 ? 'vp09.00.31.08' : 'vp09.00.41.08'), extra: {} },
};

function bytesOf(source) {
  if (!source) {
    return null;
  }
  if (source instanceof ArrayBuffer) {
    return new Uint8Array(source.slice(0));
  }
  if (ArrayBuffer.isView(source)) {
    return new Uint8Array(source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength));
  }
  return null;
}

/** The first sequence header OBU (type 1) of an AV1 temporal unit, whole, or null. */
function sequenceHeaderObu(data) {
  let pos = 0;
  while (pos < data.length) {
    const header = data[pos];
    let p = pos + 1 + ((header & 0x04) !== 0 ? 1 : 0);
    if ((header & 0x02) === 0) {
      return ((header >> 3) & 0x0f) === 1 ? data.subarray(pos) : null;
    }
    let size = 0;
    for (let i = 0; i < 8 && p < data.length; i++) {
      const byte = data[p++];
      size += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) {
        break;
      }
    }
    const end = p + size;
    if (end > data.length) {
      return null;
    }
    if (((header >> 3) & 0x0f) === 1) {
      return data.subarray(pos, end);
    }
    pos = end;
  }
  return null;
}

/**
 * AV1CodecConfigurationRecord from a codec string (`av01.P.LLT.DD`, 4:2:0) and the sequence
 * header OBU of the first keyframe (its configOBUs).
 */
function av1Record(codec, keyframe) {
  const m = /^av01\.(\d)\.(\d\d)([MH])\.(\d\d)/.exec(codec);
  if (!m) {
    return null;
  }
  const [profile, level, depth] = [Number(m[1]), Number(m[2]), Number(m[4])];
  const high = m[3] === 'H' ? 0x80 : 0;
  const flags = high | (depth > 8 ? 0x40 : 0) | (depth === 12 ? 0x20 : 0) | 0x08 | 0x04;
  const obu = sequenceHeaderObu(keyframe) ?? new Uint8Array(0);
  const record = new Uint8Array(4 + obu.length);
  record.set([0x81, (profile << 5) | (level & 0x1f), flags, 0]);
  record.set(obu, 4);
  return record;
}

/** VPCodecConfigurationRecord (with its full-box header, as FFmpeg writes it) from `vp09.PP.LL.DD`. */
function vp9Record(codec) {
  const m = /^vp09\.(\d\d)\.(\d\d)\.(\d\d)/.exec(codec);
  if (!m) {
    return null;
  }
  // 4:2:0 colocated with luma, limited range; colour unspecified (2).
  return new Uint8Array([1, 0, 0, 0, Number(m[1]), Number(m[2]), (Number(m[3]) << 4) | (1 << 1), 2, 2, 2, 0, 0]);
}

/** OpusHead (RFC 7845 5.1), channel mapping family 0, for an encoder that gave none. */
function opusHead(channels, inputRate) {
  const head = new Uint8Array(19);
  head.set([0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64, 1, channels]);
  const view = new DataView(head.buffer);
  view.setUint16(10, 312, true);
  view.setUint32(12, inputRate, true);
  return head;
}

export class Publisher {
  /**
   * @param {MediaStream} stream
   * @param {{videoCodec?: string, videoBitrate?: number, audioBitrate?: number, keyframeInterval?: number, framerate?: number}} options
   * @param {{video: Function, audio: Function, data: Function, error: Function}} send
   */
  constructor(stream, options, send) {
    this.stream = stream;
    this.options = options ?? {};
    this.send = send;
    this.stopped = false;
    this.readers = [];
    this.videoEncoder = null;
    this.audioEncoder = null;
    this.base = 0;
    /** Per track: the first frame's timestamp (µs) and when it came (ms since start). */
    this.anchors = {};
    this.lastKey = null;
    this.videoConfig = null;
    this.videoStarted = false;
    this.audioStarted = false;
    this.failed = false;
    const name = String(this.options.videoCodec ?? 'h264').toLowerCase();
    this.video = VIDEO_CODECS[name] ?? null;
    if (!this.video) {
      throw new RangeError(`rtmpws: videoCodec must be 'h264', 'av1' or 'vp9', not ${name}`);
    }
  }

  start() {
    this.base = performance.now();
    const videoTrack = this.stream.getVideoTracks()[0];
    const audioTrack = this.stream.getAudioTracks()[0];
    if (typeof globalThis.MediaStreamTrackProcessor !== 'function') {
      this.fail(new Error('this browser cannot read MediaStream frames (MediaStreamTrackProcessor)'));
      return;
    }
    this.sendMetadata(videoTrack, audioTrack);
    if (videoTrack) {
      this.pump(videoTrack, (frame) => this.encodeVideo(frame));
    }
    if (audioTrack) {
      this.pump(audioTrack, (data) => this.encodeAudio(data));
    }
  }

  stop() {
    this.stopped = true;
    for (const reader of this.readers) {
      reader.cancel().catch(() => {});
    }
    this.readers = [];
    for (const encoder of [this.videoEncoder, this.audioEncoder]) {
      if (encoder && encoder.state !== 'closed') {
        encoder.close();
      }
    }
    this.videoEncoder = this.audioEncoder = null;
  }

  fail(error) {
    if (!this.failed && !this.stopped) {
      this.failed = true;
      this.send.error(error);
    }
    this.stop();
  }

  /** onMetaData for the viewers, FourCCs as strings (as OBS sends them). */
  sendMetadata(videoTrack, audioTrack) {
    const meta = { encoder: 'rtmpws' };
    if (videoTrack) {
      const s = videoTrack.getSettings?.() ?? {};
      Object.assign(meta, { videocodecid: this.video.fourcc });
      if (s.width && s.height) {
        Object.assign(meta, { width: s.width & ~1, height: s.height & ~1 });
      }
      if (this.options.framerate ?? s.frameRate) {
        meta.framerate = this.options.framerate ?? s.frameRate;
      }
    }
    if (audioTrack) {
      const s = audioTrack.getSettings?.() ?? {};
      Object.assign(meta, { audiocodecid: 'Opus', audiosamplerate: 48000, audiochannels: s.channelCount ?? 2 });
    }
    Object.assign(meta, { hasVideo: Boolean(videoTrack), hasAudio: Boolean(audioTrack) });
    this.send.data(['@setDataFrame', 'onMetaData', meta]);
  }

  async pump(track, encode) {
    const reader = new MediaStreamTrackProcessor({ track }).readable.getReader();
    this.readers.push(reader);
    try {
      while (!this.stopped) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        if (this.stopped) {
          value.close();
          break;
        }
        try {
          encode(value);
        } finally {
          value.close();
        }
      }
    } catch (error) {
      this.fail(error);
    }
  }

  /** Milliseconds on the stream's clock for a frame timestamp (µs) of track `kind`. */
  ms(kind, timestamp) {
    let anchor = this.anchors[kind];
    if (!anchor) {
      anchor = this.anchors[kind] = { first: timestamp, at: performance.now() - this.base };
    }
    return Math.max(0, Math.round(anchor.at + (timestamp - anchor.first) / 1000));
  }

  encodeVideo(frame) {
    const t = this.ms('video', frame.timestamp);
    if (!this.videoEncoder) {
      const width = frame.displayWidth & ~1;
      const height = frame.displayHeight & ~1;
      const encoder = new VideoEncoder({
        output: (chunk, metadata) => this.onVideo(chunk, metadata),
        error: (error) => this.fail(error),
      });
      encoder.configure({
        codec: this.video.codec(width * height),
        width,
        height,
        bitrate: this.options.videoBitrate ?? 1_000_000,
        framerate: this.options.framerate ?? 30,
        latencyMode: 'realtime',
        ...this.video.extra,
      });
      this.videoEncoder = encoder;
    }
    if (this.videoEncoder.encodeQueueSize > MAX_VIDEO_QUEUE) {
      return;
    }
    const interval = (this.options.keyframeInterval ?? 2) * 1000;
    const keyFrame = this.lastKey === null || t - this.lastKey >= interval;
    if (keyFrame) {
      this.lastKey = t;
    }
    this.videoEncoder.encode(frame, { keyFrame });
  }

  onVideo(chunk, metadata) {
    if (this.stopped) {
      return;
    }
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    const ts = this.ms('video', chunk.timestamp);
    const key = chunk.type === 'key';
    if (metadata?.decoderConfig) {
      this.videoConfig = metadata.decoderConfig;
    }
    const fourcc = this.video.fourcc;
    if (key && this.videoConfig) {
      const config = this.videoConfig;
      this.videoConfig = null;
      const given = bytesOf(config.description);
      let record = null;
      if (fourcc === 'avc1') {
        record = given;
      } else if (fourcc === 'av01') {
        record = given?.[0] === 0x81 ? given : av1Record(config.codec, data);
      } else {
        record = given?.length >= 8 ? given : vp9Record(config.codec);
      }
      if (!record) {
        this.fail(new Error(`no configuration record for ${config.codec}`));
        return;
      }
      this.send.video(ts, fourcc, PACKET_START, true, 0, record);
      this.videoStarted = true;
    }
    if (this.videoStarted) {
      this.send.video(ts, fourcc, PACKET_FRAMES, key, 0, data);
    }
  }

  encodeAudio(data) {
    this.ms('audio', data.timestamp);
    if (!this.audioEncoder) {
      const encoder = new AudioEncoder({
        output: (chunk, metadata) => this.onAudio(chunk, metadata),
        error: (error) => this.fail(error),
      });
      this.audioChannels = data.numberOfChannels;
      this.audioRate = data.sampleRate;
      encoder.configure({
        codec: 'opus',
        sampleRate: data.sampleRate,
        numberOfChannels: data.numberOfChannels,
        bitrate: this.options.audioBitrate ?? 96_000,
      });
      this.audioEncoder = encoder;
    }
    this.audioEncoder.encode(data);
  }

  onAudio(chunk, metadata) {
    if (this.stopped) {
      return;
    }
    const ts = this.ms('audio', chunk.timestamp);
    if (!this.audioStarted) {
      const given = bytesOf(metadata?.decoderConfig?.description);
      const head = given?.length >= 19 ? given : opusHead(this.audioChannels, this.audioRate);
      this.send.audio(ts, 'Opus', PACKET_START, head);
      this.audioStarted = true;
    }
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    this.send.audio(ts, 'Opus', PACKET_FRAMES, data);
  }
}
