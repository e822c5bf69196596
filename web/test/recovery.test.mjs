// The web demo through what goes wrong, in a real Chromium against real duet-server processes:
// the server restarted (SIGTERM; a new secret), a chat the server no longer knows, a token that
// must be refreshed, a closed tab, a tab replaced by its duplicate, files too large, and a phone's
// width. Screenshots of each screen at 1280 and 390 px go to target/screenshots/. Needs Chromium;
// skipped without it, except under CI=true where that fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { dist, shots, skip, launch, startIn, status, theirs, say } from '../testing/browser.mjs';
import { startServer } from '../../e2e/harness.mjs';

const SECRET = 'web-recovery-secret-web-recovery-secret';

let browser;
const servers = [];
const pageErrors = [];

before(async () => {
  if (skip) return;
    browser = await launch();
});

after(async () => {
  await browser?.close();
  await Promise.all(servers.map((server) => server.stop()));
});

async function start(env = {}) {
  const server = await startServer({ DUET_WEB_DIR: dist, DUET_JWT_SECRET: SECRET, DUET_MATCH_INTEREST_WAIT_MS: '300', ...env });
  servers.push(server);
  return server;
}

/** The same server started again on the same port, after a SIGTERM (or `signal`). */
async function restart(server, env = {}, signal = 'SIGTERM') {
  const port = new URL(server.url).port;
  if (signal === 'SIGTERM') {
    await server.stop();
  } else {
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill(signal);
    await exited;
  }
  return start({ DUET_PORT: port, ...env });
}

async function guest(server, name, interests, viewport = { width: 1280, height: 800 }) {
  return startIn(await browser.newContext({ viewport }), server, name, interests, pageErrors);
}

async function paired(server, a, b, topic) {
  const first = await guest(server, a, topic);
  const second = await guest(server, b, topic);
  await status(first).filter({ hasText: `You are talking to ${b}` }).waitFor();
  await status(second).filter({ hasText: `You are talking to ${a}` }).waitFor();
  return [first, second];
}

test('a server restarted with SIGTERM, or with a new secret, brings every tab back to the start with a notice, and it works again', { skip }, async () => {
  let server = await start();
  const [ada, bob] = await paired(server, 'Ada', 'Bob', 'restarts');
  server = await restart(server);
  for (const page of [ada, bob]) {
    await page.locator('[data-testid=start-notice]', { hasText: 'The server restarted, so your chat ended' }).waitFor({ timeout: 20_000 });
    await page.click('#start button[type=submit]');
  }
  await status(ada).filter({ hasText: 'You are talking to Bob' }).waitFor();
  await say(bob, 'after the restart');
  await theirs(ada).filter({ hasText: 'after the restart' }).waitFor();

  // Killed (no drain at all): the same.
  server = await restart(server, {}, 'SIGKILL');
  for (const page of [ada, bob]) {
    await page.locator('[data-testid=start-notice]', { hasText: 'The server restarted' }).waitFor({ timeout: 20_000 });
    await page.click('#start button[type=submit]');
  }
  await status(bob).filter({ hasText: 'You are talking to Ada' }).waitFor();

  // A new secret: every stored token is AUTH_INVALID; the tabs make new sessions by themselves.
  server = await restart(server, { DUET_JWT_SECRET: 'a-completely-new-secret-a-completely-new' });
  await ada.locator('[data-testid=start-notice]', { hasText: 'The server restarted' }).waitFor({ timeout: 20_000 });
  await ada.click('#start button[type=submit]');
  await status(ada).filter({ hasText: 'Looking for someone' }).waitFor();
  assert.deepEqual(pageErrors, []);
  await Promise.all([ada.context().close(), bob.context().close()]);
});

test('a chat the server no longer knows goes back to the start screen with a notice', { skip }, async () => {
  const server = await start();
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(server.url);
  // A live session, and a chat this server never had (as after its store lost it).
  const session = await (await fetch(`${server.url}/api/guest/session`, { method: 'POST' })).json();
  const ghost = { matched: { roomId: crypto.randomUUID(), partner: { id: crypto.randomUUID(), username: 'Ghost' }, initiator: true, commonInterests: [], iceServers: [] }, history: [{ kind: 'theirs', text: 'boo', at: new Date().toISOString() }] };
  await page.evaluate(([s, c]) => {
    sessionStorage.setItem('duet.session', JSON.stringify(s));
    sessionStorage.setItem('duet.chat', JSON.stringify(c));
  }, [session, ghost]);
  await page.reload();
  await page.locator('[data-testid=start-notice]', { hasText: 'Your chat ended while you were away' }).waitFor();
  assert.equal(await page.locator('#chat').isVisible(), false, 'no dead chat view');
  await context.close();
});

test('a token near its expiry is refreshed, so a chat outlasts it', { skip }, async () => {
  const server = await start({ DUET_SESSION_TTL_SECONDS: '8' });
  const [ada, bob] = await paired(server, 'Ada', 'Bob', 'longtalk');
  await new Promise((resolve) => setTimeout(resolve, 12_000)); // past the first token and session end
  await say(ada, 'still here after 12 s');
  await theirs(bob).filter({ hasText: 'still here after 12 s' }).waitFor();
  const stored = await ada.evaluate(() => JSON.parse(sessionStorage.getItem('duet.session')));
  assert.ok(new Date(stored.guest.expiresAt) > new Date(), 'the session was extended');
  await Promise.all([ada.context().close(), bob.context().close()]);
});

