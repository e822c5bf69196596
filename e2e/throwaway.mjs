// Throwaway infrastructure for tests that break things: a redis-server of their own on a free
// port (never the machine's shared one), killed and started again at will, and a TCP proxy that
// can cut the network in front of a server.
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import { pause } from './harness.mjs';

const inCi = ['true', '1'].includes(process.env.CI ?? '');
function hasRedisServer() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The `skip` option for tests of `suite` that start a Redis of their own: false when
 * redis-server is installed; without it a reason to skip, except under CI=true, where it throws.
 */
export function redisServerSkip(suite) {
  if (hasRedisServer()) return false;
  if (inCi) throw new Error(`CI=true but redis-server is not installed: ${suite} must run in CI`);
  return 'SKIPPED: redis-server is not installed';
}

/** A TCP port free on 127.0.0.1 just now. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts redis-server on `port` (persistence off) and returns its process once it accepts connections. */
export async function startRedis(port) {
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i += 1) {
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (up) return child;
    await pause(50);
  }
  throw new Error('throwaway redis-server did not start');
}

/** Kills the redis-server `child` (SIGKILL, as a crash) and waits for it to exit. */
export async function stopRedis(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/**
 * A TCP proxy on a free port that sends each new connection to `target()` (host:port): a load
 * balancer in front of nodes (the test changes the target when a node goes away), or the
 * network between one node and Redis. `cut()` closes every connection through it and refuses
 * new ones until `heal()`.
 */
export async function tcpProxy(target) {
  let cut = false;
  const open = new Set();
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const [host, port] = target().split(':');
    const upstream = net.connect(Number(port), host);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => { client.destroy(); upstream.destroy(); open.delete(socket); });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${server.address().port}`,
    cut() {
      cut = true;
      for (const socket of open) socket.destroy();
    },
    heal() {
      cut = false;
    },
    close: () => new Promise((resolve) => { for (const socket of open) socket.destroy(); server.close(resolve); }),
  };
}

