// Several duet-server nodes on one Redis: cross-node chat, resume on another node, session
// deletion from any node, and a node killed with SIGKILL. Needs DUET_TEST_REDIS_URL (skipped
// without it, except under CI=true where that fails).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, http, newGuest, connect, connectRecording, next, ask, pause, pairUp, removeRedisKeys } from './harness.mjs';

const redisUrl = process.env.DUET_TEST_REDIS_URL;
const inCi = ['true', '1'].includes(process.env.CI ?? '');
if (!redisUrl && inCi) throw new Error('CI=true but DUET_TEST_REDIS_URL is not set: the cluster suite must run in CI');
const skip = redisUrl ? false : 'SKIPPED: set DUET_TEST_REDIS_URL to run the cluster suite';

const prefix = `duet-e2e:${process.pid}:${Date.now()}:`;
const shared = {
  DUET_REDIS_URL: redisUrl ?? '',
  DUET_REDIS_KEY_PREFIX: prefix,
  DUET_JWT_SECRET: 'cluster-test-secret-cluster-test-secret',
  DUET_RESUME_GRACE_MS: '3000',
  DUET_MATCH_INTEREST_WAIT_MS: '300',
  DUET_SESSION_RATE_LIMIT_PER_MINUTE: '1000',
};
let one;
let two;
before(async () => {
  if (skip) return;
  [one, two] = await Promise.all([startServer({ ...shared, DUET_NODE_ID: 'one' }), startServer({ ...shared, DUET_NODE_ID: 'two' })]);
});
after(async () => {
  await one?.stop();
  await two?.stop();
  if (!skip) await removeRedisKeys(redisUrl, prefix);
});

/** Ada on node one and Bob on node two, paired through Redis. */
const crossPair = () => pairUp(one, ['rust'], two);

test('both nodes are ready on Redis and count each other', { skip }, async () => {
  const ready = await http(one, 'GET', '/ready');
  assert.deepEqual(ready.body, { status: 'ready', store: 'redis', adapter: 'redis' });
  let nodes = 0;
  for (let i = 0; i < 30 && nodes !== 2; i += 1) {
    nodes = (await http(two, 'GET', '/api/stats')).body.nodes;
    if (nodes !== 2) await pause(100);
  }
  assert.equal(nodes, 2);
});

test('guests on different nodes match, chat, send files, signal and leave', { skip }, async () => {
  const { a, b, sa, sb, ma, mb } = await crossPair();
  assert.equal(ma.roomId, mb.roomId);
  assert.equal(ma.partner.username, 'Bob');
  assert.deepEqual(mb.commonInterests, ['rust']);
  const got = next(sb, 'chat:message');
  await ask(sa, 'chat:message', { text: 'across nodes' });
  assert.equal((await got).text, 'across nodes');
  const file = Buffer.from('binary across nodes');
  const gotFile = next(sa, 'chat:message');
  await ask(sb, 'chat:message', { file: { name: 'f.txt', type: 'text/plain', data: file } });
  assert.ok(Buffer.from((await gotFile).file.data).equals(file));
  const offer = next(sb, 'webrtc:offer');
  await ask(sa, 'webrtc:offer', { sdp: 'v=0' });
  assert.deepEqual(await offer, { from: a.guest.id, sdp: 'v=0' });
  const typing = next(sa, 'chat:typing:start');
  sb.emit('chat:typing:start');
  assert.deepEqual(await typing, { from: b.guest.id });
  const cleared = next(sb, 'chat:cleared');
  await ask(sa, 'chat:clear');
  assert.equal((await cleared).by, a.guest.id);
  const ended = next(sb, 'chat:ended');
  await ask(sa, 'chat:leave');
  assert.deepEqual(await ended, { roomId: ma.roomId, reason: 'left' });
  sa.disconnect();
  sb.disconnect();
});

test('after a cross-node chat ends, the next message goes to the new partner only, never the old one', { skip }, async () => {
  const { sa, sb, ma } = await crossPair();
  const toBob = [];
  sb.on('chat:message', (m) => toBob.push(m));
  assert.equal((await ask(sa, 'chat:message', { text: 'to Bob' })).ok, true);
  // Bob leaves; Ada's next partner, Carol, is on the other node as well.
  const ended = next(sa, 'chat:ended');
  assert.equal((await ask(sb, 'chat:leave')).ok, true);
  await ended;
  assert.equal((await ask(sa, 'chat:message', { text: 'to nobody' })).error.code, 'NOT_IN_CHAT');
  const carol = await newGuest(two, 'Carol');
  const sc = await connect(two, carol.token);
  const matched = next(sa, 'user:matched');
  await ask(sa, 'user:match', { interests: ['carol'] });
  await ask(sc, 'user:match', { interests: ['carol'] });
  assert.notEqual((await matched).roomId, ma.roomId);
  const toCarol = next(sc, 'chat:message');
  assert.equal((await ask(sa, 'chat:message', { text: 'to Carol' })).ok, true);
  assert.equal((await toCarol).text, 'to Carol');
  await pause(200);
  assert.deepEqual(toBob.map((m) => m.text), ['to Bob']);
  for (const socket of [sa, sb, sc]) socket.disconnect();
});

