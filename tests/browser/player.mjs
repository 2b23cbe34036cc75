// A NetConnection + NetStream built inside the demo page by the test itself (rather than through
// the demo's buttons), so a test can call play(name, start, len, reset), play2, seek, pause...
// exactly as an application would. Everything the page sees goes into `window.t.log`, each
// entry stamped with what the user would see at that moment (ns.time, video.currentTime).

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { openDemo } from './harness.mjs';

/**
 * An FLV made by ffmpeg: testsrc2 at `size`, 30 fps, one keyframe per second (GOP 30), with a
 * 440 Hz AAC track unless `audio` is false.
 */
export function makeVideo(dir, name, { seconds = 6, size = '640x360', audio = true } = {}) {
  const out = join(dir, `${name}.flv`);
  const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30`];
  if (audio) {
    args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100');
  }
  args.push('-t', String(seconds), '-c:v', 'libx264', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0', '-pix_fmt', 'yuv420p');
  if (audio) {
    args.push('-c:a', 'aac');
  }
  args.push('-f', 'flv', out);
  const result = spawnSync('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) {
    throw new Error(`ffmpeg could not make ${name}: ${result.stderr}`);
  }
  return out;
}

/**
 * Opens the demo page and connects a NetConnection to `url` (ws://.../app) with a NetStream
 * attached to the page's <video>. Resolves once NetConnection.Connect.Success has arrived.
 * With `client: false` the stream gets no client (onMetaData and onPlayStatus are not logged).
 */
export async function openPlayer(browser, gateway, url, { bufferTime = 0.1, client = true } = {}) {
  const page = await openDemo(browser, gateway);
  await page.evaluate(
    async ({ url, bufferTime, client }) => {
      const { NetConnection, NetStream } = await import('/pkg/index.js');
      const video = document.getElementById('video');
      const t = { video, log: [], nc: null, ns: null };
      window.t = t;
      const note = (kind, info) =>
        t.log.push({
          kind,
          code: typeof info?.code === 'string' ? info.code : null,
          info: JSON.parse(JSON.stringify(info ?? null)),
          wall: performance.now(),
          time: t.ns?.time ?? 0,
          currentTime: video.currentTime,
          videoWidth: video.videoWidth,
          paused: video.paused,
        });
      t.note = note;
      const nc = new NetConnection();
      t.nc = nc;
      await new Promise((resolve, reject) => {
        nc.addEventListener('netStatus', (e) => {
          note('nc', e.info);
          if (e.info.code === 'NetConnection.Connect.Success') {
            resolve();
          } else if (e.info.level === 'error') {
            reject(new Error(e.info.code));
          }
        });
        nc.connect(url);
      });
      const ns = new NetStream(nc);
      t.ns = ns;
      ns.bufferTime = bufferTime;
      if (client) {
        ns.client = {
          onMetaData: (meta) => note('onMetaData', meta),
          onPlayStatus: (info) => note('onPlayStatus', info),
        };
      }
      ns.addEventListener('netStatus', (e) => note('netStatus', e.info));
      ns.addEventListener('asyncError', (e) => note('asyncError', { code: 'asyncError', text: e.text }));
      ns.attachMediaElement(video);
    },
    { url, bufferTime, client },
  );
  return page;
}

/** The log so far: [{kind, code, info, time, currentTime, videoWidth, paused, wall}]. */
export function playerLog(page) {
  return page.evaluate(() => window.t.log);
}

/** `kind code` lines of the log from index `from` on, media-element state left out. */
export async function sequence(page, from = 0, kinds = ['netStatus', 'onPlayStatus']) {
  const log = await playerLog(page);
  return log.slice(from).filter((e) => kinds.includes(e.kind) && e.code).map((e) => `${e.kind} ${e.code}`);
}

/** The current log length, to look for events after it. */
export function mark(page) {
  return page.evaluate(() => window.t.log.length);
}

/**
 * Waits for a log entry with `code` (and `kind`, default netStatus) at index >= `from`;
 * resolves to {index, entry}.
 */
export async function waitForEntry(page, code, { kind = 'netStatus', from = 0, timeout = 20000 } = {}) {
  try {
    await page.waitForFunction(({ code, kind, from }) => window.t.log.slice(from).some((e) => e.code === code && e.kind === kind), { code, kind, from }, { timeout, polling: 50 });
  } catch {
    const seen = await sequence(page, 0, ['nc', 'netStatus', 'onPlayStatus', 'asyncError']);
    throw new Error(`no ${kind} ${code} after #${from} within ${timeout} ms; the page saw:\n  ${seen.join('\n  ')}\n${page.messages.join('\n')}`);
  }
  return page.evaluate(
    ({ code, kind, from }) => {
      const index = window.t.log.findIndex((e, i) => i >= from && e.code === code && e.kind === kind);
      return { index, entry: window.t.log[index] };
    },
    { code, kind, from },
  );
}

/** What the user sees now. */
export function state(page) {
  return page.evaluate(() => {
    const { video, ns } = window.t;
    return {
      time: ns.time,
      currentTime: video.currentTime,
      paused: video.paused,
      ended: video.ended,
      videoWidth: video.videoWidth,
      frames: video.getVideoPlaybackQuality().totalVideoFrames,
      error: video.error?.message ?? null,
      bufferLength: ns.bufferLength,
    };
  });
}

/**
 * Waits until video.currentTime has advanced by `seconds` from where it is now (the element is
 * playing): event-driven, generous timeout.
 */
/**
 * Waits (up to `timeout` ms) for the video element's `ended`, which Chromium sets a moment after
 * the last frame is shown; resolves either way, so callers assert on `state(page).ended`.
 */
export async function settleEnded(page, timeout = 5000) {
  await page.waitForFunction(() => window.t.video.ended, null, { timeout }).catch(() => {});
}

export async function waitForProgress(page, seconds, timeout = 20000) {
  const from = await page.evaluate(() => window.t.video.currentTime);
  try {
    await page.waitForFunction(({ from, seconds }) => window.t.video.currentTime >= from + seconds, { from, seconds }, { timeout, polling: 50 });
  } catch {
    throw new Error(`currentTime did not advance ${seconds} s from ${from} in ${timeout} ms: ${JSON.stringify(await state(page))}\n${(await sequence(page)).join('\n')}`);
  }
  return from;
}

/** Waits until the element plays with data ahead (after a restart); resolves to ns.time then. */
export async function waitForPlaying(page, timeout = 20000) {
  try {
    await page.waitForFunction(() => !window.t.video.paused && window.t.video.readyState >= 3 && window.t.video.currentTime > 0, null, { timeout, polling: 20 });
  } catch {
    throw new Error(`the video did not play within ${timeout} ms: ${JSON.stringify(await state(page))}`);
  }
  return page.evaluate(() => window.t.ns.time);
}

/** Waits until `ns.time` >= seconds. */
export async function waitForTime(page, seconds, timeout = 20000) {
  try {
    await page.waitForFunction((s) => window.t.ns.time >= s, seconds, { timeout, polling: 50 });
  } catch {
    throw new Error(`ns.time did not reach ${seconds} in ${timeout} ms: ${JSON.stringify(await state(page))}\n${(await sequence(page)).join('\n')}`);
  }
}

/** Asserts that `expected` occur in `lines` in this order (other lines may come between). */
export function inOrder(lines, expected) {
  let at = 0;
  for (const line of lines) {
    if (at < expected.length && line === expected[at]) {
      at += 1;
    }
  }
  return at === expected.length;
}
