// Safety for operators, from outside: reports and blocks, automatic and operator bans (guest and
// address), the admin API and its token, proof of work on session creation, the per-address
// guest cap and the content filter. One node in memory, then two nodes on Redis (skipped without
// DUET_TEST_REDIS_URL, except under CI=true where that fails).
//
// Distinct client addresses come from X-Forwarded-For with DUET_TRUST_PROXY=true: the tests run
// on 127.0.0.1, a trusted proxy by default.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startServer, serverBinary, connect, next, ask, pause, record, removeRedisKeys } from './harness.mjs';

const ADMIN = 'admin-token-admin-token-admin-token-0123';
const fast = {
  DUET_MATCH_INTEREST_WAIT_MS: '200',
  DUET_SESSION_RATE_LIMIT_PER_MINUTE: '10000',
  DUET_RATE_LIMIT_MAX: '10000',
  DUET_TRUST_PROXY: 'true',
};

/** An HTTP request from client address `ip` (X-Forwarded-For). */
async function request(server, method, route, { token, body, ip } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (ip) headers['x-forwarded-for'] = ip;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

const admin = (server, method, route, body) => request(server, method, route, { token: ADMIN, body });

/** A guest from `ip`, connected: `{token, guest, socket, events}` (every event it receives). */
async function guestFrom(server, ip, name = 'guest') {
  const created = await request(server, 'POST', '/api/guest/session', { body: { username: name }, ip });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const events = [];
  const socket = await connect(server, created.body.token, { extraHeaders: { 'x-forwarded-for': ip } }, (s) =>
    s.onAny((event, payload) => events.push([event, payload])),
  );
  return { ...created.body, socket, events, ip };
}

/** Pairs `a` with `b` (both waiting with one interest nobody else has). */
async function pair(a, b, interest = `t${Math.random()}`) {
  const matchedA = next(a.socket, 'user:matched');
  const matchedB = next(b.socket, 'user:matched');
  await ask(a.socket, 'user:match', { interests: [interest] });
  await ask(b.socket, 'user:match', { interests: [interest] });
  const [ma, mb] = await Promise.all([matchedA, matchedB]);
  assert.equal(ma.partner.id, b.guest.id);
  return { ma, mb };
}

/** The connect_error message of a connection attempt with `token` from `ip`. */
async function refusal(server, token, ip) {
  return connect(server, token, { extraHeaders: ip ? { 'x-forwarded-for': ip } : {} }).then(
    (socket) => {
      socket.disconnect();
      return 'connected';
    },
    (error) => error.message,
  );
}

/** Solves an ALTCHA challenge as a widget does: the payload for the `altcha` field. */
function solve(challenge) {
  for (let number = 0; number <= challenge.maxnumber; number += 1) {
    if (createHash('sha256').update(challenge.salt + number).digest('hex') === challenge.challenge) {
      const { algorithm, salt, signature } = challenge;
      return Buffer.from(JSON.stringify({ algorithm, challenge: challenge.challenge, number, salt, signature })).toString('base64');
    }
  }
  throw new Error('unsolvable challenge');
}

describe('one node', () => {
  let server;
  before(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'duet-words-'));
    const words = path.join(dir, 'words.txt');
    writeFileSync(words, '# test list\nbadword\nbuy now\n');
    server = await startServer({
      ...fast,
      DUET_ADMIN_TOKEN: ADMIN,
      DUET_REPORT_EVIDENCE_MESSAGES: '2',
      DUET_BLOCKED_WORDS_FILE: words,
      DUET_AUTOBAN_REPORTS: '3',
    });
  });
  after(async () => server?.stop());

  test('a report ends the chat for the partner only, is recorded with evidence and a tagged address, and the reported guest is not told', async () => {
    const ada = await guestFrom(server, '198.51.100.1', 'Ada');
    const bob = await guestFrom(server, '198.51.100.2', 'Bob');
    const { ma } = await pair(ada, bob);
    for (const text of ['one', 'two', 'three']) await ask(bob.socket, 'chat:message', { text });
    const bobEnded = next(bob.socket, 'chat:ended');
    const answer = await ask(ada.socket, 'chat:report', { reason: 'harassment', note: '  rude  ' });
    assert.equal(answer.ok, true);
    assert.match(answer.reportId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(await bobEnded, { roomId: ma.roomId, reason: 'left' });
    await pause(200);
    assert.equal(ada.events.filter(([e]) => e === 'chat:ended').length, 0, 'the reporter gets no chat:ended');
    assert.deepEqual(bob.events.map(([e]) => e).filter((e) => !['user:matched', 'chat:ended'].includes(e)), [], 'nothing tells Bob he was reported');

    const listed = await admin(server, 'GET', `/api/admin/reports?guestId=${bob.guest.id}`);
    assert.equal(listed.status, 200);
    assert.equal(listed.body.total, 1);
    const [report] = listed.body.reports;
    assert.equal(report.id, answer.reportId);
    assert.equal(report.reporter, ada.guest.id);
    assert.equal(report.reported, bob.guest.id);
    assert.equal(report.roomId, ma.roomId);
    assert.equal(report.reason, 'harassment');
    assert.equal(report.note, 'rude');
    assert.deepEqual(report.evidence.map((m) => m.text), ['two', 'three']);
    assert.match(report.reportedAddress, /^[0-9a-f]{32}$/);
    assert.ok(!JSON.stringify(listed.body).includes('198.51.100'), 'no raw address is stored');
  });

  test('reports and blocks are refused outside a chat and accepted for a minute after one ended', async () => {
    const ada = await guestFrom(server, '198.51.100.3');
    assert.equal((await ask(ada.socket, 'chat:report', { reason: 'spam' })).error.code, 'NOT_IN_CHAT');
    assert.equal((await ask(ada.socket, 'chat:block')).error.code, 'NOT_IN_CHAT');
    const bob = await guestFrom(server, '198.51.100.4');
    await pair(ada, bob);
    assert.equal((await ask(ada.socket, 'chat:report', { reason: 'rude' })).error.code, 'INVALID_PAYLOAD');
    assert.equal((await ask(ada.socket, 'chat:report')).error.code, 'INVALID_PAYLOAD');
    assert.equal((await ask(ada.socket, 'chat:report', { reason: 'other', note: 'x'.repeat(501) })).error.code, 'PAYLOAD_TOO_LARGE');
    // Still in the chat after the refusals; then Bob leaves and Ada reports him afterwards.
    const adaEnded = next(ada.socket, 'chat:ended');
    assert.equal((await ask(bob.socket, 'chat:leave')).ok, true);
    await adaEnded;
    const late = await ask(ada.socket, 'chat:report', { reason: 'spam' });
    assert.equal(late.ok, true);
    assert.deepEqual(await ask(bob.socket, 'chat:block'), { ok: true }, 'Bob may block Ada after the chat, too');
  });

  test('a blocked pair never meets again, however long both wait, while others still meet them', async () => {
    const ada = await guestFrom(server, '198.51.100.5');
    const bob = await guestFrom(server, '198.51.100.6');
    const interest = 'blocked-pair';
    await pair(ada, bob, interest);
    const bobEnded = next(bob.socket, 'chat:ended');
    assert.deepEqual(await ask(ada.socket, 'chat:block'), { ok: true });
    assert.equal((await bobEnded).reason, 'left');
    const adaMatched = record(ada.socket, 'user:matched');
    const bobMatched = record(bob.socket, 'user:matched');
    await ask(bob.socket, 'user:match', { interests: [interest] });
    await ask(ada.socket, 'user:match', { interests: [interest] });
    await pause(1200); // six interest waits: they would have been paired at random long ago
    assert.deepEqual([adaMatched.length, bobMatched.length], [0, 0]);
    const cy = await guestFrom(server, '198.51.100.7');
    const cyMatched = next(cy.socket, 'user:matched');
    await ask(cy.socket, 'user:match', { interests: [interest] });
    assert.equal((await cyMatched).partner.id, bob.guest.id, 'Bob waited longest');
    await ask(ada.socket, 'user:match:cancel');
  });

  test('two guests of one device (two tabs of a browser) are never paired; a bad deviceId is refused', async () => {
    const device = `device-${Math.random()}`;
    const make = async (ip) => {
      const created = await request(server, 'POST', '/api/guest/session', { body: { deviceId: device }, ip });
      assert.equal(created.status, 201);
      const socket = await connect(server, created.body.token, { extraHeaders: { 'x-forwarded-for': ip } });
      return { ...created.body, socket };
    };
    const tab1 = await make('198.51.100.20');
    const tab2 = await make('198.51.100.20');
    const seen = record(tab1.socket, 'user:matched');
    await ask(tab1.socket, 'user:match', {});
    await ask(tab2.socket, 'user:match', {});
    await pause(800);
    assert.equal(seen.length, 0, 'a browser never meets itself');
    const other = await guestFrom(server, '198.51.100.21');
    const matched = next(other.socket, 'user:matched');
    await ask(other.socket, 'user:match', {});
    assert.equal((await matched).partner.id, tab1.guest.id);
    await ask(tab2.socket, 'user:match:cancel');
    for (const deviceId of ['short', 42, 'x'.repeat(129)]) {
      const refused = await request(server, 'POST', '/api/guest/session', { body: { deviceId } });
      assert.deepEqual([refused.status, refused.body.error.code], [400, 'INVALID_PAYLOAD'], String(deviceId));
    }
  });

  test('the content filter refuses listed words however they are written, and nothing reaches the partner', async () => {
    const ada = await guestFrom(server, '198.51.100.8');
    const bob = await guestFrom(server, '198.51.100.9');
    await pair(ada, bob);
    for (const text of ['BADWORD!', 'ｂａｄｗｏｒｄ', 'bad\u200Bword', 'please Buy  Now']) {
      const answer = await ask(ada.socket, 'chat:message', { text });
      assert.equal(answer.error?.code, 'CONTENT_REFUSED', text);
    }
    const got = next(bob.socket, 'chat:message');
    assert.equal((await ask(ada.socket, 'chat:message', { text: 'a badge is fine' })).ok, true);
    assert.equal((await got).text, 'a badge is fine');
    assert.equal(bob.events.filter(([e]) => e === 'chat:message').length, 1);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /duet_content_refused_total 4/);
  });

  test('the admin API answers only with its token', async () => {
    assert.equal((await request(server, 'GET', '/api/admin/bans')).body.error.code, 'AUTH_REQUIRED');
    const wrong = await request(server, 'GET', '/api/admin/bans', { token: `${ADMIN}x` });
    assert.deepEqual([wrong.status, wrong.body.error.code], [401, 'AUTH_INVALID']);
    const basic = await fetch(`${server.url}/api/admin/stats`, { headers: { authorization: `Basic ${ADMIN}` } });
    assert.equal(basic.status, 401);
    const stats = await admin(server, 'GET', '/api/admin/stats');
    assert.equal(stats.status, 200);
    assert.ok(stats.body.reports >= 1);
    assert.equal(typeof stats.body.activeBans, 'number');
    assert.equal((await admin(server, 'GET', '/api/admin/reports?limit=0')).status, 400);
    assert.equal((await admin(server, 'GET', '/api/admin/reports?guestId=nope')).status, 400);
    assert.equal((await admin(server, 'POST', '/api/admin/bans', { seconds: 60 })).status, 400);
    assert.equal((await admin(server, 'POST', '/api/admin/bans', { guestId: 'x', seconds: 60 })).status, 400);
    assert.equal((await admin(server, 'DELETE', '/api/admin/bans/not-an-id')).status, 404);
  });

  test('an operator ban disconnects the guest (its partner told), refuses it until lifted, and its token works again after', async () => {
    const ada = await guestFrom(server, '198.51.100.10');
    const bob = await guestFrom(server, '198.51.100.11');
    const { mb } = await pair(ada, bob);
    const banned = next(ada.socket, 'guest:banned');
    const gone = next(ada.socket, 'disconnect');
    const bobEnded = next(bob.socket, 'chat:ended');
    const made = await admin(server, 'POST', '/api/admin/bans', { guestId: ada.guest.id, seconds: 600, reason: 'spam bot' });
    assert.equal(made.status, 201);
    assert.deepEqual(made.body.ban.target, { guestId: ada.guest.id });
    assert.equal((await banned).expiresAt, made.body.ban.expiresAt);
    assert.equal(await gone, 'io server disconnect');
    assert.deepEqual(await bobEnded, { roomId: mb.roomId, reason: 'disconnected' });

    assert.equal(await refusal(server, ada.token, ada.ip), 'BANNED');
    const me = await request(server, 'GET', '/api/guest/me', { token: ada.token, ip: ada.ip });
    assert.deepEqual([me.status, me.body.error.code, me.body.error.expiresAt], [403, 'BANNED', made.body.ban.expiresAt]);
    const list = await admin(server, 'GET', '/api/admin/bans');
    assert.ok(list.body.bans.some((ban) => ban.id === made.body.ban.id && ban.reason === 'spam bot'));

    assert.equal((await admin(server, 'DELETE', `/api/admin/bans/${made.body.ban.id}`)).status, 204);
    assert.equal((await admin(server, 'DELETE', `/api/admin/bans/${made.body.ban.id}`)).status, 404);
    assert.equal(await refusal(server, ada.token, ada.ip), 'connected', 'the session outlived its ban');
  });

  test('three distinct reporters ban a guest and its address everywhere; one reporter counts once', async () => {
    const troll = await guestFrom(server, '203.0.113.66', 'Troll');
    const neighbour = await guestFrom(server, '203.0.113.66', 'Neighbour'); // same address, connected before the ban
    const reporters = [];
    for (let n = 0; n < 2; n += 1) {
      const reporter = await guestFrom(server, `203.0.113.${n + 1}`);
      await pair(reporter, troll);
      const ended = next(troll.socket, 'chat:ended');
      assert.equal((await ask(reporter.socket, 'chat:report', { reason: 'spam' })).ok, true);
      await ended;
      reporters.push(reporter);
    }
    // The first reporter again, within its minute: still two distinct reporters.
    assert.equal((await ask(reporters[0].socket, 'chat:report', { reason: 'spam' })).ok, true);
    assert.equal(troll.socket.connected, true);

    // The third reporter's chat ends; the troll is already in a new chat when the report comes.
    const third = await guestFrom(server, '203.0.113.3');
    await pair(third, troll);
    const trollEnded = next(troll.socket, 'chat:ended');
    await ask(third.socket, 'chat:leave');
    await trollEnded;
    const victim = await guestFrom(server, '203.0.113.4');
    const { mb } = await pair(troll, victim);
    const banned = next(troll.socket, 'guest:banned');
    const victimEnded = next(victim.socket, 'chat:ended');
    const neighbourBanned = next(neighbour.socket, 'guest:banned');
    assert.equal((await ask(third.socket, 'chat:report', { reason: 'harassment' })).ok, true);
    const { expiresAt } = await banned;
    assert.ok(Date.parse(expiresAt) > Date.now() + 23 * 3600 * 1000, 'the guest is banned for a day');
    assert.deepEqual(await victimEnded, { roomId: mb.roomId, reason: 'disconnected' });
    const addressUntil = Date.parse((await neighbourBanned).expiresAt);
    assert.ok(addressUntil < Date.parse(expiresAt), 'the address is banned for less time');

    assert.equal(await refusal(server, troll.token, '203.0.113.99'), 'BANNED', 'the guest, from any address');
    const fresh = await request(server, 'POST', '/api/guest/session', { body: {}, ip: '203.0.113.66' });
    assert.deepEqual([fresh.status, fresh.body.error.code], [403, 'BANNED']);
    assert.ok(Date.parse(fresh.body.error.expiresAt) > Date.now());
    assert.equal(await refusal(server, neighbour.token, '203.0.113.66'), 'BANNED');
    assert.equal(await refusal(server, neighbour.token, '203.0.113.67'), 'connected', 'the neighbour, elsewhere');
    assert.equal((await request(server, 'POST', '/api/guest/session', { body: {}, ip: '203.0.113.67' })).status, 201);
    const bans = (await admin(server, 'GET', '/api/admin/bans')).body.bans.filter((ban) => ban.source === 'automatic');
    assert.deepEqual(bans.map((ban) => Object.keys(ban.target)[0]).sort(), ['address', 'guestId']);
  });
});

