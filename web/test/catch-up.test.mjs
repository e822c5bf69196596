// The web demo on two nodes sharing a throwaway Redis, one of them cut off from it for a
// moment while the partner on the other writes: what the server catches up afterwards
// (docs/protocol.md, "After a node's link to the other nodes was interrupted") shows once, and
// the chat on screen stays as it was. Needs Chromium and redis-server; skipped without them,
// except under CI=true where that fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dist, skip as noChromium, launch, startIn, status, theirs, say } from '../testing/browser.mjs';
import { startServer, http, pause } from '../../e2e/harness.mjs';
import { redisServerSkip, freePort, startRedis, stopRedis, tcpProxy } from '../../e2e/throwaway.mjs';

const skip = noChromium || redisServerSkip("the web demo's catch-up test");

async function ready(server, status) {
  for (let i = 0; i < 100; i += 1) {
    if ((await http(server, 'GET', '/ready')).status === status) return;
    await pause(100);
  }
  throw new Error(`/ready never answered ${status}`);
}

test('after its node was cut off from Redis, the page shows what the server catches up once and keeps the chat as it was', { skip }, async () => {
  const port = await freePort();
  const redis = await startRedis(port);
  const link = await tcpProxy(() => `127.0.0.1:${port}`);
  const env = {
    DUET_WEB_DIR: dist,
    DUET_JWT_SECRET: 'web-catch-up-secret-web-catch-up-secret',
    DUET_SESSION_RATE_LIMIT_PER_MINUTE: '1000',
  };
  const servers = [];
  const pageErrors = [];
  const browser = await launch();
  try {
    servers.push(await startServer({ ...env, DUET_NODE_ID: 'web-cut-off', DUET_REDIS_URL: `redis://${link.address}` }));
    servers.push(await startServer({ ...env, DUET_NODE_ID: 'web-beyond', DUET_REDIS_URL: `redis://127.0.0.1:${port}` }));
    const [cutOff, beyond] = servers;
    const ada = await startIn(await browser.newContext(), cutOff, 'Ada', 'caught', pageErrors);
    const bob = await startIn(await browser.newContext(), beyond, 'Bob', 'caught', pageErrors);
    await status(ada).filter({ hasText: 'You are talking to Bob' }).waitFor();
    await status(bob).filter({ hasText: 'You are talking to Ada' }).waitFor();
    // Within the catch-up's margin before the cut: the pair and this message are sent again.
    await say(bob, 'before the cut');
    await theirs(ada).filter({ hasText: 'before the cut' }).waitFor();

    link.cut();
    await ready(cutOff, 503);
    await say(bob, 'during the cut');
    await bob.locator('#messages li.mine', { hasText: 'during the cut' }).waitFor();
    link.heal();

    await theirs(ada).filter({ hasText: 'during the cut' }).waitFor({ timeout: 15_000 });
    await ready(cutOff, 200);
    await pause(300);
    const shown = await theirs(ada).allTextContents();
    assert.equal(shown.length, 2, `each message once: ${shown.join(' | ')}`);
    assert.ok(shown[0].endsWith('before the cut') && shown[1].endsWith('during the cut'), `in order: ${shown.join(' | ')}`);
    assert.match(await status(ada).textContent(), /You are talking to Bob/);
    assert.equal(await ada.locator('#messages li.notice', { hasText: 'Reconnected.' }).count(), 0, 'nothing reconnected on the page');
    const metrics = await (await fetch(`${cutOff.url}/metrics`)).text();
    assert.match(metrics, /duet_socket_catch_ups_total\{result="sent"\} [1-9]/, 'the server did catch Ada up');
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
    for (const server of servers) await server.stop();
    await link.close();
    await stopRedis(redis);
  }
});
