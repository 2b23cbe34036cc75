// Enhanced RTMP in the browser: FFmpeg 9 publishes AV1, VP9 and HEVC with Opus, Chromium plays
// what its MSE can (AV1, VP9, Opus) and names what it cannot (HEVC); a page publishes canvas +
// WebAudio as AV1/VP9 + Opus and FFmpeg 9 decodes it from the gateway.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ffmpeg9, launchBrowser, makeEnhancedClip, publish9, sleep, startGateway, stopProcess, tempDir } from './harness.mjs';
import { openDemo } from './harness.mjs';
import { openPlayer, playerLog, sequence, state, waitForEntry, waitForProgress } from './player.mjs';

let gateway;
let browser;
let dir;
const publishers = [];

before(async () => {
  dir = tempDir('enhanced');
  gateway = await startGateway();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const child of publishers) {
    await stopProcess(child);
  }
  await gateway?.stop();
});

/**
 * Publishes a looping FFmpeg 9 clip as `name`. The page plays first and the publisher starts
 * after (Play.PublishNotify), so the sequence starts reach it live, not from the GOP cache.
 */
function publishClip(video, name) {
  const clip = makeEnhancedClip(dir, video, 6);
  const child = publish9(clip, `${gateway.rtmp}/live/${name}`, { loop: true });
  publishers.push(child);
  return child;
}

/** What the element has decoded: video frames, audio bytes, the playhead. */
async function decoded(page) {
  return page.evaluate(() => {
    const video = window.t.video;
    return {
      frames: video.getVideoPlaybackQuality().totalVideoFrames,
      audioBytes: video.webkitAudioDecodedByteCount ?? 0,
      currentTime: video.currentTime,
      videoWidth: video.videoWidth,
      error: video.error?.message ?? null,
    };
  });
}

for (const [video, fourcc] of [
  ['av1', 'av01'],
  ['vp9', 'vp09'],
]) {
  test(`plays ${video.toUpperCase()} + Opus published by FFmpeg 9, both tracks`, async () => {
    const name = `${video}-opus`;
    const page = await openPlayer(browser, gateway, `${gateway.ws}/live`);
    await page.evaluate((n) => window.t.ns.play(n), name);
    await waitForEntry(page, 'NetStream.Play.Start');
    const child = publishClip(video, name);
    await waitForProgress(page, 1.5);
    const now = await decoded(page);
    assert.equal(now.error, null);
    assert.ok(now.frames > 10, `only ${now.frames} frames decoded`);
    assert.equal(now.videoWidth, 320);
    assert.ok(now.audioBytes > 0, 'no audio decoded');
    const log = await playerLog(page);
    const meta = log.find((e) => e.kind === 'onMetaData')?.info;
    assert.ok(meta, 'no onMetaData');
    assert.equal(meta.width, 320);
    // FFmpeg names the codec by FourCC (a number: the FourCC's four bytes).
    assert.ok(meta.videocodecid !== undefined && meta.audiocodecid !== undefined, JSON.stringify(meta));
    const problems = log.filter((e) => e.info?.level === 'error').map((e) => e.code);
    assert.deepEqual(problems, [], `errors for ${fourcc}: ${problems}`);
    await page.close();
    await stopProcess(child);
  });
}

test('HEVC + Opus: the video is named unplayable once, the audio plays', async () => {
  const name = 'hevc-opus';
  const page = await openPlayer(browser, gateway, `${gateway.ws}/live`);
  await page.evaluate((n) => window.t.ns.play(n), name);
  await waitForEntry(page, 'NetStream.Play.Start');
  const child = publishClip('hevc', name);
  const { entry } = await waitForEntry(page, 'NetStream.Play.NoSupportedTrackFound');
  assert.equal(entry.info.details, 'hvc1');
  assert.equal(entry.info.level, 'error');
  assert.match(entry.info.description, /hevc-opus/);
  await waitForProgress(page, 1.5);
  const now = await decoded(page);
  assert.ok(now.audioBytes > 0, `no audio decoded: ${JSON.stringify(now)}`);
  assert.equal(now.frames, 0);
  assert.equal(now.videoWidth, 0);
  const reports = (await sequence(page)).filter((line) => line.endsWith('NoSupportedTrackFound'));
  assert.equal(reports.length, 1, `reported ${reports.length} times`);
  await page.close();
  await stopProcess(child);
});

/**
 * A page that publishes a moving canvas and a 440 Hz oscillator (WebAudio) as `name`; resolves
 * once Publish.Start came. `window.p` keeps its log.
 */
async function openPublisher(name, { videoCodec, type = 'live' }) {
  const page = await openDemo(browser, gateway);
  await page.evaluate(
    async ({ url, name, videoCodec, type }) => {
      const { NetConnection, NetStream } = await import('/pkg/index.js');
      const p = { log: [] };
      window.p = p;
      const canvas = document.createElement('canvas');
      canvas.width = 320;
      canvas.height = 240;
      const ctx = canvas.getContext('2d');
      let n = 0;
      p.timer = setInterval(() => {
        n += 1;
        ctx.fillStyle = `hsl(${(n * 7) % 360} 80% 50%)`;
        ctx.fillRect(0, 0, 320, 240);
        ctx.fillStyle = '#fff';
        ctx.fillRect((n * 4) % 300, 100, 20, 40);
      }, 33);
      const audio = new AudioContext();
      const osc = audio.createOscillator();
      osc.frequency.value = 440;
      const dest = audio.createMediaStreamDestination();
      osc.connect(dest);
      osc.start();
      await audio.resume();
      const stream = new MediaStream([...canvas.captureStream(30).getVideoTracks(), ...dest.stream.getAudioTracks()]);
      const nc = new NetConnection();
      nc.addEventListener('netStatus', (e) => p.log.push(e.info.code));
      await new Promise((resolve, reject) => {
        nc.addEventListener('netStatus', (e) => (e.info.code === 'NetConnection.Connect.Success' ? resolve() : e.info.level === 'error' && reject(new Error(e.info.code))));
        nc.connect(url);
      });
      const ns = new NetStream(nc);
      ns.addEventListener('netStatus', (e) => p.log.push(e.info.code));
      ns.attachMediaStream(stream, { videoCodec, keyframeInterval: 1 });
      ns.publish(name, type);
      p.nc = nc;
      p.ns = ns;
      await new Promise((resolve, reject) => {
        ns.addEventListener('netStatus', (e) => (e.info.code === 'NetStream.Publish.Start' ? resolve() : e.info.level === 'error' && reject(new Error(e.info.code))));
      });
    },
    { url: `${gateway.ws}/live`, name, videoCodec, type },
  );
  return page;
}

