// Remote shared objects between two Chromium pages through the gateway, and calls both ways:
// nc.call to an application with call_url, and the admin API calling a page's nc.client.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { launchBrowser, openDemo, startGateway } from './harness.mjs';

const TOKEN = 'so-web-admin-token-0123';
let gateway;
let browser;
let backend;
const backendCalls = [];

before(async () => {
  backend = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const call = JSON.parse(body);
      backendCalls.push(call);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ result: { sum: call.args[0] + call.args[1], method: call.method } }));
    });
  });
  await new Promise((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const port = backend.address().port;
  gateway = await startGateway({
    extraConfig: [`admin_token = "${TOKEN}"`, '[apps.live]', '[apps.ro]', 'so_write = "deny"', '[apps.closed]', 'so_read = "deny"', '[apps.calls]', `call_url = "http://127.0.0.1:${port}/call"`].join('\n'),
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gateway?.stop();
  await new Promise((resolve) => backend?.close(resolve));
});

/** A page connected to `app` with one shared object `name`; its log is window.so.log. */
async function soPage(app, name, { encoding = 0 } = {}) {
  const page = await openDemo(browser, gateway);
  await page.evaluate(
    async ({ url, name, encoding }) => {
      const { NetConnection, SharedObject } = await import('/pkg/index.js');
      const nc = new NetConnection();
      nc.objectEncoding = encoding;
      const log = [];
      nc.client = {
        whoAreYou: (q) => ({ name: 'page', q }),
        later: async (n) => {
          await new Promise((resolve) => setTimeout(resolve, 50));
          return n * 2;
        },
      };
      await new Promise((resolve, reject) => {
        nc.addEventListener('netStatus', (e) => (e.info.code === 'NetConnection.Connect.Success' ? resolve() : reject(new Error(e.info.code))));
        nc.connect(url);
      });
      const so = SharedObject.getRemote(name, url, false);
      so.client = { onChat: (...args) => log.push({ message: args }) };
      so.addEventListener('sync', (e) => log.push({ sync: e.changeList, data: { ...so.data }, at: performance.now() }));
      so.addEventListener('netStatus', (e) => log.push({ status: e.info.code }));
      const first = new Promise((resolve) => so.addEventListener('sync', resolve, { once: true }));
      so.connect(nc);
      await first;
      window.so = { nc, so, log, SharedObject };
    },
    { url: `${gateway.ws}/${app}`, name, encoding },
  );
  return page;
}

/** The syncs in the log from `from` on, as `[code, name, oldValue]` lists. */
const syncs = (page, from = 0) => page.evaluate((f) => window.so.log.slice(f).filter((e) => e.sync).map((e) => e.sync.map((c) => [c.code, c.name, c.oldValue])), from);
const logLength = (page) => page.evaluate(() => window.so.log.length);
const data = (page) => page.evaluate(() => ({ ...window.so.so.data }));

async function until(page, fn, arg, what) {
  try {
    await page.waitForFunction(fn, arg, { timeout: 10000, polling: 20 });
  } catch {
    throw new Error(`${what}; log: ${JSON.stringify(await page.evaluate(() => window.so.log))}`);
  }
}

for (const encoding of [0, 3]) {
  test(`objectEncoding ${encoding}: change, success, reject, send, delete and clear between two pages`, async () => {
    const name = `room${encoding}`;
    const a = await soPage('live', name, { encoding });
    const b = await soPage('live', name, { encoding });
    assert.equal(await a.evaluate(() => window.so.so.objectEncoding), encoding);
    // The first sync of a fresh non-persistent object starts with clear.
    assert.deepEqual((await syncs(a))[0][0], ['clear', '', undefined]);

    // A change on one page: the other sees change with the value, its author success.
    let fromA = await logLength(a);
    let fromB = await logLength(b);
    await a.evaluate(() => window.so.so.setProperty('topic', { text: 'rust', n: 1 }));
    assert.deepEqual(await a.evaluate(() => window.so.so.data.topic), { text: 'rust', n: 1 }, 'data changes at once');
    await until(b, (f) => window.so.log.slice(f).some((e) => e.sync?.some((c) => c.code === 'change')), fromB, 'no change on b');
    await until(a, (f) => window.so.log.slice(f).some((e) => e.sync?.some((c) => c.code === 'success')), fromA, 'no success on a');
    assert.deepEqual(await syncs(b, fromB), [[['change', 'topic', undefined]]]);
    assert.deepEqual(await syncs(a, fromA), [[['success', 'topic', undefined]]]);
    assert.deepEqual(await data(b), { topic: { text: 'rust', n: 1 } });

    // Both change the same slot at the same moment (a timer on each page, for one instant of
    // the shared clock): one of them is rejected, with the value it had set as oldValue, and
    // both converge on the winner's value. Two pages cannot be made to fire in the same
    // microsecond, so when one page's change was seen by the other before it sent its own (both
    // succeed, in turn), the attempt is made again on a fresh slot.
    let conflicts = 0;
    for (let attempt = 0; attempt < 5 && conflicts === 0; attempt++) {
      const slot = `turn${attempt}`;
      fromA = await logLength(a);
      fromB = await logLength(b);
      const at = Date.now() + 300;
      const set = (page, value) => page.evaluate(({ slot, value, at }) => setTimeout(() => window.so.so.setProperty(slot, value), at - Date.now()), { slot, value, at });
      await Promise.all([set(a, 'a'), set(b, 'b')]);
      const settled = ({ f, slot }) => window.so.log.slice(f).some((e) => e.sync?.some((c) => c.name === slot && c.code !== 'change'));
      await until(a, settled, { f: fromA, slot }, `a has no answer for ${slot}`);
      await until(b, settled, { f: fromB, slot }, `b has no answer for ${slot}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const changesOf = async (page, from) => (await syncs(page, from)).flat().filter((c) => c[1] === slot);
      const [changesA, changesB] = [await changesOf(a, fromA), await changesOf(b, fromB)];
      const [dataA, dataB] = [await data(a), await data(b)];
      assert.equal(dataA[slot], dataB[slot], `both pages hold the same value: a ${JSON.stringify(changesA)}, b ${JSON.stringify(changesB)}`);
      const rejects = [...changesA, ...changesB].filter((c) => c[0] === 'reject');
      assert.ok(rejects.length <= 1, `at most one reject: a ${JSON.stringify(changesA)}, b ${JSON.stringify(changesB)}`);
      if (rejects.length === 1) {
        conflicts++;
        const [loser, winner, loserValue] = changesA.some((c) => c[0] === 'reject') ? [changesA, changesB, 'a'] : [changesB, changesA, 'b'];
        // The loser may also see the winner's change go by; it never sees success.
        assert.ok(!loser.some((c) => c[0] === 'success'), `the loser got no success: ${JSON.stringify(loser)}`);
        assert.ok(winner.some((c) => c[0] === 'success'), `the winner got success: ${JSON.stringify(winner)}`);
        assert.equal(rejects[0][2], loserValue, 'oldValue is the value the loser had set');
        assert.equal(dataA[slot], loserValue === 'a' ? 'b' : 'a', "the current value is the winner's");
      }
    }
    assert.equal(conflicts, 1, 'two changes at the same moment made a conflict');

    // send reaches both pages' so.client, the sender's included.
    await a.evaluate(() => window.so.so.send('onChat', 'hello', 2));
    for (const page of [a, b]) {
      await until(page, () => window.so.log.some((e) => e.message), null, 'no message');
      assert.deepEqual(await page.evaluate(() => window.so.log.filter((e) => e.message).map((e) => e.message)), [['hello', 2]]);
    }

    // A delete (setProperty with null) is a delete on the other page.
    fromB = await logLength(b);
    await a.evaluate(() => window.so.so.setProperty('topic', null));
    await until(b, (f) => window.so.log.slice(f).some((e) => e.sync?.some((c) => c.code === 'delete')), fromB, 'no delete on b');
    assert.deepEqual(await syncs(b, fromB), [[['delete', 'topic', { text: 'rust', n: 1 }]]]);
    assert.equal('topic' in (await data(b)), false);

    // fps 2: the first change goes at once, the two set within the next half second wait
    // and go together, one request (one sync on the other page) half a second after it.
    await a.evaluate(() => (window.so.so.fps = 2));
    await new Promise((resolve) => setTimeout(resolve, 600));
    fromB = await logLength(b);
    await a.evaluate(async () => {
      const so = window.so.so;
      const pause = () => new Promise((resolve) => setTimeout(resolve, 100));
      so.setProperty('x', 1);
      await pause();
      so.setProperty('y', 2);
      await pause();
      so.setProperty('x', 3);
    });
    await until(b, (f) => window.so.log.slice(f).filter((e) => e.sync).length >= 2, fromB, 'no second batch on b');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(await syncs(b, fromB), [[['change', 'x', undefined]], [['change', 'y', undefined], ['change', 'x', 1]]]);
    const [first, second] = await b.evaluate((f) => window.so.log.slice(f).filter((e) => e.sync).map((e) => e.at), fromB);
    assert.ok(second - first >= 400, `the batch waited for its turn: ${second - first} ms`);
    assert.deepEqual([(await data(b)).x, (await data(b)).y], [3, 2]);
    await a.evaluate(() => (window.so.so.fps = Infinity));

    // The admin API sets a slot: both pages see change; clearing the object is clear.
    fromA = await logLength(a);
    fromB = await logLength(b);
    const api = `${gateway.http}/api/v1/apps/live/shared_objects/${name}`;
    const auth = { authorization: `Bearer ${TOKEN}` };
    const put = await fetch(`${api}/slots/news`, { method: 'PUT', headers: auth, body: JSON.stringify({ value: 'from the server' }) });
    assert.equal(put.status, 200, await put.text());
    for (const [page, from] of [[a, fromA], [b, fromB]]) {
      await until(page, (f) => window.so.log.slice(f).some((e) => e.sync?.some((c) => c.name === 'news')), from, 'no news');
      assert.deepEqual(await syncs(page, from), [[['change', 'news', undefined]]]);
      assert.equal((await data(page)).news, 'from the server');
    }
    fromB = await logLength(b);
    const del = await fetch(api, { method: 'DELETE', headers: auth });
    assert.ok(del.ok, `DELETE ${del.status}`);
    await until(b, (f) => window.so.log.slice(f).some((e) => e.sync?.some((c) => c.code === 'clear')), fromB, 'no clear on b');
    assert.deepEqual(await data(b), {});

    // close() unsubscribes: the page gets nothing more.
    await b.evaluate(() => window.so.so.close());
    fromB = await logLength(b);
    const fromA2 = await logLength(a);
    await a.evaluate(() => window.so.so.setProperty('after', 1));
    await until(a, (f) => window.so.log.slice(f).some((e) => e.sync?.some((c) => c.name === 'after')), fromA2, 'no answer for after');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await logLength(b), fromB);
    await a.close();
    await b.close();
  });
}

test('SharedObject.connect to a NetConnection of another URI: netStatus SharedObject.UriMismatch', async () => {
  const page = await soPage('live', 'mismatch');
  const code = await page.evaluate(async () => {
    const so = window.so.SharedObject.getRemote('other', 'ws://127.0.0.1:1/elsewhere', false);
    const status = new Promise((resolve) => so.addEventListener('netStatus', (e) => resolve(e.info.code)));
    so.connect(window.so.nc);
    return status;
  });
  assert.equal(code, 'SharedObject.UriMismatch');
  assert.equal(await page.evaluate(() => window.so.SharedObject.getRemote('mismatch', window.so.nc.uri, false) === window.so.so), true);
  await page.close();
});

test('access refused by the server: netStatus NoReadAccess, NoWriteAccess, BadPersistence on the SharedObject', async () => {
  const page = await openDemo(browser, gateway);
  const result = await page.evaluate(async (ws) => {
    const { NetConnection, SharedObject } = await import('/pkg/index.js');
    const connect = (url) =>
      new Promise((resolve) => {
        const nc = new NetConnection();
        nc.addEventListener('netStatus', (e) => e.info.code === 'NetConnection.Connect.Success' && resolve(nc));
        nc.connect(url);
      });
    /** The sync codes and status codes `so` gets within `ms` after `act`. */
    const watch = async (so, act, ms = 700) => {
      const seen = [];
      so.addEventListener('sync', (e) => seen.push(e.changeList.map((c) => c.code).join(',')));
      so.addEventListener('netStatus', (e) => seen.push(`${e.info.level} ${e.info.code}`));
      act();
      await new Promise((resolve) => setTimeout(resolve, ms));
      return seen;
    };
    const closed = await connect(`${ws}/closed`);
    const noRead = await watch(SharedObject.getRemote('board', closed.uri, false), function () {
      SharedObject.getRemote('board', closed.uri, false).connect(closed);
    });
    const ro = await connect(`${ws}/ro`);
    const board = SharedObject.getRemote('board', ro.uri, false);
    const first = new Promise((resolve) => board.addEventListener('sync', resolve, { once: true }));
    board.connect(ro);
    await first;
    const noWrite = await watch(board, () => board.setProperty('k', 'v'));
    const live = await connect(`${ws}/live`);
    const persistent = SharedObject.getRemote('kept', live.uri, true);
    const badPersistence = await watch(persistent, () => persistent.connect(live));
    return { noRead, noWrite, badPersistence, data: { ...board.data } };
  }, gateway.ws);
  assert.deepEqual(result.noRead, ['error SharedObject.NoReadAccess']);
  assert.ok(result.noWrite.includes('error SharedObject.NoWriteAccess'), JSON.stringify(result.noWrite));
  assert.deepEqual(result.data, {}, 'the refused change is not kept');
  assert.deepEqual(result.badPersistence, ['error SharedObject.BadPersistence']);
  await page.close();
});

test('nc.call reaches call_url; the admin API calls nc.client and gets its return value', async () => {
  const page = await soPage('calls', 'calls');
  const result = await page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        window.so.nc.call('add', { result: resolve, status: reject }, 2, 3);
      }),
  );
  assert.deepEqual(result, { sum: 5, method: 'add' });
  assert.equal(backendCalls.at(-1).app, 'calls');
  assert.deepEqual(backendCalls.at(-1).args, [2, 3]);

  const auth = { authorization: `Bearer ${TOKEN}` };
  const clients = await (await fetch(`${gateway.http}/api/v1/clients`, { headers: auth })).json();
  const mine = clients.clients.filter((c) => c.app === 'calls');
  assert.equal(mine.length, 1, JSON.stringify(clients));
  const call = (body) => fetch(`${gateway.http}/api/v1/clients/${mine[0].id}/call`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
  const answer = await call({ method: 'whoAreYou', args: ['q'] });
  assert.equal(answer.status, 200);
  assert.deepEqual(await answer.json(), { result: { name: 'page', q: 'q' } });
  // A Promise is awaited.
  const later = await call({ method: 'later', args: [21] });
  assert.deepEqual(await later.json(), { result: 42 });
  // No such own handler (an inherited one does not count): _error.
  for (const method of ['missing', 'toString']) {
    const missing = await call({ method, args: [] });
    assert.equal(missing.status, 502, method);
    assert.equal((await missing.json()).error.code, 'NetConnection.Call.Failed');
  }
  await page.close();
});

test('the chat and whiteboard demo: a stroke and a chat line reach the other window', async () => {
  const open = async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.errors = errors;
    await page.goto(`${gateway.http}/chat.html`);
    await page.waitForFunction(() => window.chat?.so.data !== undefined && document.getElementById('state').textContent !== 'connecting…', null, { timeout: 15000 });
    return page;
  };
  const a = await open();
  const b = await open();
  // A stroke drawn with the pointer on a.
  const box = await a.locator('#board').boundingBox();
  await a.mouse.move(box.x + 20, box.y + 20);
  await a.mouse.down();
  await a.mouse.move(box.x + 120, box.y + 80, { steps: 5 });
  await a.mouse.up();
  await b.waitForFunction(() => Object.keys(window.chat.so.data).some((k) => k.startsWith('stroke') && window.chat.so.data[k].points.length >= 12), null, { timeout: 10000 });
  await a.fill('#text', 'hello from a');
  await a.click('#say button');
  await b.waitForFunction(() => document.getElementById('lines').textContent.includes('hello from a'), null, { timeout: 10000 });
  // The other window's canvas has ink on it.
  const inked = await b.evaluate(() => {
    const pixels = document.getElementById('board').getContext('2d').getImageData(0, 0, 480, 270).data;
    return pixels.some((v, i) => i % 4 === 3 && v > 0);
  });
  assert.equal(inked, true);
  await b.click('#wipe');
  await a.waitForFunction(() => !Object.keys(window.chat.so.data).some((k) => k.startsWith('stroke')), null, { timeout: 10000 });
  assert.deepEqual([a.errors, b.errors], [[], []]);
  await a.close();
  await b.close();
});
