// Nothing lost across a dropped connection: every relayed chat:message carries `seq`, and a
// stock socket.io-client (reconnection on) that names the last one it saw in `auth.lastSeen`
// gets what its dead transport swallowed, once and in order. Also the byte limits of what is
// kept for an away guest. One node on memory, and two nodes on Redis (DUET_TEST_REDIS_URL).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer, newGuest, connect, next, ask, pause, pairUp, removeRedisKeys, transports } from './harness.mjs';

const redisUrl = process.env.DUET_TEST_REDIS_URL;
const inCi = ['true', '1'].includes(process.env.CI ?? '');
if (!redisUrl && inCi) throw new Error('CI=true but DUET_TEST_REDIS_URL is not set: the cross-node resume tests must run in CI');
const skipCluster = redisUrl ? false : 'SKIPPED: set DUET_TEST_REDIS_URL to run the cross-node resume test';
const prefix = `duet-e2e-resume:${process.pid}:${Date.now()}:`;
const servers = [];
after(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  if (redisUrl) await removeRedisKeys(redisUrl, prefix);
});

async function start(env = {}) {
  const server = await startServer({ DUET_RATE_LIMIT_MAX: '100000', DUET_SESSION_RATE_LIMIT_PER_MINUTE: '1000', ...env });
  servers.push(server);
  return server;
}

/** Kills the socket's TCP connection under it: no close frame, no Socket.IO disconnect. */
function cutTransport(socket) {
  socket.io.engine.transport.ws._socket.destroy();
}

/**
 * Bob as a stock client with reconnection on, keeping `lastSeen` from what it receives and
 * sending it with every (re)connection; `received` collects his chat:message payloads.
 */
async function resumingClient(server, guest) {
  const state = { lastSeen: undefined, received: [], resumed: 0 };
  const socket = io(server.url, {
    auth: (cb) => cb({ token: guest.token, lastSeen: state.lastSeen }),
    transports,
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
  });
  server.sockets.add(socket);
  socket.on('user:matched', (matched) => {
    if (matched.resumed) state.resumed += 1;
    else state.lastSeen = { roomId: matched.roomId, seq: 0 };
  });
  socket.on('chat:message', (message) => {
    state.received.push(message);
    state.lastSeen = { roomId: message.roomId, seq: message.seq };
  });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, state };
}

async function burstAcrossADrop(adaServer, bobServer) {
  // At most 100 are held for an away guest: fewer are sent, so none is refused however late
  // the server sees the cut.
  const count = 90;
  const a = await newGuest(adaServer, 'Ada');
  const b = await newGuest(bobServer, 'Bob');
  const sa = await connect(adaServer, a.token);
  const bob = await resumingClient(bobServer, b);
  const matched = next(sa, 'user:matched');
  await ask(sa, 'user:match', {});
  await ask(bob.socket, 'user:match', {});
  await matched;
  await pause(50);
  const acks = [];
  for (let i = 0; i < count; i += 1) {
    acks.push(sa.timeout(10_000).emitWithAck('chat:message', { text: `m${i}`, clientId: String(i) }));
    // A steady stream, and in the middle of it Bob's transport dies under him while messages
    // are on their way to it.
    if (i % 5 === 4) await pause(2);
    if (i === 30) cutTransport(bob.socket);
  }
  const answers = await Promise.all(acks);
  const refused = answers.map((answer, i) => [i, answer]).filter(([, answer]) => !answer.ok).map(([i, answer]) => `${i}: ${answer.error?.code}`);
  assert.deepEqual(refused, [], 'every message is acked ok (delivered, held or kept)');
  const deadline = Date.now() + 10_000;
  while (bob.state.received.length < count && Date.now() < deadline) await pause(50);
  const ids = bob.state.received.map((message) => Number(message.clientId));
  assert.equal(new Set(ids).size, ids.length, 'no duplicates');
  assert.deepEqual(ids, [...Array(count).keys()], 'all of them, in order');
  const seqs = bob.state.received.map((message) => message.seq);
  assert.deepEqual(seqs, ids.map((i) => i + 1), 'seq counts every message of the chat from 1');
  assert.ok(bob.state.resumed >= 1, 'Bob resumed');
  sa.disconnect();
  bob.socket.disconnect();
}

test('messages in flight when a transport dies reach the stock client after it reconnects with lastSeen', async () => {
  const server = await start({ DUET_RESUME_GRACE_MS: '10000' });
  await burstAcrossADrop(server, server);
});

