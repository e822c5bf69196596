// Memory returns after churn: thousands of connect/disconnect cycles of a few guests leave the
// server's resident memory (read from /proc) where it was. Every per-socket task and buffer
// must end with its socket. DUET_E2E_CHURN_CYCLES sets the number of cycles (the check
// is 30 000; CI runs fewer, still far more than a leak of a few KiB per socket can hide in).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, newGuest, connect, ask, pause } from './harness.mjs';

const cycles = Number(process.env.DUET_E2E_CHURN_CYCLES ?? 6000);
const guests = 20;
const onLinux = process.platform === 'linux';
const skip = onLinux ? false : 'SKIPPED: reads RSS from /proc (Linux only)';

let server;
before(async () => {
  server = await startServer({ DUET_SESSION_RATE_LIMIT_PER_MINUTE: '1000', DUET_RATE_LIMIT_MAX: '1000000' });
});
after(async () => server?.stop());

/** The server's resident set size in KiB, from /proc/<pid>/status. */
function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = status.split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]);
}

/** One guest connecting and leaving `times` times, sending one event each time. */
async function churn(token, times) {
  for (let i = 0; i < times; i += 1) {
    const socket = await connect(server, token);
    await ask(socket, 'user:match:cancel');
    socket.disconnect();
  }
}

test(`RSS stays flat over ${cycles} connect/disconnect cycles`, { skip, timeout: 600_000 }, async () => {
  const tokens = [];
  for (let g = 0; g < guests; g += 1) tokens.push((await newGuest(server)).token);
  // Warm up: allocator pools, Tokio's worker state, socketioxide's maps reach their working size.
  await Promise.all(tokens.map((token) => churn(token, 50)));
  await pause(500);
  const start = rssKiB(server.child.pid);
  await Promise.all(tokens.map((token) => churn(token, Math.ceil(cycles / guests))));
  await pause(1000);
  const end = rssKiB(server.child.pid);
  const allowed = start * 1.1 + 5 * 1024;
  console.log(`churn: ${cycles} cycles, RSS ${(start / 1024).toFixed(1)} MiB -> ${(end / 1024).toFixed(1)} MiB (allowed ${(allowed / 1024).toFixed(1)} MiB)`);
  assert.ok(end <= allowed, `RSS grew from ${start} KiB to ${end} KiB over ${cycles} cycles`);
});
