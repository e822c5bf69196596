// Shared helpers: start a real duet-server, create guests over HTTP, connect real
// socket.io-client sockets, and wait for events with timeouts (never sleeps as assertions).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { io } from 'socket.io-client';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
export const serverBinary = process.env.DUET_SERVER_BIN ?? path.join(targetDir, 'debug', 'duet-server');

/** Starts duet-server on a free port with the given DUET_* settings. */
export async function startServer(env = {}) {
  const child = spawn(serverBinary, [], {
    env: {
      PATH: process.env.PATH,
      DUET_HOST: '127.0.0.1',
      DUET_PORT: '0',
      DUET_LOG_FORMAT: 'json',
      RUST_LOG: process.env.RUST_LOG ?? 'warn,duet_server=info',
      // Every test client comes from 127.0.0.1; the per-IP cap has a test of its own.
      DUET_MAX_PENDING_CONNECTIONS_PER_IP: '100000',
      DUET_MAX_GUESTS_PER_IP: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  child.stderr.on('data', (chunk) => logs.push(chunk.toString()));
  const lines = createInterface({ input: child.stdout });
  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address logged: ${logs.join('')}`)), 20000);
    lines.on('line', (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line);
        if (entry.fields?.address) {
          clearTimeout(timer);
          resolve(entry.fields.address);
        }
      } catch {
        // not JSON: ignore
      }
    });
    child.on('exit', (code) => reject(new Error(`duet-server exited with ${code}: ${logs.join('\n')}`)));
  });
  const url = `http://${address}`;
  const sockets = new Set();
  return {
    url,
    child,
    logs,
    sockets,
    async stop() {
      for (const socket of sockets) socket.disconnect();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

export async function http(server, method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** A new guest session: `{token, guest}`. */
export async function newGuest(server, username) {
  const created = await http(server, 'POST', '/api/guest/session', {
    body: username ? { username } : {},
  });
  if (created.status !== 201) throw new Error(`session not created: ${JSON.stringify(created)}`);
  return created.body;
}

/**
 * The transports the suite's clients use: a WebSocket from the start unless
 * `DUET_E2E_TRANSPORTS` names others (`polling,websocket` are socket.io-client's own defaults:
 * HTTP long-polling first, then the upgrade; scripts/test runs the suite both ways).
 */
export const transports = process.env.DUET_E2E_TRANSPORTS?.split(',') ?? ['websocket'];

/** A socket for `token`; resolves once connected, rejects with the connect_error message. */
export function connect(server, token, options = {}, beforeConnect = () => {}) {
  const socket = io(server.url, {
    auth: token === undefined ? undefined : { token },
    transports,
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    ...options,
  });
  server.sockets.add(socket);
  beforeConnect(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error) => reject(error));
  });
}

/**
 * Connects and records `events` as `[event, payload]` from the very start (events sent during
 * the handshake, such as a resumed `user:matched`, included).
 */
export async function connectRecording(server, token, events) {
  const seen = [];
  const record = (socket) => {
    for (const event of events) socket.on(event, (payload) => seen.push([event, payload]));
  };
  const socket = await connect(server, token, {}, record);
  return { socket, seen };
}

/** The next `event` on `socket` within `ms`. */
export function next(socket, event, ms = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    function handler(...args) {
      clearTimeout(timer);
      resolve(args[0]);
    }
    socket.once(event, handler);
  });
}

/** Collects every `event` on `socket` from now on. */
export function record(socket, event) {
  const seen = [];
  socket.on(event, (payload) => seen.push(payload));
  return seen;
}

/** Emits with an ack and resolves with the ack payload. */
export function ask(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

/** Resolves after `ms` (only to give events a chance to (not) arrive). */
export const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Two connected guests paired with each other, with their user:matched payloads: Ada on
 * `server`, Bob on `bobServer` (another node of the cluster, or the same one).
 */
export async function pairUp(server, interests = [], bobServer = server) {
  const a = await newGuest(server, 'Ada');
  const b = await newGuest(bobServer, 'Bob');
  const sa = await connect(server, a.token);
  const sb = await connect(bobServer, b.token);
  const matchedA = next(sa, 'user:matched');
  const matchedB = next(sb, 'user:matched');
  await ask(sa, 'user:match', { interests });
  await ask(sb, 'user:match', { interests });
  return { a, b, sa, sb, ma: await matchedA, mb: await matchedB };
}

// Deletes every key under `prefix` on the Redis at `url` (redis://[user:password@]host[:port][/db]),
// so the suites leave nothing behind in a Redis that serves run after run. One connection, one
// script (SCAN and UNLINK); resolves to the number of keys removed.
export function removeRedisKeys(url, prefix) {
  const target = new URL(url);
  const command = (...args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const script = `local cursor, removed = '0', 0
    repeat
      local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
      cursor = page[1]
      for _, key in ipairs(page[2]) do removed = removed + redis.call('UNLINK', key) end
    until cursor == '0'
    return removed`;
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  const commands = [];
  if (target.password) commands.push(command('AUTH', decodeURIComponent(target.username) || 'default', decodeURIComponent(target.password)));
  const db = target.pathname.replace(/^\//, '');
  if (db) commands.push(command('SELECT', db));
  commands.push(command('EVAL', script, '0', pattern));
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: target.hostname, port: Number(target.port || 6379) });
    let replies = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('Redis did not answer within 10 s')));
    socket.on('connect', () => socket.write(commands.join('')));
    socket.on('data', (chunk) => {
      replies += chunk.toString();
      if (!replies.endsWith('\r\n')) return;
      const lines = replies.split('\r\n').filter(Boolean);
      if (lines.length < commands.length) return;
      socket.end();
      const failed = lines.find((line) => line.startsWith('-'));
      if (failed) reject(new Error(`Redis refused: ${failed.slice(1)}`));
      else resolve(Number(lines[lines.length - 1].slice(1)));
    });
    socket.on('error', reject);
  });
}
