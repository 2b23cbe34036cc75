// NetConnection.Connect.ReconnectRequest: a gateway that shuts down gracefully (drain_secs,
// reconnect_url) sends its viewers to another one, and the page plays on from there without a
// reload.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, makeClip, publish, sleep, startGateway, stopProcess, tempDir } from './harness.mjs';
import { inOrder, openPlayer, sequence, state, waitForEntry, waitForProgress } from './player.mjs';

let first;
let second;
let browser;
const publishers = [];

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const child of publishers) {
    await stopProcess(child);
  }
  await first?.stop();
  await second?.stop();
});

// Needs the gateway's graceful shutdown (drain_secs, reconnect_url: the enhanced branch);
// without it the first gateway refuses its config.
test('ReconnectRequest moves a playing page to the second gateway', async () => {
  second = await startGateway();
  first = await startGateway({ extraConfig: `drain_secs = 10\nreconnect_url = ${JSON.stringify(`${second.ws}/live`)}` });
  const clip = makeClip(tempDir('reconnect'), 40);
  // The same stream on both gateways, as an encoder feeding two ingest points would.
  publishers.push(publish(clip, `${first.rtmp}/live/cam`), publish(clip, `${second.rtmp}/live/cam`));
  await sleep(1500);
  const page = await openPlayer(browser, first, `${first.ws}/live`);
  const announced = await page.evaluate(() => window.t.nc.uri);
  assert.equal(announced, `${first.ws}/live`);
  await page.evaluate(() => window.t.ns.play('cam'));
  await waitForEntry(page, 'NetStream.Play.Start');
  await waitForProgress(page, 1);

  const from = await page.evaluate(() => window.t.log.length);
  await stopProcess(first.child, 'SIGTERM');
  const request = await waitForEntry(page, 'NetConnection.Connect.ReconnectRequest', { kind: 'nc', from });
  assert.equal(request.entry.info.tcUrl, `${second.ws}/live`);
  const success = await waitForEntry(page, 'NetConnection.Connect.Success', { kind: 'nc', from: request.index });
  await waitForEntry(page, 'NetStream.Play.Start', { from: success.index });
  assert.equal(await page.evaluate(() => window.t.nc.uri), `${second.ws}/live`);
  assert.equal(await page.evaluate(() => window.t.nc.connected), true);

  // Played on from the second gateway: the picture moves, no reload (the log is still there).
  await waitForProgress(page, 2);
  const now = await state(page);
  assert.equal(now.error, null);
  assert.ok(now.frames > 0);
  const lines = await sequence(page, from, ['nc', 'netStatus']);
  assert.ok(inOrder(lines, ['nc NetConnection.Connect.ReconnectRequest', 'nc NetConnection.Connect.Success', 'netStatus NetStream.Play.Start']), lines.join('\n'));
  // The old connection went away quietly: no Connect.Closed or Failed after the request.
  assert.ok(!lines.some((l) => /Connect\.(Closed|Failed)/.test(l)), lines.join('\n'));
  await page.close();
});