test('the same across two nodes on Redis', { skip: skipCluster }, async () => {
  const env = {
    DUET_REDIS_URL: redisUrl ?? '',
    DUET_REDIS_KEY_PREFIX: prefix,
    DUET_JWT_SECRET: 'resume-test-secret-resume-test-secret',
    DUET_RESUME_GRACE_MS: '10000',
  };
  const [one, two] = await Promise.all([start({ ...env, DUET_NODE_ID: 'r1' }), start({ ...env, DUET_NODE_ID: 'r2' })]);
  await burstAcrossADrop(one, two);
});

test('a client that names nothing still gets what was held, and a lastSeen of another chat counts for nothing', async () => {
  const server = await start({ DUET_RESUME_GRACE_MS: '10000' });
  const { a, b, sa, sb, mb } = await pairUp(server);
  const away = next(sa, 'chat:partner:away');
  cutTransport(sb);
  await away;
  for (let i = 0; i < 3; i += 1) assert.equal((await ask(sa, 'chat:message', { text: `held ${i}` })).ok, true);
  const received = [];
  const back = await connect(server, undefined, { auth: { token: b.token, lastSeen: { roomId: a.guest.id, seq: 0 } } }, (socket) => {
    socket.on('chat:message', (message) => received.push(message));
  });
  await pause(300);
  assert.deepEqual(received.map((m) => [m.text, m.seq, m.roomId]), [0, 1, 2].map((i) => [`held ${i}`, i + 1, mb.roomId]));
  back.disconnect();
});

test('what is held for an away guest is bounded in bytes per chat and per node: beyond, PARTNER_AWAY', async () => {
  const server = await start({
    DUET_RESUME_GRACE_MS: '10000',
    DUET_MAX_FILE_BYTES: '100000',
    // A 100 000-byte file is kept as about 133 400 bytes (base64 and its fields).
    DUET_HELD_BYTES_PER_CHAT: '300000',
    DUET_HELD_BYTES_TOTAL: '420000',
  });
  const file = { name: 'a.bin', type: 'application/octet-stream', data: Buffer.alloc(100_000, 7) };
  const first = await pairUp(server);
  const second = await pairUp(server);
  for (const pair of [first, second]) {
    const away = next(pair.sa, 'chat:partner:away');
    cutTransport(pair.sb);
    await away;
  }
  const send = async (pair) => (await ask(pair.sa, 'chat:message', { file })).error?.code ?? 'ok';
  assert.deepEqual([await send(first), await send(first), await send(first)], ['ok', 'ok', 'PARTNER_AWAY'], 'two files fit in one chat, not three');
  assert.deepEqual([await send(second), await send(second)], ['ok', 'PARTNER_AWAY'], 'the node has room for one more');
  // Text still fits where files do not, and the first chat's files all come back.
  assert.equal(await (async () => (await ask(first.sa, 'chat:message', { text: 'hi' })).ok)(), true);
  const files = [];
  const back = await connect(server, first.b.token, {}, (socket) => socket.on('chat:message', (m) => files.push(m)));
  await pause(300);
  assert.deepEqual(files.map((m) => m.file?.size ?? m.text), [100_000, 100_000, 'hi']);
  // Once taken and the chat ends, the node has room again.
  back.emit('chat:leave');
  await pause(200);
  assert.equal(await send(second), 'ok');
});

test('a page that said it is leaving is held only the reload grace: a closed tab ends soon, a reload resumes', async () => {
  const server = await start({ DUET_RELOAD_GRACE_MS: '800', DUET_RESUME_GRACE_MS: '15000' });
  const config = await (await fetch(`${server.url}/api/config`)).json();
  assert.equal(config.reloadGraceMs, 800);
  assert.equal(config.resumeGraceMs, 15000);
  assert.equal(config.maxFileBytes, 1048576);
  assert.equal(config.maxTextChars, 2000);

  // Closed: Bob hears of it within the reload grace, not the 15 s of a dropped connection.
  const closing = await pairUp(server);
  assert.deepEqual(await ask(closing.sa, 'chat:leaving'), { ok: true });
  const ended = next(closing.sb, 'chat:ended', 4000);
  const since = Date.now();
  cutTransport(closing.sa);
  assert.deepEqual(await ended, { roomId: closing.ma.roomId, reason: 'disconnected' });
  assert.ok(Date.now() - since < 3000, `ended after ${Date.now() - since} ms`);

  // Reloaded: the same guest is back within the grace, and the chat goes on.
  const reloading = await pairUp(server);
  await ask(reloading.sa, 'chat:leaving');
  cutTransport(reloading.sa);
  const again = await connect(server, reloading.a.token, {}, (socket) => {
    socket.once('user:matched', (matched) => { socket.resumed = matched.resumed; });
  });
  await pause(1500);
  assert.equal(again.resumed, true);
  const got = next(reloading.sb, 'chat:message');
  assert.equal((await ask(again, 'chat:message', { text: 'back' })).ok, true);
  assert.equal((await got).text, 'back');
});