/**
 * FFmpeg 9 plays rtmp://gateway/live/NAME for `seconds` and decodes it: resolves to what its
 * stderr says (input codecs, video frames, decoded audio size).
 */
function playWithFfmpeg9(url, seconds) {
  // FFmpeg announces nothing when it plays: the info maps go in as a connect argument, where
  // the gateway reads them, so it is treated as the enhanced client it is.
  const conn = 'O:1 NN:capsEx:1 NO:videoFourCcInfoMap:1 NN:*:7 O:0 NO:audioFourCcInfoMap:1 NN:*:7 O:0 O:0';
  const input = url.startsWith('rtmp:') ? ['-rtmp_conn', conn, '-i', url, '-t', String(seconds)] : ['-i', url];
  const child = spawn(ffmpeg9(), ['-hide_banner', ...input, '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
  publishers.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => stopProcess(child), (seconds + 20) * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const frames = [...stderr.matchAll(/frame=\s*(\d+)/g)].map((m) => Number(m[1]));
      const audio = /audio:\s*([\d.]+)\s*[kK]i?B/.exec(stderr);
      resolve({
        code,
        stderr,
        video: /Stream #\d+:\d+.*: Video: (\w+)/.exec(stderr)?.[1] ?? null,
        audio: /Stream #\d+:\d+.*: Audio: (\w+)/.exec(stderr)?.[1] ?? null,
        frames: frames.length ? Math.max(...frames) : 0,
        audioKiB: audio ? Number(audio[1]) : 0,
      });
    });
  });
}

for (const [videoCodec, ffmpegName] of [
  ['av1', 'av1'],
  ['vp9', 'vp9'],
]) {
  test(`a page publishes canvas + WebAudio as ${videoCodec.toUpperCase()} + Opus; FFmpeg 9 decodes both`, async () => {
    const name = `page-${videoCodec}`;
    const page = await openPublisher(name, { videoCodec });
    await sleep(2500);
    const result = await playWithFfmpeg9(`${gateway.rtmp}/live/${name}`, 3);
    const tail = result.stderr.split('\n').slice(-15).join('\n');
    assert.equal(result.video, ffmpegName, tail);
    assert.equal(result.audio, 'opus', tail);
    assert.ok(result.frames >= 30, `${result.frames} frames\n${tail}`);
    assert.ok(result.audioKiB > 0, `no audio decoded\n${tail}`);
    const log = await page.evaluate(() => window.p.log);
    assert.ok(!log.includes('NetStream.Failed'), JSON.stringify(log));
    await page.close();
  });
}

test('a page records AV1 + Opus: the file holds both tracks (FFmpeg 9 decodes it)', async () => {
  const name = `rec-file-${Date.now()}`;
  const publisher = await openPublisher(name, { videoCodec: 'av1', type: 'record' });
  await sleep(3000);
  await publisher.evaluate(() => {
    window.p.ns.publish(null);
    clearInterval(window.p.timer);
  });
  await sleep(1000);
  await publisher.close();
  const result = await playWithFfmpeg9(join(gateway.dir, 'media', 'live', `${name}.flv`), 0);
  const tail = result.stderr.split('\n').slice(-15).join('\n');
  assert.equal(result.code, 0, tail);
  assert.equal(result.video, 'av1', tail);
  assert.equal(result.audio, 'opus', tail);
  assert.ok(result.frames >= 45, `${result.frames} frames\n${tail}`);
  assert.ok(result.audioKiB > 0, tail);
});

// Needs the gateway's recorded-stream player to read enhanced tags (the enhanced branch's
// recording/VOD work): until then it answers "has no H.264 video or AAC audio track".
test('a page records AV1 + Opus; the recording plays back with sound', async () => {
  const name = `rec-${Date.now()}`;
  const publisher = await openPublisher(name, { videoCodec: 'av1', type: 'record' });
  await sleep(4000);
  await publisher.evaluate(() => {
    window.p.ns.publish(null);
    clearInterval(window.p.timer);
  });
  await sleep(1000);
  await publisher.close();

  const page = await openPlayer(browser, gateway, `${gateway.ws}/live`);
  await page.evaluate((n) => window.t.ns.play(n, 0), name);
  await waitForEntry(page, 'NetStream.Play.Start').catch(async (error) => {
    throw new Error(`${error.message}\n${JSON.stringify((await playerLog(page)).map((e) => e.info))}`);
  });
  await waitForProgress(page, 1.5);
  const now = await decoded(page);
  assert.ok(now.frames > 10, JSON.stringify(now));
  assert.equal(now.videoWidth, 320);
  assert.ok(now.audioBytes > 0, `no audio decoded: ${JSON.stringify(now)}`);
  assert.equal((await state(page)).error, null);
  await page.close();
});
