// A recorded stream (VOD) from the gateway's media folder: playback, seek, and the end of the
// file (onPlayStatus Play.Complete, Play.Stop, and the buffer events around them).

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { codes, launchBrowser, makeClip, openDemo, sleep, startGateway, tempDir, waitForCode } from './harness.mjs';

let gateway;
let browser;

before(async () => {
  gateway = await startGateway();
  mkdirSync(join(gateway.dir, 'media', 'vod'), { recursive: true });
  copyFileSync(makeClip(tempDir('vod'), 8), join(gateway.dir, 'media', 'vod', 'clip.flv'));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
});

test('a recorded file plays, seeks and completes', async () => {
  const page = await openDemo(browser, gateway, { url: `${gateway.ws}/vod`, name: 'clip' });
  await page.click('#play');
  await waitForCode(page, 'NetStream.Buffer.Full', 15000);
  const seen = await codes(page);
  assert.ok(seen.indexOf('NetStream.Play.Reset') < seen.indexOf('NetStream.Play.Start'), JSON.stringify(seen));
  await page.waitForFunction(() => window.demo.ns.info.isLive === false, null, { timeout: 5000 });

  await sleep(1000);
  await page.evaluate(() => {
    window.demo.log.length = 0;
    window.demo.ns.seek(4);
  });
  await waitForCode(page, 'NetStream.Seek.Notify', 5000);
  await waitForCode(page, 'NetStream.Buffer.Full', 10000);
  await sleep(500);
  const afterSeek = await page.evaluate(() => window.demo.ns.time);
  // The keyframe at or before 4 s (GOP of 1 s), played for half a second.
  assert.ok(afterSeek >= 3.4 && afterSeek < 6, `ns.time ${afterSeek} after seek(4)`);

  // Pause and resume: the server resumes from the keyframe before the playhead; the player
  // starts over from there, on the stream's clock.
  await page.evaluate(() => window.demo.ns.pause());
  await waitForCode(page, 'NetStream.Pause.Notify', 5000);
  const pausedAt = await page.evaluate(() => window.demo.ns.time);
  await sleep(1000);
  assert.ok(Math.abs((await page.evaluate(() => window.demo.ns.time)) - pausedAt) < 0.05, 'time moved while paused');
  await page.evaluate(() => {
    window.demo.log.length = 0;
    window.demo.ns.resume();
  });
  await waitForCode(page, 'NetStream.Unpause.Notify', 5000);
  await waitForCode(page, 'NetStream.Buffer.Full', 10000);
  await sleep(300);
  const resumedAt = await page.evaluate(() => window.demo.ns.time);
  assert.ok(resumedAt > pausedAt - 1.1 && resumedAt < pausedAt + 1.5, `paused at ${pausedAt}, resumed at ${resumedAt}`);

  // To the end: Play.Complete (onPlayStatus, also a netStatus), Play.Stop, and the buffer drains.
  const complete = await waitForCode(page, 'NetStream.Play.Complete', 15000);
  assert.equal(complete.info.level, 'status');
  await waitForCode(page, 'NetStream.Play.Stop', 5000);
  await waitForCode(page, 'NetStream.Buffer.Empty', 10000);
  const ending = await codes(page);
  console.log(`resume to the end of the file: ${ending.join(', ')}`);
  assert.equal(ending.filter((code) => code === 'NetStream.Buffer.Flush').length, 1, 'one Buffer.Flush per end');
  const onPlayStatus = await page.evaluate(() => window.demo.log.some((e) => e.info?.onPlayStatus?.code === 'NetStream.Play.Complete'));
  assert.ok(onPlayStatus, 'client.onPlayStatus was not called');
  const end = await page.evaluate(() => window.demo.ns.time);
  assert.ok(end > 7, `ended at ${end}`);
  await page.close();
});
