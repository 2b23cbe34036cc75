// The rtmpws demo page: play or publish a stream, log every netStatus event, and tick off the
// NetStream codes seen. `window.demo` exposes the state for the browser tests.

import { NETSTREAM_CODES, NetConnection, NetStream } from '/pkg/index.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
const logView = $('log');

// Behind TLS (a proxy terminating https) the page may only open wss://.
$('url').value = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/live`;
const params = new URLSearchParams(location.search);
for (const key of ['url', 'name', 'bufferTime', 'publishType']) {
  if (params.has(key)) {
    $(key).value = params.get(key);
  }
}

/** Everything the tests read. */
const demo = {
  nc: null,
  ns: null,
  /** [{t, source, info}] for every netStatus event. */
  log: [],
  seen: new Set(),
  metaData: null,
  playCalledAt: 0,
  /** ms from ns.play() to the video's first `playing` event. */
  firstPlayingMs: null,
  asyncErrors: [],
  publisher: null,
};
window.demo = demo;

// The code table, from the module's catalogue.
const rows = new Map();
for (const { code, level, how } of NETSTREAM_CODES) {
  const tr = document.createElement('tr');
  for (const text of [code, level, how, '']) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  tr.lastChild.className = 'seen';
  rows.set(code, tr);
  $('codes').append(tr);
}

function updateSeenCount() {
  const hits = [...rows.keys()].filter((code) => demo.seen.has(code)).length;
  $('seenCount').textContent = `(${hits} of ${rows.size} seen this session)`;
}
updateSeenCount();

function log(source, info) {
  const t = performance.now();
  demo.log.push({ t, source, info });
  if (info?.code) {
    demo.seen.add(info.code);
    rows.get(info.code)?.classList.add('hit');
    updateSeenCount();
  }
  const line = document.createElement('div');
  line.className = info?.level ?? '';
  const time = document.createElement('span');
  time.className = 'time';
  time.textContent = `${(t / 1000).toFixed(3)} ${source} `;
  line.append(time, JSON.stringify(info, jsonValue));
  logView.append(line);
  logView.scrollTop = logView.scrollHeight;
}

/** JSON for Uint8Arrays and Dates inside info objects. */
function jsonValue(key, value) {
  if (value instanceof Uint8Array) {
    return `Uint8Array(${value.length})`;
  }
  return value;
}

function setPlaying(on) {
  $('stop').disabled = !on;
  $('pause').disabled = !on;
  $('seek').disabled = !on;
  $('pause').textContent = 'Pause';
}

/** Connects and calls `then(nc)` on Connect.Success. */
function connect(then) {
  stop();
  const nc = new NetConnection();
  demo.nc = nc;
  nc.client = { onBWDone() {} };
  nc.addEventListener('netStatus', (event) => {
    log('nc', event.info);
    if (event.info.code === 'NetConnection.Connect.Success') {
      then(nc);
    } else if (event.info.code !== 'NetConnection.Connect.NetworkChange') {
      setPlaying(false);
    }
  });
  nc.addEventListener('ioError', (event) => log('nc', { ioError: event.text }));
  nc.addEventListener('asyncError', (event) => demo.asyncErrors.push(event.text));
  nc.connect($('url').value);
}

function newStream(nc) {
  const ns = new NetStream(nc);
  demo.ns = ns;
  ns.addEventListener('netStatus', (event) => log('ns', event.info));
  ns.addEventListener('asyncError', (event) => demo.asyncErrors.push(event.text));
  const bufferTime = Number($('bufferTime').value);
  ns.bufferTime = Number.isFinite(bufferTime) ? bufferTime : 0.1;
  return ns;
}

function play() {
  connect((nc) => {
    const ns = newStream(nc);
    ns.client = {
      onMetaData(meta) {
        demo.metaData = meta;
        log('ns', { onMetaData: meta });
      },
      onPlayStatus(info) {
        log('ns', { onPlayStatus: info });
      },
      onCuePoint(cue) {
        log('ns', { onCuePoint: cue });
      },
      onTextData(text) {
        log('ns', { onTextData: text });
      },
    };
    ns.attachMediaElement(video);
    demo.firstPlayingMs = null;
    demo.playCalledAt = performance.now();
    video.addEventListener(
      'playing',
      () => {
        demo.firstPlayingMs = performance.now() - demo.playCalledAt;
      },
      { once: true },
    );
    ns.play($('name').value);
    setPlaying(true);
  });
}

function stop() {
  if (demo.publisher && demo.ns && demo.nc) {
    // Stop publishing and let the server answer (Record.Stop, Unpublish.Success) before the
    // connection closes.
    const { nc, ns } = demo;
    demo.publisher.stop();
    ns.publish(null);
    const done = () => nc.close();
    const timer = setTimeout(done, 5000);
    ns.addEventListener('netStatus', (event) => {
      if (event.info.code === 'NetStream.Unpublish.Success') {
        clearTimeout(timer);
        done();
      }
    });
  } else {
    demo.ns?.close();
    demo.nc?.close();
  }
  demo.publisher = null;
  demo.ns = null;
  setPlaying(false);
}

$('play').onclick = play;
$('stop').onclick = stop;
$('pause').onclick = () => {
  demo.ns?.togglePause();
  $('pause').textContent = $('pause').textContent === 'Pause' ? 'Resume' : 'Pause';
};
$('seek').onclick = () => demo.ns?.seek($('seekTo').value);
$('publish').onclick = () => publish();

// Publishing an animated canvas: WebCodecs H.264 (AVC format, so chunks are already FLV's
// length-prefixed NALUs and the decoder description is the AVC sequence header). No audio:
// Chromium's WebCodecs has no AAC encoder.
function publish() {
  if (typeof VideoEncoder !== 'function') {
    log('page', { error: 'WebCodecs VideoEncoder is not available in this browser' });
    return;
  }
  connect((nc) => {
    const ns = newStream(nc);
    ns.addEventListener('netStatus', (event) => {
      if (event.info.code === 'NetStream.Publish.Start') {
        demo.publisher = startCanvasPublisher(ns);
      }
    });
    ns.publish($('name').value, $('publishType').value);
    setPlaying(true);
  });
}

function startCanvasPublisher(ns) {
  const canvas = $('canvas');
  const ctx = canvas.getContext('2d');
  const started = performance.now();
  let sentHeader = false;
  let frame = 0;
  let timer = null;
  const publisher = {
    /** Encoded frames sent. */
    frames: 0,
    stop() {
      clearInterval(timer);
      if (encoder.state !== 'closed') {
        encoder.close();
      }
    },
  };
  const encoder = new VideoEncoder({
    output(chunk, metadata) {
      const ms = Math.round(chunk.timestamp / 1000);
      const description = metadata?.decoderConfig?.description;
      if (description && !sentHeader) {
        const avcc = description instanceof ArrayBuffer ? new Uint8Array(description) : new Uint8Array(description.buffer, description.byteOffset, description.byteLength);
        // FLV video tag: keyframe + AVC, packet type 0 (sequence header), composition time 0.
        ns.sendMedia('video', ms, Uint8Array.of(0x17, 0, 0, 0, 0, ...avcc));
        sentHeader = true;
      }
      const body = new Uint8Array(5 + chunk.byteLength);
      body.set([chunk.type === 'key' ? 0x17 : 0x27, 1, 0, 0, 0]);
      chunk.copyTo(body.subarray(5));
      ns.sendMedia('video', ms, body);
      publisher.frames += 1;
    },
    error(error) {
      log('page', { error: String(error) });
    },
  });
  encoder.configure({ codec: 'avc1.42E01F', width: canvas.width, height: canvas.height, bitrate: 1_000_000, framerate: 30, avc: { format: 'avc' }, latencyMode: 'realtime' });
  ns.send('@setDataFrame', 'onMetaData', { width: canvas.width, height: canvas.height, framerate: 30, videocodecid: 7, encoder: 'rtmpws demo (WebCodecs)' });
  timer = setInterval(() => {
    const t = performance.now() - started;
    ctx.fillStyle = `hsl(${(t / 20) % 360} 60% 40%)`;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = '#fff';
    ctx.font = '48px system-ui';
    ctx.fillText(`rtmpws ${(t / 1000).toFixed(2)} s`, 40, 190);
    ctx.fillRect((t / 5) % canvas.width, 260, 60, 60);
    const videoFrame = new VideoFrame(canvas, { timestamp: Math.round(t * 1000) });
    encoder.encode(videoFrame, { keyFrame: frame % 60 === 0 });
    videoFrame.close();
    frame += 1;
  }, 1000 / 30);
  return publisher;
}

// Live figures under the video.
setInterval(() => {
  const ns = demo.ns;
  if (!ns) {
    $('stats').textContent = demo.nc?.connected ? 'connected' : 'not connected';
    return;
  }
  const info = ns.info;
  const latency = info.playbackLatency === null ? '-' : `${info.playbackLatency.toFixed(2)} s`;
  $('stats').textContent =
    `time ${ns.time.toFixed(2)} s · bufferLength ${ns.bufferLength.toFixed(2)} s · fps ${ns.currentFPS.toFixed(1)}` +
    ` · frames ${info.decodedFrames} (dropped ${info.droppedFrames}) · bytes ${ns.bytesLoaded} · latency ${latency}` +
    (demo.firstPlayingMs === null ? '' : ` · play→playing ${demo.firstPlayingMs.toFixed(0)} ms`);
}, 250);
