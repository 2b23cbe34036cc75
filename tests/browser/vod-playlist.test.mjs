// Recorded streams one after another in one <video>: a two-item playlist (play with reset
// false, Play.Switch) and a play2 switch between two renditions (Play.Transition, then
// Play.TransitionComplete), each between files of different picture sizes.

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser, startGateway, tempDir } from './harness.mjs';
import { inOrder, makeVideo, mark, openPlayer, playerLog, sequence, state, waitForEntry, waitForProgress } from './player.mjs';

let gateway;
let browser;

before(async () => {
  gateway = await startGateway();
  const media = join(gateway.dir, 'media', 'vod');
  mkdirSync(media, { recursive: true });
  const dir = tempDir('vod-playlist');
  copyFileSync(makeVideo(dir, 'a', { seconds: 3, size: '640x360' }), join(media, 'a.flv'));
  copyFileSync(makeVideo(dir, 'b', { seconds: 3, size: '320x240' }), join(media, 'b.flv'));
  copyFileSync(makeVideo(dir, 'high', { seconds: 8, size: '640x360' }), join(media, 'high.flv'));
  copyFileSync(makeVideo(dir, 'low', { seconds: 8, size: '320x240' }), join(media, 'low.flv'));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

const vod = () => `${gateway.ws}/vod`;

test('a two-item playlist: Play.Switch, Play.Start of b, the video plays on through the switch at b\'s size', async () => {
  const page = await openPlayer(browser, gateway, vod());
  await page.evaluate(() => {
    window.t.ns.play('a', 0, -1, true);
    window.t.ns.play('b', 0, -1, false);
  });
  await waitForEntry(page, 'NetStream.Buffer.Full');
  await page.waitForFunction(() => window.t.video.videoWidth === 640, null, { timeout: 10000 });
  const { index: switchAt, entry: switched } = await waitForEntry(page, 'NetStream.Play.Switch', { kind: 'onPlayStatus', timeout: 20000 });
  assert.equal(switched.info.level, 'status');
  assert.equal(switched.info.details, 'b');
  assert.ok(Math.abs(switched.info.duration - 3) < 0.3, `Play.Switch duration ${switched.info.duration}`);
  assert.ok(switched.info.bytes > 10000, `Play.Switch bytes ${switched.info.bytes}`);
  const { entry: startB } = await waitForEntry(page, 'NetStream.Play.Start', { from: switchAt });
  assert.equal(startB.info.details, 'b');

  // b shows at its own size while the element keeps playing: no restart, no stall.
  await page.waitForFunction(() => window.t.video.videoWidth === 320, null, { timeout: 15000 });
  const atNewSize = await state(page);
  assert.equal(atNewSize.paused, false);
  assert.ok(atNewSize.currentTime > 2.5, `currentTime ${atNewSize.currentTime} when b's picture showed`);
  await waitForProgress(page, 1);

  const { index: stopAt } = await waitForEntry(page, 'NetStream.Play.Stop', { from: switchAt, timeout: 20000 });
  await waitForEntry(page, 'NetStream.Buffer.Empty', { from: stopAt, timeout: 15000 });
  const end = await state(page);
  const log = await playerLog(page);
  const lines = await sequence(page);
  console.log(`playlist a, b: ${lines.join(', ')}`);
  assert.ok(
    inOrder(lines, [
      'netStatus NetStream.Play.Reset',
      'netStatus NetStream.Play.Start',
      'netStatus NetStream.Buffer.Full',
      'onPlayStatus NetStream.Play.Switch',
      'netStatus NetStream.Play.Switch',
      'netStatus NetStream.Play.Start',
      'onPlayStatus NetStream.Play.Complete',
      'netStatus NetStream.Play.Stop',
      'netStatus NetStream.Buffer.Empty',
    ]),
    lines.join('\n'),
  );
  assert.equal(lines.filter((l) => l === 'netStatus NetStream.Play.Reset').length, 1, lines.join('\n'));
  assert.equal(lines.filter((l) => l === 'onPlayStatus NetStream.Play.Switch').length, 1, lines.join('\n'));
  assert.equal(lines.filter((l) => l === 'netStatus NetStream.Buffer.Flush').length, 1, `one end, one Flush: ${lines.join(', ')}`);
  // Nothing ran dry at the switch: the only Buffer.Empty is the end's.
  assert.equal(lines.filter((l) => l === 'netStatus NetStream.Buffer.Empty').length, 1, lines.join('\n'));
  const starts = log.filter((e) => e.code === 'NetStream.Play.Start').map((e) => e.info.details);
  assert.deepEqual(starts, ['a', 'b']);
  const metas = log.filter((e) => e.kind === 'onMetaData').map((e) => e.info.width);
  assert.deepEqual(metas, [640, 320], 'onMetaData of a, then of b');
  // Both items were shown in full, one after the other on the element's clock; ns.time is b's.
  assert.equal(end.error, null);
  assert.ok(end.currentTime > 5.7, `currentTime ${end.currentTime} at the end of a (3 s) + b (3 s)`);
  assert.ok(end.time > 2.7 && end.time < 3.3, `ns.time ${end.time} at the end of b`);
  await page.close();
});

test('play2 switch from high to low: Play.Transition, Play.TransitionComplete, playback goes on at the new size', async () => {
  const page = await openPlayer(browser, gateway, vod());
  await page.evaluate(() => window.t.ns.play('high', 0));
  await waitForEntry(page, 'NetStream.Buffer.Full');
  await page.waitForFunction(() => window.t.video.videoWidth === 640, null, { timeout: 10000 });
  await waitForProgress(page, 1.5);

  const from = await mark(page);
  const before = await state(page);
  await page.evaluate(() => window.t.ns.play2({ streamName: 'low', oldStreamName: 'high', transition: 'switch', start: -1, len: -1, offset: -1 }));
  const { index: transitionAt, entry: transition } = await waitForEntry(page, 'NetStream.Play.Transition', { from });
  assert.equal(transition.info.level, 'status');
  assert.equal(transition.info.details, 'low');
  assert.equal(transition.info.reason, 'NetStream.Transition.Success');
  const { entry: complete } = await waitForEntry(page, 'NetStream.Play.TransitionComplete', { kind: 'onPlayStatus', from: transitionAt, timeout: 15000 });
  assert.equal(complete.info.details, 'low');
  await page.waitForFunction(() => window.t.video.videoWidth === 320, null, { timeout: 15000 });
  const switched = await state(page);
  // The same timeline: the element did not start over, ns.time went on from where it was.
  assert.equal(switched.paused, false);
  assert.ok(switched.currentTime > before.currentTime, `currentTime ${before.currentTime} -> ${switched.currentTime}`);
  assert.ok(switched.time > before.time && switched.time < before.time + 4, `ns.time ${before.time} -> ${switched.time}`);
  await waitForProgress(page, 1);
  const after = await state(page);
  assert.equal(after.error, null);
  assert.equal(after.videoWidth, 320);
  assert.ok(after.time > switched.time + 0.9, `ns.time ${switched.time} -> ${after.time}`);
  const lines = await sequence(page, from);
  console.log(`play2 switch at ns.time ${before.time.toFixed(2)}, low's picture at ${switched.time.toFixed(2)}: ${lines.join(', ')}`);
  assert.ok(inOrder(lines, ['netStatus NetStream.Play.Transition', 'onPlayStatus NetStream.Play.TransitionComplete', 'netStatus NetStream.Play.TransitionComplete']), lines.join('\n'));
  assert.ok(!lines.some((l) => /Empty|Reset|Failed|Invalid|NoSupported/.test(l)), `no rebuffering, no restart: ${lines.join(', ')}`);
  const playing = await page.evaluate(() => window.t.ns.info.resourceName);
  assert.equal(playing, 'low');

  // To the end of low: one Play.Complete for the stream, then Play.Stop.
  const { index: stopAt } = await waitForEntry(page, 'NetStream.Play.Stop', { from, timeout: 20000 });
  await waitForEntry(page, 'NetStream.Buffer.Empty', { from: stopAt, timeout: 15000 });
  const end = await state(page);
  assert.ok(end.time > 7.7 && end.currentTime > 7.7, `ended at ns.time ${end.time}, currentTime ${end.currentTime}`);
  const tail = await sequence(page, from);
  console.log(`play2 to the end: ${tail.join(', ')}`);

  // play2 with transition reset: as play(name, 0, -1, true), the new item from its start.
  const resetFrom = await mark(page);
  await page.evaluate(() => window.t.ns.play2({ streamName: 'high', transition: 'reset', start: 0 }));
  const { index: resetAt } = await waitForEntry(page, 'NetStream.Play.Reset', { from: resetFrom });
  const { entry: restarted } = await waitForEntry(page, 'NetStream.Play.Start', { from: resetAt });
  assert.equal(restarted.info.details, 'high');
  await waitForEntry(page, 'NetStream.Buffer.Full', { from: resetAt });
  await page.waitForFunction(() => window.t.video.videoWidth === 640, null, { timeout: 10000 });
  await waitForProgress(page, 0.5);
  const again = await state(page);
  assert.equal(again.paused, false);
  assert.ok(again.time > 0.3 && again.time < 2.5, `ns.time ${again.time} after play2 reset`);
  console.log(`play2 reset: ${(await sequence(page, resetFrom)).join(', ')}`);
  await page.close();
});