describe('the per-address guest cap', () => {
  let server;
  before(async () => {
    server = await startServer({ ...fast, DUET_MAX_GUESTS_PER_IP: '2' });
  });
  after(async () => server?.stop());

  test('counts guests, not sockets: a third guest is refused, a guest replacing its socket is not', async () => {
    const ip = '192.0.2.50';
    const ada = await guestFrom(server, ip);
    const bob = await guestFrom(server, ip);
    const cy = await request(server, 'POST', '/api/guest/session', { body: {}, ip });
    assert.equal(await refusal(server, cy.body.token, ip), 'RATE_LIMITED');
    assert.equal(await refusal(server, cy.body.token, '192.0.2.51'), 'connected', 'another address is not capped');
    const replaced = next(ada.socket, 'session:replaced');
    const again = await connect(server, ada.token, { extraHeaders: { 'x-forwarded-for': ip } });
    await replaced;
    assert.equal(again.connected, true);
    bob.socket.disconnect();
    await pause(200);
    assert.equal(await refusal(server, cy.body.token, ip), 'connected', 'a place is free again');
  });
});

describe('proof of work', () => {
  let server;
  let plain;
  before(async () => {
    [server, plain] = await Promise.all([
      startServer({ ...fast, DUET_POW_DIFFICULTY: '20000', DUET_POW_CHALLENGE_SECONDS: '2' }),
      startServer(fast),
    ]);
  });
  after(async () => {
    await server?.stop();
    await plain?.stop();
  });

  test('a session needs a solved challenge, and each solution works once', async () => {
    const missing = await request(server, 'POST', '/api/guest/session', { body: { username: 'Ada' } });
    assert.deepEqual([missing.status, missing.body.error.code], [400, 'POW_REQUIRED']);
    const challenge = (await request(server, 'GET', '/api/guest/challenge')).body;
    assert.equal(challenge.algorithm, 'SHA-256');
    assert.equal(challenge.maxnumber, 20000);
    assert.match(challenge.salt, /\?expires=\d+$/);
    const altcha = solve(challenge);
    const created = await request(server, 'POST', '/api/guest/session', { body: { username: 'Ada', altcha } });
    assert.equal(created.status, 201);
    const replayed = await request(server, 'POST', '/api/guest/session', { body: { altcha } });
    assert.deepEqual([replayed.status, replayed.body.error.code], [400, 'POW_INVALID']);
    const payload = JSON.parse(Buffer.from(altcha, 'base64').toString());
    const wrong = Buffer.from(JSON.stringify({ ...payload, number: payload.number + 1 })).toString('base64');
    const fresh = (await request(server, 'GET', '/api/guest/challenge')).body;
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(solve(fresh), 'base64').toString()), signature: '00'.repeat(32) })).toString('base64');
    for (const bad of [wrong, forged, 'not base64 at all', 42]) {
      const refused = await request(server, 'POST', '/api/guest/session', { body: { altcha: bad } });
      assert.deepEqual([refused.status, refused.body.error.code], [400, 'POW_INVALID'], String(bad));
    }
  });

  test('an expired solution is refused', async () => {
    const challenge = (await request(server, 'GET', '/api/guest/challenge')).body;
    const altcha = solve(challenge);
    const expires = Number(challenge.salt.split('expires=')[1]) * 1000;
    await pause(Math.max(0, expires - Date.now()) + 100);
    const refused = await request(server, 'POST', '/api/guest/session', { body: { altcha } });
    assert.deepEqual([refused.status, refused.body.error.code], [400, 'POW_INVALID']);
  });

  test('without proof of work there is no challenge to solve and sessions need none', async () => {
    assert.equal((await request(plain, 'GET', '/api/guest/challenge')).status, 404);
    assert.equal((await request(plain, 'POST', '/api/guest/session', { body: {} })).status, 201);
    assert.equal((await request(plain, 'GET', '/api/admin/bans', { token: ADMIN })).status, 404, 'no admin API without its token');
  });
});

