// Recorded streams (VOD) driven through the NetStream API in the page: play to the end, pause /
// resume / togglePause, seek forward and back, receiveVideo. Each test logs the netStatus and
// onPlayStatus codes the page received, in order.

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser, sleep, startGateway, tempDir } from './harness.mjs';
import { inOrder, makeVideo, mark, openPlayer, playerLog, sequence, state, waitForEntry, waitForPlaying, waitForProgress, settleEnded } from './player.mjs';

let gateway;
let browser;

before(async () => {
  gateway = await startGateway();
  const media = join(gateway.dir, 'media', 'vod');
  mkdirSync(media, { recursive: true });
  const dir = tempDir('vod-control');
  copyFileSync(makeVideo(dir, 'short', { seconds: 4 }), join(media, 'short.flv'));
  copyFileSync(makeVideo(dir, 'ten', { seconds: 10 }), join(media, 'ten.flv'));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

const vod = () => `${gateway.ws}/vod`;

test('VOD to the end: Buffer.Flush, Play.Stop, Buffer.Empty; onPlayStatus Play.Complete; currentTime reaches the duration', async () => {
  const page = await openPlayer(browser, gateway, vod());
  await page.evaluate(() => window.t.ns.play('short', 0));
  await waitForEntry(page, 'NetStream.Buffer.Full');
  const { index: stopIndex, entry: stop } = await waitForEntry(page, 'NetStream.Play.Stop', { timeout: 30000 });
  // The Empty of the end, after Play.Stop (a loaded machine may stall once mid-play too).
  const { entry: empty } = await waitForEntry(page, 'NetStream.Buffer.Empty', { from: stopIndex, timeout: 15000 });
  const lines = await sequence(page);
  console.log(`play to the end: ${lines.join(', ')}`);
  assert.ok(
    inOrder(lines, ['netStatus NetStream.Play.Reset', 'netStatus NetStream.Play.Start', 'netStatus NetStream.Buffer.Full', 'netStatus NetStream.Buffer.Flush', 'netStatus NetStream.Play.Stop', 'netStatus NetStream.Buffer.Empty']),
    lines.join('\n'),
  );
  // One end: one Flush, one Stop, and Empty only after Stop.
  assert.equal(lines.filter((l) => l === 'netStatus NetStream.Buffer.Flush').length, 1, lines.join('\n'));
  assert.equal(lines.filter((l) => l === 'netStatus NetStream.Play.Stop').length, 1, lines.join('\n'));
  const stopAt = lines.indexOf('netStatus NetStream.Play.Stop');
  assert.ok(lines.lastIndexOf('netStatus NetStream.Buffer.Empty') > stopAt, lines.join('\n'));
  assert.ok(lines.indexOf('netStatus NetStream.Buffer.Flush') < stopAt, lines.join('\n'));

  const log = await playerLog(page);
  const complete = log.find((e) => e.kind === 'onPlayStatus' && e.code === 'NetStream.Play.Complete');
  assert.ok(complete, 'client.onPlayStatus(Play.Complete) was not called');
  assert.equal(complete.info.level, 'status');
  assert.ok(Math.abs(complete.info.duration - 4) < 0.3, `duration ${complete.info.duration}`);
  assert.ok(complete.info.bytes > 10000, `bytes ${complete.info.bytes}`);
  const meta = log.find((e) => e.kind === 'onMetaData');
  assert.ok(meta && Math.abs(meta.info.duration - 4) < 0.3, JSON.stringify(meta?.info));
  // Play.Complete and Play.Stop came with the file still playing out its last second.
  assert.ok(stop.currentTime < 3.9, `Play.Stop at currentTime ${stop.currentTime}`);

  // The whole file was shown, its last frames too: the element played to its end.
  await settleEnded(page);
  const end = await state(page);
  assert.equal(end.error, null);
  assert.ok(empty.currentTime > 3.95 && end.currentTime > 3.95, `Buffer.Empty at ${empty.currentTime}, now ${end.currentTime}`);
  assert.ok(end.time > 3.95 && end.time < 4.2, `ns.time ${end.time}`);
  assert.equal(end.ended, true, 'the video element did not reach its end');
  assert.ok(end.frames >= 115, `${end.frames} of 120 frames decoded`);
  await page.close();
});

test('VOD pause(), resume() and togglePause(): the video stops and goes on, ns.time right', async () => {
  const page = await openPlayer(browser, gateway, vod());
  await page.evaluate(() => window.t.ns.play('ten', 0));
  await waitForEntry(page, 'NetStream.Buffer.Full');
  await waitForProgress(page, 1.5);

  const cycle = async (how) => {
    const from = await mark(page);
    await page.evaluate((how) => (how === 'toggle' ? window.t.ns.togglePause() : window.t.ns.pause()), how);
    const { entry: notify } = await waitForEntry(page, 'NetStream.Pause.Notify', { from });
    const paused = await state(page);
    assert.equal(paused.paused, true, 'the element did not pause');
    // Standing still for a second (this wait measures stillness, not speed).
    await sleep(1000);
    const still = await state(page);
    assert.equal(still.paused, true);
    assert.ok(Math.abs(still.currentTime - paused.currentTime) < 0.01, `currentTime moved while paused: ${paused.currentTime} -> ${still.currentTime}`);
    assert.ok(Math.abs(still.time - paused.time) < 0.01, `ns.time moved while paused: ${paused.time} -> ${still.time}`);
    assert.ok(Math.abs(notify.time - paused.time) < 0.2, `ns.time ${notify.time} at Pause.Notify, ${paused.time} after`);

    const resumeFrom = await mark(page);
    await page.evaluate((how) => (how === 'toggle' ? window.t.ns.togglePause() : window.t.ns.resume()), how);
    const { index: unpause } = await waitForEntry(page, 'NetStream.Unpause.Notify', { from: resumeFrom });
    await waitForEntry(page, 'NetStream.Play.Start', { from: unpause });
    // ns.time picks up where it paused (not from 0, not from the keyframe a second earlier).
    const resumed = await state(page);
    assert.ok(resumed.time > still.time - 0.1 && resumed.time < still.time + 0.5, `paused at ${still.time}, ns.time ${resumed.time} at Play.Start`);
    await waitForProgress(page, 1);
    const going = await state(page);
    assert.equal(going.paused, false);
    assert.equal(going.error, null);
    assert.ok(going.time > still.time + 0.9 && going.time < still.time + 2.5, `paused at ${still.time}, ns.time ${going.time} a second after resuming`);
    assert.ok(Math.abs(going.currentTime - going.time) < 0.1, `currentTime ${going.currentTime} vs ns.time ${going.time}`);
    const lines = await sequence(page, from);
    console.log(`${how === 'toggle' ? 'togglePause() twice' : 'pause() / resume()'} at ${still.time.toFixed(2)} s: ${lines.join(', ')}`);
    assert.ok(inOrder(lines, ['netStatus NetStream.Pause.Notify', 'netStatus NetStream.Unpause.Notify', 'netStatus NetStream.Play.Start']), lines.join('\n'));
    for (const code of ['Pause.Notify', 'Unpause.Notify', 'Play.Start']) {
      assert.equal(lines.filter((l) => l === `netStatus NetStream.${code}`).length, 1, `one ${code}: ${lines.join(', ')}`);
    }
    return lines;
  };
  await cycle('pause');
  await waitForProgress(page, 0.5);
  await cycle('toggle');
  await page.close();
});

test('VOD seek forward and back: Seek.Notify, Play.Start, the picture from near the target', async () => {
  const page = await openPlayer(browser, gateway, vod());
  await page.evaluate(() => window.t.ns.play('ten', 0));
  await waitForEntry(page, 'NetStream.Buffer.Full');
  await waitForProgress(page, 1);

  const seek = async (target) => {
    const from = await mark(page);
    await page.evaluate((s) => window.t.ns.seek(s), target);
    const { index: notify, entry } = await waitForEntry(page, 'NetStream.Seek.Notify', { from });
    assert.match(entry.info.description, new RegExp(`Seeking ${target * 1000}`));
    await waitForEntry(page, 'NetStream.Play.Start', { from: notify });
    await waitForEntry(page, 'NetStream.Buffer.Full', { from: notify });
    // ns.time right after the seek: the keyframe at or before the target (1 s GOP).
    const landed = await state(page);
    assert.ok(landed.time >= target - 1.05 && landed.time < target + 0.6, `seek(${target}): ns.time ${landed.time}`);
    await waitForProgress(page, 0.5);
    const now = await state(page);
    assert.equal(now.error, null);
    assert.equal(now.paused, false);
    assert.ok(now.time >= target - 0.5 && now.time < target + 1.8, `seek(${target}): ns.time ${now.time} half a second later`);
    assert.ok(now.currentTime >= target - 0.5 && now.currentTime < target + 1.8, `seek(${target}): currentTime ${now.currentTime} half a second later`);
    const lines = await sequence(page, from);
    console.log(`seek(${target}) -> ns.time ${landed.time.toFixed(2)}: ${lines.join(', ')}`);
    assert.ok(inOrder(lines, ['netStatus NetStream.Seek.Notify', 'netStatus NetStream.Play.Start', 'netStatus NetStream.Buffer.Full']), lines.join('\n'));
    assert.equal(lines.filter((l) => l === 'netStatus NetStream.Play.Start').length, 1, lines.join('\n'));
    // What was buffered before the seek is gone: nothing before the new keyframe.
    const buffered = await page.evaluate(() => {
      const b = window.t.video.buffered;
      return Array.from({ length: b.length }, (_, i) => [b.start(i), b.end(i)]);
    });
    assert.ok(buffered.length >= 1 && buffered[0][0] >= target - 1.1, `buffered ${JSON.stringify(buffered)} after seek(${target})`);
  };
  await seek(6);
  await seek(1);
  await page.close();
});

test('VOD receiveVideo(false) plays sound only, receiveVideo(true) brings the picture back', async () => {
  const page = await openPlayer(browser, gateway, vod());
  await page.evaluate(() => window.t.ns.play('ten', 0));
  await waitForEntry(page, 'NetStream.Buffer.Full');
  await page.waitForFunction(() => window.t.video.videoWidth === 640, null, { timeout: 10000 });
  await waitForProgress(page, 1);
  const before = await state(page);
  await page.evaluate(() => window.t.ns.receiveVideo(false));
  await page.waitForFunction(() => window.t.video.videoWidth === 0, null, { timeout: 10000 });
  const soundFrom = await waitForPlaying(page);
  await waitForProgress(page, 1);
  const audioOnly = await state(page);
  assert.equal(audioOnly.error, null);
  assert.equal(audioOnly.frames, 0, 'pictures while receiveVideo(false)');
  // The element starts over without the video track, and the player has the sound sent again
  // from its playhead: it goes on where it was, without skipping what the server had sent
  // ahead (its 1 s lead).
  assert.ok(soundFrom > before.time && soundFrom < before.time + 0.6, `sound from ${soundFrom} after receiveVideo(false) at ${before.time}`);

  await page.evaluate(() => window.t.ns.receiveVideo(true));
  await page.waitForFunction(() => window.t.video.videoWidth === 640, null, { timeout: 10000 });
  const pictureFrom = await waitForPlaying(page);
  await waitForProgress(page, 1);
  await page.waitForFunction(() => window.t.video.getVideoPlaybackQuality().totalVideoFrames > 20, null, { timeout: 10000 });
  const both = await state(page);
  assert.equal(both.error, null);
  assert.equal(both.paused, false);
  assert.ok(pictureFrom > audioOnly.time && pictureFrom < audioOnly.time + 0.6, `picture from ${pictureFrom} after receiveVideo(true) at ${audioOnly.time}`);
  assert.ok(Math.abs(both.currentTime - both.time) < 0.1, `currentTime ${both.currentTime}, ns.time ${both.time}`);
  const lines = await sequence(page);
  console.log(
    `receiveVideo(false) at ${before.time.toFixed(2)} s: sound only from ${soundFrom.toFixed(2)} s; receiveVideo(true) at ${audioOnly.time.toFixed(2)} s: picture from ${pictureFrom.toFixed(2)} s; events: ${lines.join(', ')}`,
  );
  // The player asked for the media again with seeks of its own; the page, which did not seek,
  // hears none of their statuses.
  assert.ok(!lines.some((l) => /Seek/.test(l)), lines.join('\n'));
  assert.equal(lines.filter((l) => l === 'netStatus NetStream.Play.Start').length, 1, lines.join('\n'));
  // The player rebuilt its buffer twice; the page hears one Buffer.Full, as in Flash.
  assert.equal(lines.filter((l) => l === 'netStatus NetStream.Buffer.Full').length, 1, lines.join('\n'));
  assert.ok(!lines.some((l) => /Invalid|NoSupported|Failed|Empty/.test(l)), lines.join('\n'));
  await page.close();
});
