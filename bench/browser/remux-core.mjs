// The measuring part of remux.mjs, shared by its Node run and its Chromium page: the same FLV
// bytes through rtmpws's wasm remuxer and through flv.js 1.6's FLVDemuxer + MP4Remuxer, counting
// every output byte so neither side can skip work.
//
// Nothing here is copied from flv.js: it is driven through its public-ish ES classes exactly as
// its TransmuxingController drives them (parseChunks -> remux -> onInit/onMediaSegment).

/** Splits an FLV file into [header+PreviousTagSize0, tag0, tag1, ...] with tag metadata. */
export function splitFlv(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = view.getUint32(5);
  const tags = [];
  let pos = headerSize + 4;
  while (pos + 11 <= bytes.length) {
    const type = bytes[pos] & 0x1f;
    const size = view.getUint32(pos) & 0xffffff;
    const end = pos + 11 + size + 4;
    if (end > bytes.length) {
      break;
    }
    const timestamp = ((bytes[pos + 7] << 24) | (bytes[pos + 4] << 16) | (bytes[pos + 5] << 8) | bytes[pos + 6]) >>> 0;
    tags.push({ type, timestamp, start: pos, bodyStart: pos + 11, bodyEnd: pos + 11 + size, end });
    pos = end;
  }
  return { headerEnd: headerSize + 4, tags };
}

/**
 * Prepares the inputs of every mode once, outside the timed part: what a WebSocket would hand
 * each player (one ArrayBuffer per FLV tag, or per 64 KiB piece of the file).
 */
export function prepare(bytes, chunkSize = 64 * 1024) {
  const { headerEnd, tags } = splitFlv(bytes);
  // Per tag: the first buffer also carries the FLV header (flv.js wants it with data).
  const perTag = tags.map((tag, i) => {
    const from = i === 0 ? 0 : tag.start;
    return { offset: from, buffer: bytes.slice(from, tag.end).buffer };
  });
  // RTMP messages: what the RTMP chunk decoder hands the pipeline (type, timestamp, body).
  const messages = tags
    .filter((tag) => tag.type === 8 || tag.type === 9)
    .map((tag) => ({ video: tag.type === 9, timestamp: tag.timestamp, body: bytes.slice(tag.bodyStart, tag.bodyEnd) }));
  const chunks = [];
  for (let offset = 0; offset < bytes.length; offset += chunkSize) {
    chunks.push({ offset, buffer: bytes.slice(offset, Math.min(bytes.length, offset + chunkSize)).buffer });
  }
  return { bytes: bytes.length, headerEnd, tags: tags.length, perTag, messages, chunks };
}

/** flv.js: FLVDemuxer.parseChunks per buffer, leftovers kept like its IOController's stash. */
export function runFlvjs({ FLVDemuxer, MP4Remuxer, config }, buffers) {
  let out = 0;
  let segments = 0;
  let errors = 0;
  let demuxer = null;
  let remuxer = null;
  let stash = null;
  let stashStart = 0;
  for (const { offset, buffer } of buffers) {
    let data = buffer;
    let byteStart = offset;
    if (stash) {
      const joined = new Uint8Array(stash.byteLength + buffer.byteLength);
      joined.set(new Uint8Array(stash), 0);
      joined.set(new Uint8Array(buffer), stash.byteLength);
      data = joined.buffer;
      byteStart = stashStart;
      stash = null;
    }
    if (!demuxer) {
      const probe = FLVDemuxer.probe(data);
      if (!probe.match) {
        throw new Error('flv.js does not recognise the FLV');
      }
      demuxer = new FLVDemuxer(probe, config);
      remuxer = new MP4Remuxer(config);
      demuxer.onError = () => {
        errors++;
      };
      demuxer.onMediaInfo = () => {};
      demuxer.onMetaDataArrived = () => {};
      demuxer.onScriptDataArrived = () => {};
      remuxer.bindDataSource(demuxer);
      remuxer.onInitSegment = (type, segment) => {
        out += segment.data.byteLength;
        segments++;
      };
      remuxer.onMediaSegment = (type, segment) => {
        out += segment.data.byteLength;
        segments++;
      };
    }
    const consumed = demuxer.parseChunks(data, byteStart);
    if (consumed < data.byteLength) {
      stash = data.slice(consumed);
      stashStart = byteStart + consumed;
    }
  }
  remuxer?.flushStashedSamples();
  return { out, segments, errors };
}