test('closing a tab tells the partner within seconds; a duplicated tab takes over and the old one can continue', { skip }, async () => {
  const server = await start();
  const [ada, bob] = await paired(server, 'Ada', 'Bob', 'tabs');
  const closedAt = Date.now();
  await ada.close({ runBeforeUnload: true });
  await status(bob).filter({ hasText: 'Ada has disconnected' }).waitFor({ timeout: 8000 });
  assert.ok(Date.now() - closedAt < 8000);
  await bob.context().close();

  const [cleo, dan] = await paired(server, 'Cleo', 'Dan', 'dupes');
  await say(dan, 'hello Cleo');
  await theirs(cleo).filter({ hasText: 'hello Cleo' }).waitFor();
  // A duplicated tab starts with a copy of the tab's sessionStorage.
  const storage = await cleo.evaluate(() => JSON.stringify(Object.fromEntries(Object.entries(sessionStorage))));
  const twin = await cleo.context().newPage();
  await twin.addInitScript((copied) => {
    if (!sessionStorage.getItem('duet.session')) for (const [k, v] of Object.entries(JSON.parse(copied))) sessionStorage.setItem(k, v);
  }, storage);
  await twin.goto(server.url);
  await status(twin).filter({ hasText: 'Back with Dan' }).waitFor();
  await theirs(twin).filter({ hasText: 'hello Cleo' }).waitFor();
  await status(cleo).filter({ hasText: 'continues in another tab' }).waitFor();
  assert.equal(await cleo.locator('[name=text]').isDisabled(), true, 'the old tab is read-only');
  await cleo.click('[data-testid=continue]');
  await status(cleo).filter({ hasText: 'Back with Dan' }).waitFor();
  await status(twin).filter({ hasText: 'continues in another tab' }).waitFor();
  await say(dan, 'which one?');
  await theirs(cleo).filter({ hasText: 'which one?' }).waitFor();
  await Promise.all([cleo.context().close(), dan.context().close()]);
});

test('a file over the limit is refused before sending, an attachment can be removed, and text and file stay apart', { skip }, async () => {
  const server = await start();
  const [ada, bob] = await paired(server, 'Ada', 'Bob', 'files');
  await ada.setInputFiles('input[name=file]', { name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(3 * 1024 * 1024) });
  await ada.locator('#messages li.notice', { hasText: 'Files can be at most 1 MB; big.bin is 3 MB' }).waitFor();
  assert.equal(await ada.locator('[data-testid=attachment]').isVisible(), false);
  await say(ada, 'the connection survived');
  await theirs(bob).filter({ hasText: 'the connection survived' }).waitFor();

  await ada.setInputFiles('input[name=file]', { name: 'oops.txt', mimeType: 'text/plain', buffer: Buffer.from('oops') });
  await ada.locator('[data-testid=attachment]', { hasText: 'oops.txt' }).waitFor();
  await ada.click('[data-testid=attachment-remove]');
  await ada.locator('[data-testid=attachment]').waitFor({ state: 'hidden' });
  await ada.setInputFiles('input[name=file]', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('n') });
  await ada.locator('[name=text]').fill('notes');
  await ada.click('#compose button[type=submit]');
  const bubble = theirs(bob).filter({ has: bob.locator('a.file', { hasText: 'notes.txt' }) });
  await bubble.waitFor();
  assert.equal(await bubble.locator('.text').textContent(), 'notes');
  assert.equal(await theirs(bob).filter({ hasText: 'oops.txt' }).count(), 0, 'the removed file never went');
  await Promise.all([ada.context().close(), bob.context().close()]);
});

test('the page fits a phone from 320 to 430 px, and screenshots of each screen are kept', { skip }, async () => {
  const server = await start();
  for (const width of [320, 390, 430]) {
    const context = await browser.newContext({ viewport: { width, height: 800 } });
    const page = await context.newPage();
    await page.goto(server.url);
    const start = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(start <= width, `start screen ${start} px wide at ${width}`);
    await context.close();
  }
  for (const [width, label] of [[1280, 'desktop'], [390, 'phone'], [320, 'phone-320'], [430, 'phone-430']]) {
    const viewport = { width, height: 820 };
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    await page.goto(server.url);
    await page.screenshot({ path: path.join(shots, `${label}-start.png`) });
    await page.fill('input[name=interests]', `shots-${width}`);
    await page.click('#start button[type=submit]');
    await status(page).filter({ hasText: 'Looking for someone' }).waitFor();
    await page.screenshot({ path: path.join(shots, `${label}-waiting.png`) });
    const other = await guest(server, 'Stranger', `shots-${width}`, viewport);
    await status(page).filter({ hasText: 'You are talking to Stranger' }).waitFor();
    await say(other, 'hi! how is it going?');
    await theirs(page).first().waitFor();
    await say(page, 'fine, thanks — and you?');
    await page.locator('#messages li.mine').first().waitFor();
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      send: document.querySelector('#compose button[type=submit]').getBoundingClientRect().right,
      box: document.querySelector('#compose textarea').getBoundingClientRect().width,
      // What the row leaves for the box: its width less the attach and Send buttons and gaps.
      rest: (() => {
        const row = document.querySelector('#compose .row');
        const gap = parseFloat(getComputedStyle(row).columnGap) || 0;
        const others = [...row.children].filter((c) => c.tagName !== 'TEXTAREA');
        return row.getBoundingClientRect().width - others.reduce((sum, c) => sum + c.getBoundingClientRect().width + gap, 0);
      })(),
    }));
    assert.ok(widths.page <= width, `chat ${widths.page} px wide at ${width}`);
    assert.ok(widths.send <= width, `Send ends at ${widths.send} px of ${width}`);
    assert.ok(widths.box >= widths.rest - 2, `the message box takes the width left (${widths.box} of ${widths.rest} px)`);
    await page.screenshot({ path: path.join(shots, `${label}-chat.png`) });
    await Promise.all([context.close(), other.context().close()]);
  }
  assert.deepEqual(pageErrors, []);
});
