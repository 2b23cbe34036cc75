// What this browser can play (MSE) and publish (WebCodecs), by Enhanced RTMP FourCC.

/**
 * One representative MSE type per FourCC the remuxer writes. The remuxer's own codec strings
 * carry the stream's profile and level; a browser that plays these plays ordinary streams of
 * the codec (the sink still checks the exact string of each init segment).
 */
const PROBES = {
  avc1: 'video/mp4; codecs="avc1.42E01E"',
  hvc1: 'video/mp4; codecs="hvc1.1.6.L93.B0"',
  av01: 'video/mp4; codecs="av01.0.08M.08"',
  vp09: 'video/mp4; codecs="vp09.00.31.08"',
  mp4a: 'audio/mp4; codecs="mp4a.40.2"',
  Opus: 'audio/mp4; codecs="opus"',
  fLaC: 'audio/mp4; codecs="flac"',
};

const VIDEO = new Set(['avc1', 'hvc1', 'av01', 'vp09']);

/** FourCCs a page can publish: what js/publisher.js encodes with WebCodecs. */
const ENCODABLE = { video: ['avc1', 'av01', 'vp09'], audio: ['Opus'] };

/** FourCcInfoMask (Enhanced RTMP). */
const CAN_DECODE = 0x01;
const CAN_ENCODE = 0x02;
/** CapsExMask.Reconnect: we follow NetConnection.Connect.ReconnectRequest. */
const CAPS_RECONNECT = 0x01;

let playable = null;

/** The FourCCs MediaSource.isTypeSupported accepts here (probed once). */
export function playableFourCcs() {
  if (playable === null) {
    const supported = (type) => {
      try {
        return Boolean(globalThis.MediaSource?.isTypeSupported(type));
      } catch {
        return false;
      }
    };
    playable = Object.keys(PROBES).filter((cc) => supported(PROBES[cc]));
  }
  return playable;
}

/**
 * The Enhanced RTMP part of the connect command object: `fourCcList` (what we play), the
 * `videoFourCcInfoMap`/`audioFourCcInfoMap` (CanDecode, and CanEncode where WebCodecs can
 * publish it) and `capsEx` (Reconnect). Announcing it tells the server this is an enhanced
 * client, which may be sent FourCC tags.
 */
export function connectCapabilities() {
  const decode = playableFourCcs();
  const encoders = typeof globalThis.VideoEncoder === 'function';
  const audioEncoders = typeof globalThis.AudioEncoder === 'function';
  const videoMap = {};
  const audioMap = {};
  for (const cc of Object.keys(PROBES)) {
    const video = VIDEO.has(cc);
    let flags = decode.includes(cc) ? CAN_DECODE : 0;
    if ((video ? encoders : audioEncoders) && ENCODABLE[video ? 'video' : 'audio'].includes(cc)) {
      flags |= CAN_ENCODE;
    }
    if (flags) {
      (video ? videoMap : audioMap)[cc] = flags;
    }
  }
  return {
    fourCcList: [...decode],
    videoFourCcInfoMap: videoMap,
    audioFourCcInfoMap: audioMap,
    capsEx: CAPS_RECONNECT,
  };
}
