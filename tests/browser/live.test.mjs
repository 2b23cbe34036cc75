// A live stream end to end: ffmpeg publishes over TCP, the demo page plays it over WebSocket.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, codes, launchBrowser, makeClip, openDemo, publish, sleep, startGateway, stopProcess, tempDir, waitForCode, waitForExit } from './harness.mjs';

let gateway;
let browser;
let publisher;
let clip;

before(async () => {
  clip = makeClip(tempDir('clip'), 20);
  gateway = await startGateway();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopProcess(publisher);
  await gateway?.stop();
});

/** Median of numbers. */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

test('plays a live stream published by ffmpeg, then reports its end', async () => {
  publisher = publish(clip, `${gateway.rtmp}/live/cam`);
  // Let the gateway's GOP cache fill, as for a viewer joining a running stream.
  await sleep(1500);
  const page = await openDemo(browser, gateway, { name: 'cam' });
  await page.click('#play');

  await waitForCode(page, 'NetStream.Buffer.Full');
  const seen = await codes(page);
  const order = ['NetConnection.Connect.Success', 'NetStream.Play.Reset', 'NetStream.Play.Start', 'NetStream.Buffer.Full'].map((code) => seen.indexOf(code));
  assert.ok(order.every((index, i) => index >= 0 && (i === 0 || index > order[i - 1])), `order of ${JSON.stringify(seen)}`);

  // The info objects are the server's, every field included.
  const start = await page.evaluate(() => window.demo.log.find((e) => e.info?.code === 'NetStream.Play.Start').info);
  assert.equal(start.level, 'status');
  assert.equal(start.details, 'cam');
  const success = await page.evaluate(() => window.demo.log.find((e) => e.info?.code === 'NetConnection.Connect.Success').info);
  assert.ok('clientid' in success && 'description' in success, JSON.stringify(success));

  await page.waitForFunction(() => window.demo.metaData !== null, null, { timeout: 5000 });
  const meta = await page.evaluate(() => window.demo.metaData);
  assert.equal(meta.width, 640);
  assert.equal(meta.height, 360);

  await page.waitForFunction(() => window.demo.firstPlayingMs !== null, null, { timeout: 10000 });
  const firstPlayingMs = await page.evaluate(() => window.demo.firstPlayingMs);

  const t1 = await page.evaluate(() => document.getElementById('video').currentTime);
  await sleep(1500);
  const state = await page.evaluate(() => {
    const video = document.getElementById('video');
    return { currentTime: video.currentTime, frames: video.getVideoPlaybackQuality().totalVideoFrames, error: video.error?.message ?? null };
  });
  assert.equal(state.error, null);
  assert.ok(state.currentTime > t1 + 0.8, `currentTime went from ${t1} to ${state.currentTime}`);
  assert.ok(state.frames > 0, 'no decoded frames');

  // The picture is not blank: sample it through a canvas, and keep a screenshot.
  const picture = await page.evaluate(() => {
    const video = document.getElementById('video');
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(video, 0, 0);
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let sum = 0;
    let sumSquares = 0;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4 * 97) {
      const luma = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
      sum += luma;
      sumSquares += luma * luma;
      colours.add((data[i] >> 4) * 256 + (data[i + 1] >> 4) * 16 + (data[i + 2] >> 4));
    }
    const n = data.length / (4 * 97);
    return { width: canvas.width, height: canvas.height, variance: sumSquares / n - (sum / n) ** 2, colours: colours.size };
  });
  assert.equal(picture.width, 640);
  assert.equal(picture.height, 360);
  assert.ok(picture.variance > 100 && picture.colours > 8, `blank picture: ${JSON.stringify(picture)}`);
  const screenshot = join(artifacts, 'live.png');
  await page.locator('#video').screenshot({ path: screenshot });

  // seek("asdasdas") is rejected by the player itself.
  await page.evaluate(() => window.demo.ns.seek('asdasdas'));
  const invalid = await waitForCode(page, 'NetStream.InvalidArg', 3000);
  assert.equal(invalid.info.level, 'error');
  // So is a negative bufferTime, which leaves the old value.
  const bufferTime = await page.evaluate(() => {
    window.demo.log.length = 0;
    window.demo.ns.bufferTime = -1;
    return window.demo.ns.bufferTime;
  });
  assert.equal(bufferTime, 0.1);
  await waitForCode(page, 'NetStream.InvalidArg', 3000);

  // Live latency over the rest of the clip: ffmpeg -re started the stream at publisher.startedAt,
  // so wall clock since then minus ns.time is how far behind the picture is (an upper bound:
  // it includes ffmpeg's own start-up). playbackLatency is the player's share (arrival to screen).
  const samples = [];
  while (publisher.exitCode === null && samples.length < 14) {
    const now = Date.now();
    const sample = await page.evaluate(() => {
      const ns = window.demo.ns;
      const info = ns.info;
      return { time: ns.time, bufferLength: ns.bufferLength, player: info.playbackLatency, fps: ns.currentFPS, rate: info.playbackRate };
    });
    samples.push({ ...sample, endToEnd: (now - publisher.startedAt) / 1000 - sample.time });
    await sleep(1000);
  }
  const steady = samples.slice(3);
  const endToEnd = median(steady.map((s) => s.endToEnd));
  const player = median(steady.map((s) => s.player));
  const buffer = median(steady.map((s) => s.bufferLength));
  console.log(`play() -> first 'playing': ${firstPlayingMs.toFixed(0)} ms`);
  console.log(`steady live latency (median of ${steady.length} samples): end-to-end ${endToEnd.toFixed(3)} s (from ffmpeg start, upper bound), player ${player.toFixed(3)} s, bufferLength ${buffer.toFixed(3)} s`);
  console.log(`  of which ffmpeg start-up + gateway + WebSocket (end-to-end minus player): ${(endToEnd - player).toFixed(3)} s`);
  console.log(`latency samples: ${steady.map((s) => s.endToEnd.toFixed(2)).join(' ')}`);
  console.log(`screenshot: ${screenshot}`);
  assert.ok(steady.length >= 5, `only ${steady.length} samples`);
  assert.ok(endToEnd < 2.0, `end-to-end latency ${endToEnd}`);
  // No creep: whatever stalls happen (this machine is shared), the player never keeps more than
  // bufferTime + 1 s (its jump threshold) between the playhead and the newest media; the extra
  // 0.4 s covers sampling between two of its checks.
  const worst = Math.max(...steady.map((s) => s.bufferLength));
  assert.ok(worst < 0.1 + 1.0 + 0.4, `bufferLength reached ${worst} s`);

  const fps = median(steady.map((s) => s.fps));
  console.log(`currentFPS (median): ${fps.toFixed(1)}`);
  assert.ok(fps > 20, `currentFPS ${fps}`);
  // Memory stays flat: media more than ~10 s behind the playhead is removed.
  const kept = await page.evaluate(() => {
    const video = document.getElementById('video');
    return { start: video.buffered.start(0), currentTime: video.currentTime };
  });
  console.log(`buffered from ${kept.start.toFixed(2)} s with the playhead at ${kept.currentTime.toFixed(2)} s`);
  assert.ok(kept.currentTime < 12 || kept.start > kept.currentTime - 12.5, JSON.stringify(kept));

  // Rebuffering during steady playback (each is a Buffer.Empty then Buffer.Full).
  const rebuffers = (await codes(page)).filter((code) => code === 'NetStream.Buffer.Empty').length;
  console.log(`rebuffers during ${samples.length} s of steady playback: ${rebuffers}`);

  // The publisher finishes the clip: subscribers hear UnpublishNotify.
  await page.evaluate(() => {
    window.demo.log.length = 0;
  });
  await waitForExit(publisher, 25000);
  await waitForCode(page, 'NetStream.Play.UnpublishNotify', 10000);
  // What was buffered plays out: Buffer.Flush (if media was left), then Buffer.Empty.
  await waitForCode(page, 'NetStream.Buffer.Empty', 5000);
  const tail = await codes(page);
  console.log(`end of stream: ${tail.slice(-4).join(', ')}`);
  assert.deepEqual(page.messages.filter((m) => m.startsWith('pageerror')), []);
});