function countEvents(events, tally) {
  for (let i = 0; i < events.length; i++) {
    const event = events[i];
    if (event.data) {
      tally.out += event.data.byteLength;
      tally.segments++;
      // What MediaSink does once appendBuffer has copied the bytes.
      event.release?.();
    } else if (event.type === 'mediaError') {
      tally.errors++;
    }
  }
}

/** rtmpws: Player.pushFlv per buffer (the same framing and bytes flv.js gets), poll after each. */
export function runRtmpwsFlv({ Player }, buffers) {
  const tally = { out: 0, segments: 0, errors: 0 };
  const player = new Player();
  for (const { buffer } of buffers) {
    player.pushFlv(new Uint8Array(buffer));
    countEvents(player.poll(), tally);
  }
  player.end();
  countEvents(player.poll(), tally);
  player.free();
  return tally;
}

/**
 * rtmpws the way a playing NetStream feeds it: each RTMP audio/video message body with its
 * timestamp into the stream's pipeline, events collected after each (one WebSocket message
 * per media message, as the gateway sends them).
 */
export function runRtmpwsMessages({ Player }, messages) {
  const tally = { out: 0, segments: 0, errors: 0 };
  const player = new Player();
  // onMetaData (hasAudio/hasVideo) reaches the pipeline before the media, as on a live play.
  player.expectTracks(true, true);
  for (const { video, timestamp, body } of messages) {
    if (video) {
      player.pushVideo(timestamp, body);
    } else {
      player.pushAudio(timestamp, body);
    }
    countEvents(player.poll(), tally);
  }
  player.end();
  countEvents(player.poll(), tally);
  player.free();
  return tally;
}

const now = () => performance.now();

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1] };
}

/**
 * Runs every mode `runs` times after one untimed warm-up each, interleaved so that a noisy
 * neighbour hits all of them alike. Returns {mode: {mbps: {median,min,max}, out, segments}}.
 */
export function measure(libs, input, runs, log = () => {}) {
  const modes = [
    { key: 'flvjs-tag', run: () => runFlvjs(libs, input.perTag) },
    { key: 'rtmpws-tag', run: () => runRtmpwsFlv(libs, input.perTag) },
    { key: 'rtmpws-msg', run: () => runRtmpwsMessages(libs, input.messages) },
    { key: 'flvjs-64k', run: () => runFlvjs(libs, input.chunks) },
    { key: 'rtmpws-64k', run: () => runRtmpwsFlv(libs, input.chunks) },
  ];
  const results = {};
  for (const mode of modes) {
    const tally = mode.run();
    results[mode.key] = { times: [], out: tally.out, segments: tally.segments, errors: tally.errors };
  }
  for (let i = 0; i < runs; i++) {
    for (const mode of modes) {
      const start = now();
      const tally = mode.run();
      const ms = now() - start;
      results[mode.key].times.push(ms);
      log(`run ${i + 1}/${runs} ${mode.key}: ${ms.toFixed(0)} ms, ${tally.out} bytes out`);
    }
  }
  const mb = input.bytes / 1e6;
  for (const key of Object.keys(results)) {
    const r = results[key];
    r.ms = stats(r.times);
    r.mbps = { median: mb / (r.ms.median / 1000), min: mb / (r.ms.max / 1000), max: mb / (r.ms.min / 1000) };
  }
  return results;
}
