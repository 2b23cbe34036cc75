// The rest of the ActionScript surface: NetConnection.call with a responder, publishing from the
// browser (WebCodecs) to another browser, NetStream.send, a broken sequence header from a
// publisher, and appendBytes (data generation mode).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { codes, launchBrowser, makeClip, openDemo, publish, sleep, startGateway, stopProcess, tempDir, waitForCode, waitForExit } from './harness.mjs';

let gateway;
let browser;

before(async () => {
  gateway = await startGateway();
  browser = await launchBrowser();
});

const processes = [];

after(async () => {
  await browser?.close();
  for (const child of processes) {
    await stopProcess(child);
  }
  await gateway?.stop();
});

test('NetConnection.call of an unknown method: responder.status and netStatus Call.Failed', async () => {
  const page = await openDemo(browser, gateway);
  const result = await page.evaluate(async (url) => {
    const { NetConnection, Responder } = await import('/pkg/index.js');
    const nc = new NetConnection();
    const events = [];
    nc.addEventListener('netStatus', (e) => events.push(e.info));
    await new Promise((resolve) => {
      nc.addEventListener('netStatus', (e) => e.info.code === 'NetConnection.Connect.Success' && resolve());
      nc.connect(url, 'extra', { arg: 1 });
    });
    const status = await new Promise((resolve) => {
      nc.call('noSuchMethod', new Responder(() => resolve({ unexpected: 'result' }), (info) => resolve(info)), 1, 'two');
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    nc.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { status, codes: events.map((e) => e.code), connected: nc.connected, uri: nc.uri };
  }, `${gateway.ws}/live`);
  assert.equal(result.status.code, 'NetConnection.Call.Failed');
  assert.equal(result.status.level, 'error');
  assert.deepEqual(result.codes, ['NetConnection.Connect.Success', 'NetConnection.Call.Failed', 'NetConnection.Connect.Closed']);
  assert.equal(result.connected, false);
  assert.equal(result.uri, `${gateway.ws}/live`);
  await page.close();
});

test('objectEncoding 3: commands travel in the AMF3 envelope and the server agrees', async () => {
  const page = await openDemo(browser, gateway);
  const result = await page.evaluate(async (url) => {
    const { NetConnection, NetStream } = await import('/pkg/index.js');
    const nc = new NetConnection();
    nc.objectEncoding = 3;
    const events = [];
    nc.addEventListener('netStatus', (e) => events.push(e.info));
    await new Promise((resolve) => {
      nc.addEventListener('netStatus', resolve, { once: true });
      nc.connect(url);
    });
    const ns = new NetStream(nc);
    ns.addEventListener('netStatus', (e) => events.push(e.info));
    ns.play('amf3');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    nc.close();
    return { codes: events.map((e) => e.code), objectEncoding: events[0]?.objectEncoding };
  }, `${gateway.ws}/live`);
  assert.equal(result.objectEncoding, 3);
  assert.deepEqual(result.codes.slice(0, 3), ['NetConnection.Connect.Success', 'NetStream.Play.Reset', 'NetStream.Play.Start']);
  await page.close();
});

test('a browser publishes a canvas with WebCodecs; another browser page plays it', async (t) => {
  const publisherPage = await openDemo(browser, gateway, { name: 'canvas' });
  if (!(await publisherPage.evaluate(() => typeof VideoEncoder === 'function'))) {
    t.skip('no WebCodecs VideoEncoder in this browser');
    return;
  }
  await publisherPage.click('#publish');
  await waitForCode(publisherPage, 'NetStream.Publish.Start');
  await sleep(500);

  const viewer = await openDemo(browser, gateway, { name: 'canvas' });
  await viewer.evaluate(() => {
    window.texts = [];
  });
  await viewer.click('#play');
  await waitForCode(viewer, 'NetStream.Buffer.Full', 15000);
  await viewer.waitForFunction(() => window.demo.metaData !== null, null, { timeout: 5000 });
  const meta = await viewer.evaluate(() => window.demo.metaData);
  assert.equal(meta.width, 640);
  assert.equal(meta.videocodecid, 7);

  // NetStream.send on the publisher reaches the viewer's client.
  await viewer.evaluate(() => {
    window.demo.ns.client.onTextData = (data) => window.texts.push(data);
  });
  await publisherPage.evaluate(() => window.demo.ns.send('onTextData', { text: 'hello', when: new Date(1700000000000) }));
  await viewer.waitForFunction(() => window.texts.length > 0, null, { timeout: 5000 });
  const text = await viewer.evaluate(() => ({ text: window.texts[0].text, when: window.texts[0].when instanceof Date ? window.texts[0].when.getTime() : null }));
  assert.deepEqual(text, { text: 'hello', when: 1700000000000 });

  await sleep(1500);
  const frames = await viewer.evaluate(() => document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames);
  assert.ok(frames > 10, `${frames} frames decoded`);

  await publisherPage.click('#stop');
  await waitForCode(viewer, 'NetStream.Play.UnpublishNotify', 10000);
  await publisherPage.close();
  await viewer.close();
});

test('a publisher sends a garbage AVC sequence header: FileStructureInvalid', async () => {
  const viewer = await openDemo(browser, gateway, { name: 'garbage' });
  await viewer.click('#play');
  await waitForCode(viewer, 'NetStream.Play.Start');
  const publisherPage = await openDemo(browser, gateway);
  await publisherPage.evaluate(async (url) => {
    const { NetConnection, NetStream } = await import('/pkg/index.js');
    const nc = new NetConnection();
    await new Promise((resolve) => {
      nc.addEventListener('netStatus', (e) => e.info.code === 'NetConnection.Connect.Success' && resolve());
      nc.connect(url);
    });
    const ns = new NetStream(nc);
    await new Promise((resolve) => {
      ns.addEventListener('netStatus', (e) => e.info.code === 'NetStream.Publish.Start' && resolve());
      ns.publish('garbage');
    });
    // Keyframe + AVC, sequence header, then a record whose SPS length runs past its end.
    ns.sendMedia('video', 0, Uint8Array.of(0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0x00, 0x40, 0xde, 0xad));
    for (let i = 0; i < 10; i++) {
      ns.sendMedia('video', i * 33, Uint8Array.of(i === 0 ? 0x17 : 0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88));
    }
    window.keep = { nc, ns };
  }, `${gateway.ws}/live`);
  const invalid = await waitForCode(viewer, 'NetStream.Play.FileStructureInvalid', 10000);
  assert.match(invalid.info.description, /AVC sequence header/);
  await publisherPage.close();
  await viewer.close();
});

test('appendBytes (data generation mode) plays FLV bytes given by the page', async () => {
  const clip = readFileSync(makeClip(tempDir('append'), 3));
  const page = await openDemo(browser, gateway);
  const result = await page.evaluate(async (base64) => {
    const { NetConnection, NetStream } = await import('/pkg/index.js');
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const nc = new NetConnection();
    await new Promise((resolve) => {
      nc.addEventListener('netStatus', (e) => e.info.code === 'NetConnection.Connect.Success' && resolve());
      nc.connect(null);
    });
    const ns = new NetStream(nc);
    const events = [];
    let meta = null;
    ns.client = { onMetaData: (m) => (meta = m) };
    ns.addEventListener('netStatus', (e) => events.push(e.info.code));
    const video = document.getElementById('video');
    ns.attachMediaElement(video);
    ns.play(null);
    ns.appendBytesAction('resetBegin');
    // In pieces, as a page fetching a stream would.
    for (let i = 0; i < bytes.length; i += 65536) {
      ns.appendBytes(bytes.subarray(i, i + 65536));
    }
    ns.appendBytesAction('endSequence');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return { events, meta, currentTime: video.currentTime, frames: video.getVideoPlaybackQuality().totalVideoFrames, time: ns.time };
  }, clip.toString('base64'));
  assert.equal(result.meta?.width, 640);
  assert.ok(result.events.includes('NetStream.Buffer.Full'), JSON.stringify(result.events));
  assert.ok(result.currentTime > 0.5, `currentTime ${result.currentTime}`);
  assert.ok(result.frames > 10, `${result.frames} frames`);
  assert.ok(!(await codes(page)).includes('NetStream.Play.FileStructureInvalid'));
  await page.close();
});

test('live: seek is refused by the server, pause and resume rejoin the live edge', async () => {
  const publisher = publish(makeClip(tempDir('pause'), 20), `${gateway.rtmp}/live/pausable`);
  processes.push(publisher);
  await sleep(1000);
  const page = await openDemo(browser, gateway, { name: 'pausable' });
  await page.click('#play');
  await waitForCode(page, 'NetStream.Buffer.Full');
  await sleep(1000);

  await page.evaluate(() => window.demo.ns.seek(5));
  const failed = await waitForCode(page, 'NetStream.Seek.Failed', 5000);
  assert.equal(failed.info.level, 'error');

  await page.evaluate(() => window.demo.ns.pause());
  await waitForCode(page, 'NetStream.Pause.Notify', 5000);
  const pausedAt = await page.evaluate(() => document.getElementById('video').currentTime);
  await sleep(2000);
  const stillAt = await page.evaluate(() => ({ paused: document.getElementById('video').paused, time: document.getElementById('video').currentTime }));
  assert.ok(stillAt.paused);
  assert.ok(Math.abs(stillAt.time - pausedAt) < 0.05, `moved while paused: ${pausedAt} -> ${stillAt.time}`);

  await page.evaluate(() => {
    window.demo.log.length = 0;
    window.demo.ns.resume();
  });
  await waitForCode(page, 'NetStream.Unpause.Notify', 5000);
  await waitForCode(page, 'NetStream.Play.Start', 5000);
  await sleep(3000);
  const after = await page.evaluate(() => ({ time: window.demo.ns.time, bufferLength: window.demo.ns.bufferLength, paused: document.getElementById('video').paused }));
  assert.equal(after.paused, false);
  // Back at the live edge: the stream time shown is close to the publisher's clock, not 2 s
  // behind where it paused.
  const behind = (Date.now() - publisher.startedAt) / 1000 - after.time;
  console.log(`after resume: ${behind.toFixed(2)} s behind the publisher, bufferLength ${after.bufferLength.toFixed(2)} s`);
  assert.ok(behind < 1.5, `${behind} s behind after resume`);
  await page.close();
});

test('a new publisher with another picture size: the player re-initialises and keeps playing', async () => {
  const dir = tempDir('resize');
  const big = makeClip(dir, 4);
  const small = join(dir, 'small.flv');
  const made = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=880:sample_rate=48000', '-t', '6', '-c:v', 'libx264', '-profile:v', 'baseline', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'flv', small]);
  assert.equal(made.status, 0, String(made.stderr));

  const page = await openDemo(browser, gateway, { name: 'resize' });
  await page.click('#play');
  await waitForCode(page, 'NetStream.Play.Start');
  const first = publish(big, `${gateway.rtmp}/live/resize`);
  processes.push(first);
  await waitForCode(page, 'NetStream.Buffer.Full', 15000);
  await page.waitForFunction(() => document.getElementById('video').videoWidth === 640, null, { timeout: 5000 });
  await waitForExit(first, 15000);
  await waitForCode(page, 'NetStream.Play.UnpublishNotify', 10000);

  // The same name again, from a publisher whose timestamps restart at 0 with new codec settings.
  await page.evaluate(() => {
    window.demo.log.length = 0;
  });
  const second = publish(small, `${gateway.rtmp}/live/resize`);
  processes.push(second);
  await waitForCode(page, 'NetStream.Play.PublishNotify', 10000);
  await page.waitForFunction(() => document.getElementById('video').videoWidth === 320, null, { timeout: 10000 });
  const t1 = await page.evaluate(() => window.demo.ns.time);
  await sleep(1500);
  const state = await page.evaluate(() => ({ time: window.demo.ns.time, error: document.getElementById('video').error?.message ?? null, paused: document.getElementById('video').paused }));
  assert.equal(state.error, null);
  assert.equal(state.paused, false);
  // ns.time follows the new publisher's clock (it restarted at 0).
  assert.ok(state.time > t1 + 0.8 && state.time < 7, `ns.time ${t1} -> ${state.time}`);
  assert.ok(!(await codes(page)).some((code) => code.includes('Invalid') || code.includes('NoSupported')));
  await page.close();
});

test('receiveVideo(false) keeps the sound playing; receiveVideo(true) brings the picture back', async () => {
  const publisher = publish(makeClip(tempDir('receive'), 20), `${gateway.rtmp}/live/toggle`);
  processes.push(publisher);
  await sleep(1000);
  const page = await openDemo(browser, gateway, { name: 'toggle' });
  await page.click('#play');
  await waitForCode(page, 'NetStream.Buffer.Full');
  await sleep(1000);
  const progress = async () => {
    const before = await page.evaluate(() => document.getElementById('video').currentTime);
    await sleep(1500);
    return page.evaluate((b) => {
      const video = document.getElementById('video');
      return { advanced: video.currentTime - b, error: video.error?.message ?? null, tracks: video.videoWidth };
    }, before);
  };
  await page.evaluate(() => window.demo.ns.receiveVideo(false));
  await sleep(1500);
  const audioOnly = await progress();
  assert.equal(audioOnly.error, null);
  assert.ok(audioOnly.advanced > 1, `audio only: ${JSON.stringify(audioOnly)}`);
  assert.equal(audioOnly.tracks, 0, 'a picture while receiveVideo(false)');

  await page.evaluate(() => window.demo.ns.receiveVideo(true));
  await page.waitForFunction(() => document.getElementById('video').videoWidth === 640, null, { timeout: 10000 });
  const both = await progress();
  assert.equal(both.error, null);
  assert.ok(both.advanced > 1, `audio and video: ${JSON.stringify(both)}`);
  await page.close();
});
