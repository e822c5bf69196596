// Failures with real processes: Redis stopped and restarted under live chats (a throwaway
// redis-server on a free port, never the machine's shared one), and a node drained by SIGTERM
// whose guests resume on another node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer, http, newGuest, connect, next, ask, pause, pairUp } from './harness.mjs';
import { redisServerSkip, freePort, startRedis, stopRedis, tcpProxy } from './throwaway.mjs';

const skip = redisServerSkip('the failure suite');

async function until(predicate, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await pause(100);
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

/**
 * A throwaway Redis on a free port and two nodes on it, named `names`, with `env` beside the
 * shared settings. `restartRedis()` kills Redis and starts it again empty on the same port;
 * `stop()` ends the nodes and Redis.
 */
async function twoNodesOnThrowawayRedis(names, env = {}) {
  const port = await freePort();
  let redis = await startRedis(port);
  const shared = {
    DUET_REDIS_URL: `redis://127.0.0.1:${port}`,
    DUET_JWT_SECRET: `${names.join('-')}-secret-for-the-failure-suite`,
    DUET_SESSION_RATE_LIMIT_PER_MINUTE: '1000',
    ...env,
  };
  const nodes = await Promise.all(names.map((name) => startServer({ ...shared, DUET_NODE_ID: name })));
  return {
    nodes,
    async restartRedis() {
      await stopRedis(redis);
      redis = await startRedis(port);
    },
    async stop() {
      for (const node of nodes) await node.stop();
      await stopRedis(redis);
    },
  };
}

test('a Redis outage: local pairs keep chatting, the rest fails fast, and all recovers', { skip }, async () => {
  const port = await freePort();
  let redis = await startRedis(port);
  const node = await startServer({
    DUET_REDIS_URL: `redis://127.0.0.1:${port}`,
    DUET_JWT_SECRET: 'outage-test-secret-outage-test-secret!',
    DUET_SESSION_RATE_LIMIT_PER_MINUTE: '1000',
  });
  try {
    const a = await newGuest(node);
    const b = await newGuest(node);
    const sa = await connect(node, a.token);
    const sb = await connect(node, b.token);
    const matched = next(sb, 'user:matched');
    await ask(sa, 'user:match');
    await ask(sb, 'user:match');
    await matched;

    await stopRedis(redis);
    const got = next(sb, 'chat:message');
    const ack = await ask(sa, 'chat:message', { text: 'through the outage' });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal((await got).text, 'through the outage');
    const started = Date.now();
    const created = await http(node, 'POST', '/api/guest/session');
    assert.equal(created.status, 500);
    assert.equal(created.body.error.code, 'INTERNAL');
    assert.ok(Date.now() - started < 3000, 'fails fast');
    const internal = await ask(sa, 'user:match');
    assert.equal(internal.error.code, 'INTERNAL', 'an event that needs Redis fails fast');
    const ready = await http(node, 'GET', '/ready');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.status, 'degraded');

    redis = await startRedis(port);
    await until(async () => (await http(node, 'GET', '/ready')).status === 200, 5000, '/ready back to 200');
    const c = await newGuest(node);
    const d = await newGuest(node);
    const sc = await connect(node, c.token);
    const sd = await connect(node, d.token);
    const dMatched = next(sd, 'user:matched');
    await ask(sc, 'user:match');
    await ask(sd, 'user:match');
    await dMatched;
    const hello = next(sd, 'chat:message');
    await ask(sc, 'chat:message', { text: 'after the outage' });
    assert.equal((await hello).text, 'after the outage');
    for (const s of [sa, sb, sc, sd]) s.disconnect();
  } finally {
    await node.stop();
    await stopRedis(redis);
  }
});

test('SIGTERM drains a node: its guests resume on another node, and it exits 0', { skip }, async () => {
  const cluster = await twoNodesOnThrowawayRedis(['leaving', 'staying'], { DUET_RESUME_GRACE_MS: '5000', DUET_SHUTDOWN_TIMEOUT_MS: '5000' });
  const [leaving, staying] = cluster.nodes;
  try {
    const a = await newGuest(leaving);
    const b = await newGuest(staying);
    const sa = await connect(leaving, a.token);
    const sb = await connect(staying, b.token);
    const mb = next(sb, 'user:matched');
    await ask(sa, 'user:match');
    await ask(sb, 'user:match');
    const { roomId } = await mb;
    const away = next(sb, 'chat:partner:away', 5000);
    const dropped = next(sa, 'disconnect', 5000);
    const exited = new Promise((resolve) => leaving.child.once('exit', (code) => resolve(code)));
    const started = Date.now();
    leaving.child.kill('SIGTERM');
    await dropped;
    assert.deepEqual(await away, { roomId });
    assert.equal(await exited, 0);
    assert.ok(Date.now() - started < 6000, 'exits within the drain bound');
    const back = next(sb, 'chat:partner:back', 5000);
    const again = await connect(staying, a.token);
    await back;
    const got = next(sb, 'chat:message');
    await ask(again, 'chat:message', { text: 'resumed elsewhere' });
    assert.equal((await got).text, 'resumed elsewhere');
    again.disconnect();
    sb.disconnect();
  } finally {
    await cluster.stop();
  }
});

