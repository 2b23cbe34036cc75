// The dashboard: ffmpeg publishes, the demo page plays over WebSocket, and the dashboard page
// (token typed in) shows the stream with its codecs and viewers, a bitrate chart that moves,
// and kicks the player, whose page then reports NetConnection.Connect.Closed.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { artifacts, launchBrowser, makeClip, openDemo, publish, sleep, startGateway, stopProcess, tempDir, waitForCode } from './harness.mjs';

const TOKEN = 'dashboard-test-token';
let gateway;
let browser;
let publisher;

before(async () => {
  const clip = makeClip(tempDir('clip'), 30);
  gateway = await startGateway({ extraConfig: `admin_token = "${TOKEN}"` });
  publisher = publish(clip, `${gateway.rtmp}/live/cam`);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopProcess(publisher);
  await gateway?.stop();
});

test('the dashboard shows a live stream with a moving chart and kicks a client', async () => {
  await sleep(1500);
  const player = await openDemo(browser, gateway, { name: 'cam' });
  await player.click('#play');
  await waitForCode(player, 'NetStream.Play.Start');

  const page = await browser.newPage();
  const messages = [];
  page.on('console', (m) => messages.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => messages.push(`pageerror: ${e.message}`));
  await page.goto(`${gateway.http}/dashboard.html`);
  // No token yet: nothing is asked.
  assert.equal(await page.evaluate(() => window.dashboard.ticks), 0);
  await page.fill('#token', TOKEN);
  await page.click('#save');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('rtmpws-admin-token')), TOKEN);

  try {
    await page.waitForFunction(() => window.dashboard.streams.some((s) => s.name === 'cam' && s.viewers.ws === 1), null, { timeout: 15000, polling: 100 });
  } catch (error) {
    throw new Error(`no stream cam with a WebSocket viewer: ${await page.evaluate(() => JSON.stringify(window.dashboard))}\n${messages.join('\n')}`);
  }
  const facts = await page.textContent('.stream[data-key="live/cam"] .facts');
  assert.match(facts, /H264 640x360/);
  assert.match(facts, /AAC .*44100 Hz/);
  assert.match(facts, /ws 1/);

  // The chart gets a point a second, with the bitrate measured, and its time axis moves on.
  await page.waitForFunction(() => {
    const chart = window.dashboard.charts.get('live/cam');
    return chart && chart.data[0].length >= 4 && chart.data[1].at(-1) > 0 && chart.data[2].at(-1) > 0;
  }, null, { timeout: 20000, polling: 200 });
  const before = await page.evaluate(() => {
    const chart = window.dashboard.charts.get('live/cam');
    return { points: chart.data[0].length, max: chart.scales.x.max, kbps: chart.data[1].at(-1) };
  });
  await sleep(2500);
  const later = await page.evaluate(() => {
    const chart = window.dashboard.charts.get('live/cam');
    return { points: chart.data[0].length, max: chart.scales.x.max, canvas: document.querySelector('.stream[data-key="live/cam"] canvas') !== null };
  });
  assert.ok(later.points > before.points, `points ${before.points} -> ${later.points}`);
  assert.ok(later.max > before.max, `x max ${before.max} -> ${later.max}`);
  assert.ok(later.canvas, 'the chart draws into a canvas');
  assert.ok(before.kbps > 100 && before.kbps < 10000, `kbps in ${before.kbps}`);
  await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: true });

  // The clients table has the publisher and the player; kick the player.
  const rows = await page.$$eval('#clients tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  const wsRow = rows.find((cells) => cells[2] === 'ws');
  assert.ok(wsRow, JSON.stringify(rows));
  assert.ok(rows.some((cells) => cells[2] === 'tcp' && cells[4] === 'publisher'), JSON.stringify(rows));
  await page.click(`#clients tr[data-id="${wsRow[0]}"] button.kick`);
  await waitForCode(player, 'NetConnection.Connect.Closed');
  await page.waitForFunction(() => window.dashboard.streams.some((s) => s.name === 'cam' && s.viewers.total === 0), null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.dashboard.error), null);
  assert.deepEqual(messages.filter((m) => m.startsWith('pageerror')), []);
});
