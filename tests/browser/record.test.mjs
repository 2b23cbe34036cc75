// Recording from the browser: the demo page publishes an animated canvas (WebCodecs H.264,
// video only: Chromium's WebCodecs has no AAC encoder) with publish(name, "record"), sees
// Publish.Start and Record.Start, then on stop Record.Stop and Unpublish.Success; another page
// plays the recording back as a recorded stream (play(name, 0)), seeks in it and plays it to
// the end.

import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { codes, launchBrowser, openDemo, startGateway, waitForCode } from './harness.mjs';
import { inOrder, mark, openPlayer, playerLog, sequence, state, waitForEntry, waitForProgress, settleEnded } from './player.mjs';

let gateway;
let browser;

before(async () => {
  gateway = await startGateway();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

test('a page publishes in record mode; the recording plays back as a recorded stream', async (t) => {
  const publisher = await openDemo(browser, gateway, { url: `${gateway.ws}/live`, name: 'take', publishType: 'record' });
  if (!(await publisher.evaluate(() => typeof VideoEncoder === 'function'))) {
    t.skip('no WebCodecs VideoEncoder in this browser');
    return;
  }
  await publisher.click('#publish');
  await waitForCode(publisher, 'NetStream.Publish.Start');
  const recordStart = await waitForCode(publisher, 'NetStream.Record.Start', 10000);
  assert.equal(recordStart.info.level, 'status');
  // About four seconds of pictures (counted as they leave the encoder, whatever the CPU load).
  await publisher.waitForFunction(() => (window.demo.publisher?.frames ?? 0) >= 120, null, { timeout: 30000, polling: 100 });
  await publisher.click('#stop');
  const recordStop = await waitForCode(publisher, 'NetStream.Record.Stop', 10000);
  assert.equal(recordStop.info.level, 'status');
  await waitForCode(publisher, 'NetStream.Unpublish.Success', 10000);
  const published = (await codes(publisher)).filter((code) => code.startsWith('NetStream.'));
  console.log(`publish(take, "record") then stop: ${published.join(', ')}`);
  assert.deepEqual(published, ['NetStream.Publish.Start', 'NetStream.Record.Start', 'NetStream.Record.Stop', 'NetStream.Unpublish.Success']);
  const file = join(gateway.dir, 'media', 'live', 'take.flv');
  assert.ok(existsSync(file) && statSync(file).size > 50000, `${file} was not written`);
  await publisher.close();

  // Played back from the start as a recorded stream.
  const page = await openPlayer(browser, gateway, `${gateway.ws}/live`);
  await page.evaluate(() => window.t.ns.play('take', 0));
  await waitForEntry(page, 'NetStream.Buffer.Full');
  await waitForProgress(page, 1);
  const playing = await state(page);
  assert.equal(playing.error, null);
  assert.equal(playing.videoWidth, 640);
  assert.ok(playing.frames > 10, `${playing.frames} frames decoded`);
  const isLive = await page.evaluate(() => window.t.ns.info.isLive);
  assert.equal(isLive, false, 'played as a live stream');
  const log = await playerLog(page);
  const meta = log.find((e) => e.kind === 'onMetaData');
  assert.ok(meta, 'no onMetaData');
  assert.equal(meta.info.width, 640);
  // The gateway sends Record.Stop before it rewrites the file with its final metadata
  // (duration, keyframe index); played at once, the recording may still carry the publisher's.
  console.log(`onMetaData of the recording: duration ${meta.info.duration ?? '(not yet: the publisher\'s metadata)'}`);

  // Seekable (the recorder wrote a keyframe index; the encoder makes one every 2 s).
  const from = await mark(page);
  await page.evaluate(() => window.t.ns.seek(2));
  const { index: notify } = await waitForEntry(page, 'NetStream.Seek.Notify', { from });
  await waitForEntry(page, 'NetStream.Play.Start', { from: notify });
  await waitForEntry(page, 'NetStream.Buffer.Full', { from: notify });
  await waitForProgress(page, 0.5);
  const sought = await state(page);
  assert.ok(sought.time >= 1.9 && sought.time < 3.5, `ns.time ${sought.time} after seek(2)`);

  // To the end.
  const { index: stopAt } = await waitForEntry(page, 'NetStream.Play.Stop', { from: notify, timeout: 30000 });
  await waitForEntry(page, 'NetStream.Buffer.Empty', { from: stopAt, timeout: 15000 });
  await settleEnded(page);
  const end = await state(page);
  assert.equal(end.error, null);
  const complete = (await playerLog(page)).find((e) => e.kind === 'onPlayStatus' && e.code === 'NetStream.Play.Complete');
  assert.ok(complete, 'client.onPlayStatus(Play.Complete) was not called');
  const duration = complete.info.duration;
  assert.ok(duration > 3.5, `recorded ${duration} s`);
  assert.ok(meta.info.duration === undefined || Math.abs(meta.info.duration - duration) < 0.3, `onMetaData ${meta.info.duration} s, Play.Complete ${duration} s`);
  assert.ok(complete.info.bytes > 50000, `Play.Complete bytes ${complete.info.bytes}`);
  assert.ok(Math.abs(end.time - duration) < 0.3 && end.ended, `ended at ns.time ${end.time} (element ended: ${end.ended}), recorded ${duration} s`);
  const lines = await sequence(page);
  console.log(`play(take, 0) of the recording (${duration.toFixed(2)} s): ${lines.join(', ')}`);
  assert.ok(
    inOrder(lines, [
      'netStatus NetStream.Play.Reset',
      'netStatus NetStream.Play.Start',
      'netStatus NetStream.Buffer.Full',
      'netStatus NetStream.Seek.Notify',
      'netStatus NetStream.Play.Start',
      'netStatus NetStream.Buffer.Full',
      'netStatus NetStream.Buffer.Flush',
      'onPlayStatus NetStream.Play.Complete',
      'netStatus NetStream.Play.Stop',
      'netStatus NetStream.Buffer.Empty',
    ]),
    lines.join('\n'),
  );
  await page.close();
});