test('after a Redis restart, cross-node pairs match, chat and signal again within 5 s', { skip }, async () => {
  const cluster = await twoNodesOnThrowawayRedis(['restart-one', 'restart-two']);
  const [one, two] = cluster.nodes;
  /** Ada on node one and Bob on node two: matched, one message each way, an offer relayed. */
  async function crossNodeChat(label) {
    const { sa, sb, ma, mb } = await pairUp(one, [], two);
    assert.equal(ma.roomId, mb.roomId, `${label}: both sides are told of the pair`);
    const toBob = next(sb, 'chat:message', 5000);
    assert.ok((await ask(sa, 'chat:message', { text: `${label} to Bob` })).ok);
    assert.equal((await toBob).text, `${label} to Bob`);
    const toAda = next(sa, 'chat:message', 5000);
    assert.ok((await ask(sb, 'chat:message', { text: `${label} to Ada` })).ok);
    assert.equal((await toAda).text, `${label} to Ada`);
    const offer = next(sb, 'webrtc:offer', 5000);
    assert.ok((await ask(sa, 'webrtc:offer', { sdp: `v=0 ${label}` })).ok);
    assert.equal((await offer).sdp, `v=0 ${label}`);
    sa.disconnect();
    sb.disconnect();
  }
  try {
    await crossNodeChat('before');
    await cluster.restartRedis();
    const restarted = Date.now();
    for (const node of [one, two]) {
      await until(async () => (await http(node, 'GET', '/ready')).status === 200, 5000, '/ready back to 200');
    }
    await crossNodeChat('after');
    assert.ok(Date.now() - restarted < 5000, `working again ${Date.now() - restarted} ms after the restart`);
  } finally {
    await cluster.stop();
  }
});

test('a node cut off from Redis for a while catches its guests up: the pair formed and the message sent meanwhile arrive once it hears again', { skip }, async () => {
  const port = await freePort();
  const redis = await startRedis(port);
  const link = await tcpProxy(() => `127.0.0.1:${port}`);
  const shared = { DUET_JWT_SECRET: 'cut-off-test-secret-cut-off-test-secret', DUET_SESSION_RATE_LIMIT_PER_MINUTE: '1000' };
  const nodes = [];
  try {
    nodes.push(await startServer({ ...shared, DUET_NODE_ID: 'cut-off', DUET_REDIS_URL: `redis://${link.address}` }));
    nodes.push(await startServer({ ...shared, DUET_NODE_ID: 'beyond', DUET_REDIS_URL: `redis://127.0.0.1:${port}` }));
    const [cutOff, beyond] = nodes;
    const ada = await newGuest(cutOff, 'Ada');
    const sa = await connect(cutOff, ada.token);
    assert.equal((await ask(sa, 'user:match')).status, 'waiting');
    const matched = next(sa, 'user:matched', 15000);
    const message = next(sa, 'chat:message', 15000);

    link.cut();
    await until(async () => (await http(cutOff, 'GET', '/ready')).status === 503, 5000, 'the cut-off node says it is degraded');
    // Bob, on the node that still reaches Redis, is paired with Ada at once and writes to her:
    // both events are published while Ada's node hears nothing.
    const bob = await newGuest(beyond, 'Bob');
    const sb = await connect(beyond, bob.token);
    const mb = next(sb, 'user:matched');
    await ask(sb, 'user:match');
    const { roomId } = await mb;
    const ack = await ask(sb, 'chat:message', { text: 'sent while her node was cut off' });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    await pause(300);

    link.heal();
    const healed = Date.now();
    const again = await matched;
    assert.equal(again.roomId, roomId, 'Ada is told of the pair formed while her node was cut off');
    assert.equal(again.partner.username, 'Bob');
    assert.equal(again.initiator, true, 'Ada waited longer: she makes the offer');
    const missed = await message;
    assert.equal(missed.text, 'sent while her node was cut off');
    assert.equal(missed.seq, 1, 'with its number, for a client to drop it if it had it');
    assert.ok(Date.now() - healed < 10_000, `caught up ${Date.now() - healed} ms after the link came back`);
    await until(async () => (await http(cutOff, 'GET', '/ready')).status === 200, 5000, '/ready back to 200');

    // The chat goes on, both ways.
    const toBob = next(sb, 'chat:message', 5000);
    assert.ok((await ask(sa, 'chat:message', { text: 'got it' })).ok);
    assert.equal((await toBob).text, 'got it');
    const toAda = next(sa, 'chat:message', 5000);
    assert.ok((await ask(sb, 'chat:message', { text: 'good' })).ok);
    assert.equal((await toAda).text, 'good');
    sa.disconnect();
    sb.disconnect();
  } finally {
    for (const node of nodes) await node.stop();
    await link.close();
    await stopRedis(redis);
  }
});

