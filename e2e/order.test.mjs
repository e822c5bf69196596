// Events of one socket take effect in the order they were sent, on one node and across two
// nodes on Redis: bursts sent without waiting for acks, an offer followed at once by its ICE
// candidates, typing start/stop. And one decode step that sees exactly the argument sent: a
// payload wrapped in an array is INVALID_PAYLOAD. The cross-node part needs
// DUET_TEST_REDIS_URL (skipped without it, except under CI=true where that fails).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, ask, next, pause, pairUp, removeRedisKeys } from './harness.mjs';

const redisUrl = process.env.DUET_TEST_REDIS_URL;
const inCi = ['true', '1'].includes(process.env.CI ?? '');
if (!redisUrl && inCi) throw new Error('CI=true but DUET_TEST_REDIS_URL is not set: the cross-node order tests must run in CI');
const skipCluster = redisUrl ? false : 'SKIPPED: set DUET_TEST_REDIS_URL to run the cross-node order tests';

const prefix = `duet-e2e-order:${process.pid}:${Date.now()}:`;
// A budget large enough that a burst of a thousand events is never refused.
const roomy = {
  DUET_RATE_LIMIT_MAX: '100000',
  DUET_SESSION_RATE_LIMIT_PER_MINUTE: '1000',
  DUET_JWT_SECRET: 'order-test-secret-order-test-secret-order',
};
let single;
let one;
let two;
before(async () => {
  single = await startServer(roomy);
  if (skipCluster) return;
  const cluster = { ...roomy, DUET_REDIS_URL: redisUrl, DUET_REDIS_KEY_PREFIX: prefix };
  [one, two] = await Promise.all([
    startServer({ ...cluster, DUET_NODE_ID: 'order-one' }),
    startServer({ ...cluster, DUET_NODE_ID: 'order-two' }),
  ]);
});
after(async () => {
  await single?.stop();
  await one?.stop();
  await two?.stop();
  if (!skipCluster) await removeRedisKeys(redisUrl, prefix);
});

/** Resolves with the first `count` payloads of `event` on `socket`, or rejects after `ms`. */
function collect(socket, event, count, ms = 15000) {
  const seen = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${seen.length} of ${count} ${event} within ${ms} ms`)), ms);
    socket.on(event, (payload) => {
      seen.push(payload);
      if (seen.length === count) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
  });
}

/** How many adjacent pairs are out of order. */
const inversions = (numbers) => numbers.slice(1).filter((n, i) => n < numbers[i]).length;

async function burstKeepsOrder(server, bobServer) {
  const { sa, sb } = await pairUp(server, [], bobServer);
  const count = 1000;
  const received = collect(sb, 'chat:message', count);
  // Sent back to back, without waiting for a single ack.
  const acks = [];
  for (let i = 0; i < count; i += 1) acks.push(ask(sa, 'chat:message', { text: `m${i}`, clientId: String(i) }));
  const answers = await Promise.all(acks);
  assert.ok(answers.every((answer) => answer.ok), 'every message acked ok');
  const order = (await received).map((message) => Number(message.clientId));
  assert.equal(inversions(order), 0, 'the partner received the burst in the order it was sent');
  assert.deepEqual(order, [...Array(count).keys()]);
  sa.disconnect();
  sb.disconnect();
}

async function offerThenCandidates(server, bobServer) {
  const { sa, sb } = await pairUp(server, [], bobServer);
  for (let trial = 0; trial < 20; trial += 1) {
    const order = [];
    const arrived = new Promise((resolve) => {
      sb.on('webrtc:offer', (payload) => order.push(payload.sdp));
      sb.on('webrtc:ice-candidate', (payload) => {
        order.push(payload.candidate.candidate);
        if (order.length === 6) resolve();
      });
    });
    // No acks at all: exactly what a browser does from onicecandidate.
    sa.emit('webrtc:offer', { sdp: `v=0 trial ${trial}` });
    for (let c = 0; c < 5; c += 1) {
      sa.emit('webrtc:ice-candidate', { candidate: { candidate: `candidate:${c}`, sdpMid: null, sdpMLineIndex: 0 } });
    }
    await Promise.race([arrived, pause(5000)]);
    sb.removeAllListeners('webrtc:offer');
    sb.removeAllListeners('webrtc:ice-candidate');
    const expected = [`v=0 trial ${trial}`, ...[0, 1, 2, 3, 4].map((c) => `candidate:${c}`)];
    assert.deepEqual(order, expected, `trial ${trial}`);
  }
  sa.disconnect();
  sb.disconnect();
}

async function typingEndsStopped(server, bobServer) {
  const { sa, sb } = await pairUp(server, [], bobServer);
  const seen = [];
  sb.on('chat:typing:start', () => seen.push('start'));
  sb.on('chat:typing:stop', () => seen.push('stop'));
  for (let i = 0; i < 100; i += 1) {
    sa.emit('chat:typing:start');
    sa.emit('chat:typing:stop');
  }
  const after = next(sb, 'chat:message');
  const last = await ask(sa, 'chat:message', { text: 'after the typing' });
  assert.ok(last.ok);
  await after;
  assert.equal(seen.length, 200);
  for (let i = 0; i < seen.length; i += 2) assert.deepEqual(seen.slice(i, i + 2), ['start', 'stop'], `pair ${i / 2}`);
  sa.disconnect();
  sb.disconnect();
}

test('a burst of 1 000 messages arrives in order on one node', async () => burstKeepsOrder(single, single));
test('an offer and the candidates sent after it arrive in that order on one node', async () => offerThenCandidates(single, single));
test('typing start and stop keep their order on one node', async () => typingEndsStopped(single, single));
test('a burst of 1 000 messages arrives in order across two nodes', { skip: skipCluster }, async () => burstKeepsOrder(one, two));
test('an offer and its candidates keep their order across two nodes', { skip: skipCluster }, async () => offerThenCandidates(one, two));
test('typing start and stop keep their order across two nodes', { skip: skipCluster }, async () => typingEndsStopped(one, two));

test('a payload wrapped in an array is INVALID_PAYLOAD and never reaches the partner', async () => {
  const { sa, sb } = await pairUp(single);
  const relayed = [];
  for (const event of ['webrtc:offer', 'webrtc:answer', 'webrtc:ice-candidate', 'chat:message']) sb.on(event, (p) => relayed.push([event, p]));
  const wrapped = [
    ['webrtc:answer', ['v=0 wrapped']],
    ['webrtc:offer', ['v=0 wrapped']],
    ['webrtc:ice-candidate', [{ candidate: 'candidate:1', sdpMid: '0' }]],
    ['webrtc:ice-candidate', { candidate: ['candidate:1'] }],
    ['chat:message', ['hello']],
    ['chat:message', [{ text: 'hello' }]],
    ['user:match', [['rust']]],
  ];
  for (const [event, payload] of wrapped) {
    const answer = await ask(sa, event, payload);
    assert.equal(answer.ok, false, `${event} ${JSON.stringify(payload)}`);
    assert.equal(answer.error.code, 'INVALID_PAYLOAD', `${event} ${JSON.stringify(payload)}`);
  }
  // The same events of the right shape still go through.
  const answered = next(sb, 'webrtc:answer');
  assert.ok((await ask(sa, 'webrtc:answer', { sdp: 'v=0 plain' })).ok);
  await answered;
  assert.deepEqual(relayed.map(([event]) => event), ['webrtc:answer']);
  sa.disconnect();
  sb.disconnect();
});