test('production refuses an admin token shorter than 32 bytes', async () => {
  const child = spawn(serverBinary, [], {
    env: { PATH: process.env.PATH, DUET_ENV: 'production', DUET_JWT_SECRET: 's'.repeat(32), DUET_ADMIN_TOKEN: 'short', DUET_PORT: '0', DUET_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.notEqual(code, 0);
  assert.match(output, /DUET_ADMIN_TOKEN must be at least 32 bytes/);
});

const redisUrl = process.env.DUET_TEST_REDIS_URL;
const inCi = ['true', '1'].includes(process.env.CI ?? '');
if (!redisUrl && inCi) throw new Error('CI=true but DUET_TEST_REDIS_URL is not set: the moderation cluster suite must run in CI');
const skip = redisUrl ? false : 'SKIPPED: set DUET_TEST_REDIS_URL to run the moderation cluster suite';

describe('two nodes on Redis', () => {
  const prefix = `duet-e2e-mod:${process.pid}:${Date.now()}:`;
  const shared = {
    ...fast,
    DUET_REDIS_URL: redisUrl ?? '',
    DUET_REDIS_KEY_PREFIX: prefix,
    DUET_JWT_SECRET: 'moderation-cluster-secret-moderation',
    DUET_ADMIN_TOKEN: ADMIN,
    DUET_POW_DIFFICULTY: '5000',
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

  /** A guest from `ip` on `server`, its session made with a solved proof from the other node. */
  async function clusterGuest(server, other, ip) {
    const challenge = (await request(other, 'GET', '/api/guest/challenge')).body;
    const created = await request(server, 'POST', '/api/guest/session', { body: { altcha: solve(challenge) }, ip });
    assert.equal(created.status, 201, 'a challenge of one node is solved for another');
    const events = [];
    const socket = await connect(server, created.body.token, { extraHeaders: { 'x-forwarded-for': ip } }, (s) =>
      s.onAny((event, payload) => events.push([event, payload])),
    );
    return { ...created.body, socket, events, ip };
  }

  test('a proof of work is spent on every node at once', { skip }, async () => {
    const challenge = (await request(one, 'GET', '/api/guest/challenge')).body;
    const altcha = solve(challenge);
    assert.equal((await request(one, 'POST', '/api/guest/session', { body: { altcha } })).status, 201);
    const again = await request(two, 'POST', '/api/guest/session', { body: { altcha } });
    assert.deepEqual([again.status, again.body.error.code], [400, 'POW_INVALID']);
  });

  test('a ban made on node one disconnects the guest on node two and refuses it there', { skip }, async () => {
    const ada = await clusterGuest(two, one, '198.18.0.1');
    const bob = await clusterGuest(one, two, '198.18.0.2');
    const { mb } = await pair(ada, bob);
    const banned = next(ada.socket, 'guest:banned');
    const bobEnded = next(bob.socket, 'chat:ended');
    const made = await admin(one, 'POST', '/api/admin/bans', { guestId: ada.guest.id, seconds: 300 });
    assert.equal(made.status, 201);
    assert.equal((await banned).expiresAt, made.body.ban.expiresAt);
    assert.deepEqual(await bobEnded, { roomId: mb.roomId, reason: 'disconnected' });
    assert.equal(await refusal(two, ada.token, ada.ip), 'BANNED');
    assert.equal(await refusal(one, ada.token, ada.ip), 'BANNED');
    assert.equal((await admin(two, 'GET', '/api/admin/bans')).body.bans.length, 1, 'every node lists it');
  });

  test('an address banned on node one is shut out of node two within a second', { skip }, async () => {
    const carol = await clusterGuest(two, one, '198.18.0.9');
    const banned = next(carol.socket, 'guest:banned', 3000);
    const made = await admin(one, 'POST', '/api/admin/bans', { ip: '198.18.0.9', seconds: 300 });
    assert.equal(made.status, 201);
    await banned;
    const fresh = await request(two, 'POST', '/api/guest/session', { body: {}, ip: '198.18.0.9' });
    assert.equal(fresh.body.error.code, 'BANNED', 'checked before the proof of work');
    assert.equal((await admin(two, 'DELETE', `/api/admin/bans/${made.body.ban.id}`)).status, 204);
    assert.equal(await refusal(one, carol.token, carol.ip), 'connected');
  });

  test('a pair blocked across nodes never meets again, and reports from both nodes count together', { skip }, async () => {
    const ada = await clusterGuest(one, two, '198.18.1.1');
    const bob = await clusterGuest(two, one, '198.18.1.2');
    const interest = 'cluster-block';
    await pair(ada, bob, interest);
    assert.deepEqual(await ask(bob.socket, 'chat:block'), { ok: true });
    const adaMatched = record(ada.socket, 'user:matched');
    await ask(ada.socket, 'user:match', { interests: [interest] });
    await ask(bob.socket, 'user:match', { interests: [interest] });
    await pause(1200);
    assert.equal(adaMatched.length, 0);
    await ask(ada.socket, 'user:match:cancel');
    await ask(bob.socket, 'user:match:cancel');

    const troll = await clusterGuest(one, two, '198.18.2.1');
    const banned = next(troll.socket, 'guest:banned', 5000);
    for (const [n, node] of [[2, two], [3, one], [4, two]]) {
      const reporter = await clusterGuest(node, node === one ? two : one, `198.18.2.${n}`);
      await pair(reporter, troll);
      const ended = next(troll.socket, 'chat:ended');
      assert.equal((await ask(reporter.socket, 'chat:report', { reason: 'spam' })).ok, true);
      if (n < 4) await ended;
    }
    await banned;
    assert.equal(await refusal(two, troll.token, '198.18.9.9'), 'BANNED');
    const reports = await admin(two, 'GET', `/api/admin/reports?guestId=${troll.guest.id}`);
    assert.equal(reports.body.total, 3);
  });
});