test('Redis that comes back empty loses nothing the nodes know: chats go on, waiting guests are paired', { skip }, async () => {
  const cluster = await twoNodesOnThrowawayRedis(['restore-one', 'restore-two'], { DUET_MATCH_INTEREST_WAIT_MS: '300' });
  const [one, two] = cluster.nodes;
  const chats = async (from, to, text) => {
    const got = next(to, 'chat:message', 5000);
    const answer = await ask(from, 'chat:message', { text });
    assert.equal(answer.ok, true, `${text}: ${JSON.stringify(answer)}`);
    assert.equal((await got).text, text);
  };
  try {
    const cross = await pairUp(one, ['cross'], two);
    const local = await pairUp(one, ['local']);
    await chats(cross.sa, cross.sb, 'before');
    const waiter = await newGuest(one, 'Wanda');
    const sw = await connect(one, waiter.token);
    assert.equal((await ask(sw, 'user:match', { interests: ['late'] })).status, 'waiting');
    // Let each node learn what it will have to write back (they check every few seconds).
    await pause(5500);

    await cluster.restartRedis();
    const restarted = Date.now();
    await until(async () => (await http(one, 'GET', '/api/stats')).body?.totalUsers >= 5, 5000, 'every connected guest\'s session written back');

    // The chats in progress go on, across nodes too, both ways, with nothing ending.
    const ended = [];
    for (const socket of [cross.sa, cross.sb, local.sa, local.sb]) socket.on('chat:ended', (e) => ended.push(e));
    await chats(cross.sa, cross.sb, 'after, to Bob');
    await chats(cross.sb, cross.sa, 'after, to Ada');
    await chats(local.sb, local.sa, 'after, locally');
    // The waiting guest is still waiting and is paired with a newcomer on the other node.
    const newcomer = await newGuest(two, 'Nick');
    const sn = await connect(two, newcomer.token);
    const matched = next(sw, 'user:matched', 5000);
    await ask(sn, 'user:match', { interests: ['late'] });
    assert.deepEqual((await matched).commonInterests, ['late']);
    assert.ok(Date.now() - restarted < 10_000, `all within ${Date.now() - restarted} ms of the restart`);
    const stats = (await http(two, 'GET', '/api/stats')).body;
    assert.equal(stats.onlineUsers, 6, JSON.stringify(stats));
    assert.equal(stats.activeRooms, 3, JSON.stringify(stats));
    await pause(200);
    assert.deepEqual(ended, []);
  } finally {
    await cluster.stop();
  }
});

test('a drained node\u2019s stock socket.io-client (reconnection on) reconnects by itself and resumes on another node', { skip }, async () => {
  const cluster = await twoNodesOnThrowawayRedis(['stock-leaving', 'stock-staying'], { DUET_RESUME_GRACE_MS: '10000', DUET_SHUTDOWN_TIMEOUT_MS: '5000' });
  const [leaving, staying] = cluster.nodes;
  let target = new URL(leaving.url).host;
  const balancer = await tcpProxy(() => target);
  try {
    const a = await newGuest(leaving);
    const b = await newGuest(staying);
    // Ada as a browser would be: the stock client, reconnection on, behind the balancer.
    const sa = io(`http://${balancer.address}`, { auth: { token: a.token }, transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500 });
    leaving.sockets.add(sa);
    await new Promise((resolve, reject) => { sa.once('connect', resolve); sa.once('connect_error', reject); });
    const sb = await connect(staying, b.token);
    const ma = next(sa, 'user:matched');
    const mb = next(sb, 'user:matched');
    await ask(sa, 'user:match');
    await ask(sb, 'user:match');
    // Both first announcements are in before anything waits for the resumed one.
    const [{ roomId }] = await Promise.all([mb, ma]);

    const reasons = [];
    sa.on('disconnect', (reason) => reasons.push(reason));
    const away = next(sb, 'chat:partner:away', 5000);
    const back = next(sb, 'chat:partner:back', 10000);
    const resumed = next(sa, 'user:matched', 10000);
    const exited = new Promise((resolve) => leaving.child.once('exit', (code) => resolve(code)));
    // New connections go to the node that stays, as a balancer's health check would decide.
    target = new URL(staying.url).host;
    leaving.child.kill('SIGTERM');
    assert.deepEqual(await away, { roomId });
    assert.equal(await exited, 0);
    const again = await resumed;
    assert.equal(again.roomId, roomId);
    assert.equal(again.resumed, true);
    assert.deepEqual(await back, { roomId });
    assert.ok(!reasons.includes('io server disconnect'), `the client saw ${reasons.join(', ')}`);
    assert.ok(sa.connected, 'reconnected by itself');
    const got = next(sb, 'chat:message');
    assert.ok((await ask(sa, 'chat:message', { text: 'back through the balancer' })).ok);
    assert.equal((await got).text, 'back through the balancer');
    sa.disconnect();
    sb.disconnect();
  } finally {
    await balancer.close();
    await cluster.stop();
  }
});
