// The HTTP server against slow and idle clients: request headers must arrive in time, idle
// connections are closed, and one IP holds only so many connections that never authenticated.
// File descriptors are read from /proc, as an operator would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import { startServer, connect, next, pause } from './harness.mjs';

const servers = [];
after(() => Promise.all(servers.map((server) => server.stop())));

async function start(env) {
  const server = await startServer({ DUET_SESSION_RATE_LIMIT_PER_MINUTE: '1000', ...env });
  servers.push(server);
  return server;
}

const openFiles = (server) => fs.readdirSync(`/proc/${server.child.pid}/fd`).length;

/** A TCP connection from `localAddress` that records when the server closed it. */
function rawConnection(server, localAddress = '127.0.0.1') {
  const { hostname, port } = new URL(server.url);
  const socket = net.connect({ host: hostname, port: Number(port), localAddress });
  const state = { socket, closedAt: undefined, data: '' };
  socket.on('data', (chunk) => { state.data += chunk; });
  socket.on('error', () => {});
  socket.on('close', () => { state.closedAt = Date.now(); });
  return new Promise((resolve) => socket.once('connect', () => resolve(state)));
}

test('slowloris: 200 connections trickling headers are capped per IP and all closed after the header timeout', async () => {
  const server = await start({ DUET_HEADER_READ_TIMEOUT_MS: '1500', DUET_MAX_PENDING_CONNECTIONS_PER_IP: '50' });
  const before = openFiles(server);
  const started = Date.now();
  const slow = await Promise.all(Array.from({ length: 200 }, () => rawConnection(server)));
  for (const connection of slow) connection.socket.write('GET /health HTTP/1.1\r\n');
  const trickle = setInterval(() => {
    for (const connection of slow) if (connection.closedAt === undefined) connection.socket.write('X-Slow: 1\r\n');
  }, 300);
  try {
    await pause(500);
    const refused = slow.filter((connection) => connection.closedAt !== undefined).length;
    assert.ok(refused >= 150, `connections over the per-IP cap are closed at once (${refused} of 200)`);
    // Another address is not held back by this one's connections.
    const other = await rawConnection(server, '127.0.0.2');
    other.socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await pause(300);
    assert.match(other.data, /^HTTP\/1\.1 200/);
    await pause(2000);
    const open = slow.filter((connection) => connection.closedAt === undefined).length;
    assert.equal(open, 0, 'every trickling connection is closed once its headers are late');
    const last = Math.max(...slow.map((connection) => connection.closedAt));
    assert.ok(last - started < 3500, `closed ${last - started} ms after they opened`);
  } finally {
    clearInterval(trickle);
  }
  await pause(200);
  assert.ok(openFiles(server) <= before + 2, `file descriptors back to ${openFiles(server)} (from ${before})`);
});

test('an idle kept-alive connection is closed after the header timeout', async () => {
  const server = await start({ DUET_HEADER_READ_TIMEOUT_MS: '1000' });
  const connection = await rawConnection(server);
  const opened = Date.now();
  connection.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  await pause(200);
  assert.match(connection.data, /^HTTP\/1\.1 200/);
  assert.equal(connection.closedAt, undefined, 'kept alive after its answer');
  await pause(1500);
  assert.ok(connection.closedAt !== undefined, 'closed when idle for the timeout');
  assert.ok(connection.closedAt - opened < 2000, `after ${connection.closedAt - opened} ms`);
});

/** A guest session over a connection of its own that closes after the answer. */
function newGuestClosing(server) {
  return new Promise((resolve, reject) => {
    const request = http.request(`${server.url}/api/guest/session`, { method: 'POST', agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => resolve(JSON.parse(body)));
    });
    request.on('error', reject);
    request.end();
  });
}

test('authenticated sockets do not count against the per-IP cap; sockets that never authenticate do', async () => {
  const server = await start({ DUET_MAX_PENDING_CONNECTIONS_PER_IP: '5' });
  const sockets = [];
  for (let i = 0; i < 12; i += 1) {
    const guest = await newGuestClosing(server);
    // A WebSocket from the start: a guest on long-polling needs a new connection now and then,
    // and while its IP is at the cap that one is refused like any other.
    sockets.push(await connect(server, guest.token, { transports: ['websocket'] }));
  }
  assert.equal(sockets.filter((socket) => socket.connected).length, 12);
  // Five connections that never send a request fill the cap; the sixth is closed at once.
  const idle = await Promise.all(Array.from({ length: 5 }, () => rawConnection(server)));
  await pause(100);
  const sixth = await rawConnection(server);
  await pause(200);
  assert.ok(sixth.closedAt !== undefined, 'over the cap: closed');
  assert.equal(idle.filter((connection) => connection.closedAt !== undefined).length, 0);
  for (const socket of sockets) socket.disconnect();
});

test('guests whose WebSocket came by upgrade from long-polling do not count against the per-IP cap either', async () => {
  // socket.io-client's own defaults: each guest's first requests are long-polling ones, on
  // several connections at once, and its WebSocket is a later request naming the session.
  // A cap with room for one guest's handshake: a polling client has several requests (and
  // connections) open at once before it is authenticated.
  const server = await start({ DUET_MAX_PENDING_CONNECTIONS_PER_IP: '8' });
  const sockets = [];
  for (let i = 0; i < 12; i += 1) {
    const guest = await newGuestClosing(server);
    const socket = await connect(server, guest.token, { transports: ['polling', 'websocket'] });
    if (socket.io.engine.transport.name !== 'websocket') {
      await next(socket.io.engine, 'upgrade');
    }
    sockets.push(socket);
  }
  assert.equal(sockets.filter((socket) => socket.connected).length, 12);
  // A client sends its polling transport's close packet after the upgrade, on a connection of
  // its own: let those requests finish, or the cap filled below would refuse them.
  await pause(300);
  // Their connections count for nothing: six that never send a request fit beside them (two
  // places left for a client's stray polling connection still closing), and the cap still
  // holds for the rest.
  const idle = await Promise.all(Array.from({ length: 6 }, () => rawConnection(server)));
  await pause(100);
  const more = await Promise.all(Array.from({ length: 10 }, () => rawConnection(server)));
  await pause(200);
  assert.equal(idle.filter((connection) => connection.closedAt !== undefined).length, 0);
  const refused = more.filter((connection) => connection.closedAt !== undefined).length;
  assert.ok(refused >= 8, `over the cap: ${refused} of 10 closed`);
  for (const socket of sockets) socket.disconnect();
});