test('a guest dropped on one node resumes on the other with held messages in order', { skip }, async () => {
  const { a, sa, sb, ma } = await crossPair();
  const away = next(sb, 'chat:partner:away');
  sa.io.engine.close();
  await away;
  await ask(sb, 'chat:message', { text: 'first' });
  await ask(sb, 'chat:message', { text: 'second' });
  const back = next(sb, 'chat:partner:back');
  const { socket: again, seen } = await connectRecording(two, a.token, ['user:matched', 'chat:message']);
  await back;
  await pause(200);
  assert.equal(seen[0][0], 'user:matched');
  assert.equal(seen[0][1].resumed, true);
  assert.equal(seen[0][1].roomId, ma.roomId);
  assert.deepEqual(seen.slice(1).map(([event, m]) => [event, m.text]), [['chat:message', 'first'], ['chat:message', 'second']]);
  again.disconnect();
  sb.disconnect();
});

test('deleting a session on one node disconnects its socket on the other', { skip }, async () => {
  const { a, sa, sb, ma } = await crossPair();
  const ended = next(sb, 'chat:ended', 5000);
  const dropped = next(sa, 'disconnect', 5000);
  assert.equal((await http(two, 'DELETE', '/api/guest/session', { token: a.token })).status, 204);
  assert.deepEqual(await ended, { roomId: ma.roomId, reason: 'session_ended' });
  await dropped;
  sb.disconnect();
});

test('a node killed with SIGKILL leaves no ghosts: its guests\u2019 partners hear chat:ended', { skip }, async () => {
  const victim = await startServer({ ...shared, DUET_NODE_ID: 'victim' });
  try {
    const a = await newGuest(victim);
    const b = await newGuest(one);
    const sa = await connect(victim, a.token);
    const sb = await connect(one, b.token);
    const mb = next(sb, 'user:matched');
    await ask(sa, 'user:match');
    await ask(sb, 'user:match');
    const { roomId } = await mb;
    const ended = next(sb, 'chat:ended', 15000);
    const started = Date.now();
    victim.child.kill('SIGKILL');
    assert.deepEqual(await ended, { roomId, reason: 'disconnected' });
    assert.ok(Date.now() - started <= 12000 + 1000, 'within heartbeat TTL + 2 s');
    sb.disconnect();
  } finally {
    await victim.stop();
  }
});

test('a node killed and started again at once under the same DUET_NODE_ID ends its old guests\u2019 chats', { skip }, async () => {
  let phoenix = await startServer({ ...shared, DUET_NODE_ID: 'phoenix' });
  try {
    const { sb, mb: { roomId } } = await pairUp(phoenix, [], one);
    const ended = next(sb, 'chat:ended', 15000);
    const died = new Promise((resolve) => phoenix.child.once('exit', resolve));
    phoenix.child.kill('SIGKILL');
    await died;
    const started = Date.now();
    // The same name at once: its heartbeat must not keep the dead process's guests alive.
    phoenix = await startServer({ ...shared, DUET_NODE_ID: 'phoenix' });
    assert.deepEqual(await ended, { roomId, reason: 'disconnected' });
    // Well before the dead process's heartbeat would have expired (10 s).
    assert.ok(Date.now() - started < 5000, `ended ${Date.now() - started} ms after the restart`);
    const late = await ask(sb, 'chat:message', { text: 'anyone there?' });
    assert.equal(late.error?.code, 'NOT_IN_CHAT', 'nothing is acked into a ghost chat');
    sb.disconnect();
  } finally {
    await phoenix.stop();
  }
});

test('50 cross-node pairs sending bursts without waiting lose nothing and keep order', { skip, timeout: 60_000 }, async () => {
  const pairs = 50;
  const burst = 20;
  // Distinct interests keep each pair together while all fifty wait at once.
  const all = await Promise.all(Array.from({ length: pairs }, (_, p) => pairUp(one, [`burst${p}`], two)));
  const received = all.map(({ sb }) => {
    const seen = [];
    sb.on('chat:message', (m) => seen.push(Number(m.clientId)));
    return seen;
  });
  // Every sender at once, no ack awaited before the next message.
  const acks = all.flatMap(({ sa }) => Array.from({ length: burst }, (_, i) => ask(sa, 'chat:message', { text: `m${i}`, clientId: String(i) })));
  const answers = await Promise.all(acks);
  const refused = answers.filter((answer) => !answer.ok).length;
  assert.equal(refused, 0, 'every message acked ok');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && received.some((seen) => seen.length < burst)) await pause(50);
  const lost = received.reduce((sum, seen) => sum + burst - seen.length, 0);
  assert.equal(lost, 0, `${lost} of ${pairs * burst} acked messages never arrived`);
  for (const seen of received) assert.deepEqual(seen, [...Array(burst).keys()]);
  for (const { sa, sb } of all) { sa.disconnect(); sb.disconnect(); }
});
