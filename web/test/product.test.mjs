// What random-chat users expect of the web demo, in a real Chromium against the real
// duet-server: the operator's notice, a notice for a random match, a multi-line box with a
// counter, Esc twice for "next", focus and live regions, an unread count in the title, light and
// dark themes, a favicon, changing name or interests without a reload, and a browser that never
// meets itself. Needs Chromium; skipped without it, except under CI=true where that fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dist, skip, launch, startIn, status, theirs } from '../testing/browser.mjs';
import { startServer } from '../../e2e/harness.mjs';

const NOTICE = 'You must be 18 or older. Be kind; reports are read.';

let server;
let browser;
const pageErrors = [];

before(async () => {
  if (skip) return;
  server = await startServer({
    DUET_WEB_DIR: dist,
    DUET_JWT_SECRET: 'web-product-secret-web-product-secret-x',
    DUET_MATCH_INTEREST_WAIT_MS: '400',
    DUET_NOTICE: NOTICE,
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const open = (context, name, interests) => startIn(context, server, name, interests, pageErrors);
const guest = async (name, interests) => open(await browser.newContext(), name, interests);

test('the start screen shows the operator notice, a favicon and follows the colour scheme', { skip }, async () => {
  const context = await browser.newContext({ colorScheme: 'dark' });
  const page = await context.newPage();
  await page.goto(server.url);
  assert.equal(await page.locator('[data-testid=operator-notice]').textContent(), NOTICE);
  const dark = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  await page.emulateMedia({ colorScheme: 'light' });
  const light = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  assert.notEqual(dark, light, 'dark and light themes differ');
  const icon = await page.locator('link[rel=icon]').getAttribute('href');
  assert.equal((await fetch(new URL(icon, server.url))).status, 200);
  await context.close();
});

test('a chat starts with focus in the box, says when the match is random, and the box is multi-line with a counter', { skip }, async () => {
  const ada = await guest('Ada', 'harpsichords');
  const bob = await guest('Bob', 'bagpipes');
  await status(ada).filter({ hasText: 'You are talking to Bob' }).waitFor();
  await ada.locator('#messages li.notice', { hasText: 'random match' }).waitFor();
  assert.equal(await ada.evaluate(() => document.activeElement?.getAttribute('name')), 'text');
  assert.equal(await ada.locator('#messages').getAttribute('aria-live'), 'polite');

  const box = ada.locator('[name=text]');
  await box.pressSequentially('line one');
  await box.press('Shift+Enter');
  await box.pressSequentially('line two');
  await box.press('Enter');
  await theirs(bob).filter({ hasText: 'line one' }).waitFor();
  assert.equal(await theirs(bob).last().locator('.text').textContent(), 'line one\nline two');
  assert.match(await theirs(bob).last().locator('.meta').textContent(), /^Ada · \d/);

  await box.fill('x'.repeat(1900));
  await box.dispatchEvent('input');
  assert.equal(await ada.locator('[data-testid=counter]').textContent(), '1900 / 2000');
  await box.fill('x'.repeat(2005));
  await box.dispatchEvent('input');
  assert.match(await ada.locator('[data-testid=counter]').textContent(), /5 characters too long/);
  assert.equal(await ada.locator('#compose button[type=submit]').isDisabled(), true, 'nothing is cut silently');
  await box.fill('');
  await box.dispatchEvent('input');

  // A message while the tab is hidden counts in the title.
  await bob.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
  });
  await ada.locator('[name=text]').fill('are you there?');
  await ada.locator('[name=text]').press('Enter');
  await theirs(bob).filter({ hasText: 'are you there?' }).waitFor();
  assert.match(await bob.title(), /^\(1\) New message/);

  // Esc, then Esc again, is "next stranger".
  await ada.keyboard.press('Escape');
  await status(ada).filter({ hasText: 'Press Esc again' }).waitFor();
  await ada.keyboard.press('Escape');
  await status(bob).filter({ hasText: 'Ada left' }).waitFor();
  await status(ada).filter({ hasText: 'Looking for someone' }).waitFor();
  await Promise.all([ada.context().close(), bob.context().close()]);
});

test('name and interests change without a reload', { skip }, async () => {
  const cleo = await guest('Cleo', 'tea');
  await status(cleo).filter({ hasText: 'Looking for someone' }).waitFor();
  await cleo.click('[data-testid=stop]');
  await status(cleo).filter({ hasText: 'Stopped looking' }).waitFor();
  await cleo.click('[data-testid=change]');
  await cleo.fill('input[name=username]', 'Cleopatra');
  await cleo.fill('input[name=interests]', 'pyramids');
  await cleo.click('#start button[type=submit]');
  const dan = await guest('Dan', 'pyramids');
  await status(dan).filter({ hasText: 'You are talking to Cleopatra' }).waitFor();
  await dan.locator('#messages li.notice', { hasText: 'You both like pyramids' }).waitFor();
  await Promise.all([cleo.context().close(), dan.context().close()]);
});

test('two tabs of one browser are never paired with each other', { skip }, async () => {
  const context = await browser.newContext();
  const first = await open(context, 'Tab one', '');
  const second = await open(context, 'Tab two', '');
  await status(second).filter({ hasText: 'Looking for someone' }).waitFor();
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.equal(await status(first).textContent(), 'Looking for someone to talk to…');
  assert.equal(await status(second).textContent(), 'Looking for someone to talk to…');
  const other = await guest('Elsewhere', '');
  await status(other).filter({ hasText: 'You are talking to Tab one' }).waitFor();
  assert.deepEqual(pageErrors, []);
  await Promise.all([context.close(), other.context().close()]);
});
