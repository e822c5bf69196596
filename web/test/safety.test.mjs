// Safety in the web demo, in a real Chromium against the real duet-server: the proof of work is
// solved in a Web Worker while the page stays responsive, a stranger is reported with a reason
// (and, with one report enough here, banned: its page says until when), and a stranger who just
// left can still be blocked for a minute. Needs Chromium; skipped without it, except under
// CI=true where that fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dist, skip, launch, status } from '../testing/browser.mjs';
import { startServer } from '../../e2e/harness.mjs';

const ADMIN = 'web-safety-admin-token-web-safety-admin';

let server;
let browser;
const pageErrors = [];

before(async () => {
  if (skip) return;
  server = await startServer({
    DUET_WEB_DIR: dist,
    DUET_JWT_SECRET: 'web-safety-test-secret-web-safety-test',
    DUET_POW_DIFFICULTY: '50000',
    DUET_AUTOBAN_REPORTS: '1',
    DUET_AUTOBAN_IP_SECONDS: '0',
    DUET_MATCH_INTEREST_WAIT_MS: '300',
    DUET_ADMIN_TOKEN: ADMIN,
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * A guest on the start form, started: resolves with its page and the longest the page's main
 * thread was blocked while the proof of work was solved (a 10 ms timer's largest gap).
 */
async function guest(name, interests) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${name}: ${error.message}`));
  await page.goto(server.url);
  await page.evaluate(() => {
    window.longestGap = 0;
    let last = performance.now();
    window.gapTimer = setInterval(() => {
      const now = performance.now();
      window.longestGap = Math.max(window.longestGap, now - last);
      last = now;
    }, 10);
  });
  await page.fill('input[name=username]', name);
  await page.fill('input[name=interests]', interests);
  const started = Date.now();
  await page.click('#start button[type=submit]');
  await page.locator('#chat').waitFor();
  const solveMs = Date.now() - started;
  const longestGap = await page.evaluate(() => {
    clearInterval(window.gapTimer);
    return window.longestGap;
  });
  return { page, longestGap, solveMs };
}


test('a stranger is reported with a reason and banned; the banned page says until when', { skip }, async () => {
  const ada = await guest('Ada', 'kites');
  const bob = await guest('Bob', 'kites');
  for (const { longestGap, solveMs } of [ada, bob]) {
    assert.ok(longestGap < 250, `the page stayed responsive while solving (longest pause ${longestGap} ms)`);
    console.log(`proof of work (maxnumber 50000) solved and session made in ${solveMs} ms`);
  }
  await status(ada.page).filter({ hasText: 'You are talking to Bob' }).waitFor();
  await ada.page.locator('[data-testid=safety]', { hasText: 'Is Bob bothering you?' }).waitFor();

  await ada.page.selectOption('[data-testid=report-reason]', 'harassment');
  await ada.page.fill('#safety input[name=note]', 'insults');
  await ada.page.click('[data-testid=report]');
  await status(ada.page).filter({ hasText: 'Bob was reported' }).waitFor();
  await ada.page.locator('[data-testid=safety]').waitFor({ state: 'hidden' });

  // One report is enough on this server: Bob is banned, and his page says so in words.
  await bob.page.locator('[data-testid=banned]').waitFor();
  const until = await bob.page.locator('[data-testid=banned-until]').textContent();
  assert.match(until, /You can chat again from .* \(in about (2[34] hours|1 day)\)/);
  assert.equal(await bob.page.locator('#chat').isVisible(), false);

  const reports = await fetch(`${server.url}/api/admin/reports`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const [report] = (await reports.json()).reports;
  assert.equal(report.reason, 'harassment');
  assert.equal(report.note, 'insults');

  // A reload of the banned tab still shows the banned page (its handshake is refused).
  await bob.page.reload();
  await bob.page.click('#start button[type=submit]');
  await bob.page.locator('[data-testid=banned-until]', { hasText: 'You can chat again' }).waitFor();

  assert.deepEqual(pageErrors, []);
  await Promise.all([ada.page.context().close(), bob.page.context().close()]);
});

test('a stranger who just left can still be blocked for a minute', { skip }, async () => {
  const cleo = await guest('Cleo', 'tides');
  const dan = await guest('Dan', 'tides');
  await status(cleo.page).filter({ hasText: 'You are talking to Dan' }).waitFor();
  await dan.page.click('[data-testid=stop]');
  await status(cleo.page).filter({ hasText: 'Dan left' }).waitFor();
  await cleo.page.locator('[data-testid=safety]', { hasText: 'You can still report or block them' }).waitFor();
  await cleo.page.click('[data-testid=block]');
  await status(cleo.page).filter({ hasText: 'You blocked Dan' }).waitFor();
  await cleo.page.locator('[data-testid=safety]').waitFor({ state: 'hidden' });

  // Both look again: they are never paired, though nobody else waits.
  await cleo.page.click('[data-testid=next]');
  await dan.page.click('[data-testid=next]');
  await status(cleo.page).filter({ hasText: 'Looking for someone' }).waitFor();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(await status(cleo.page).textContent(), 'Looking for someone to talk to…');

  assert.deepEqual(pageErrors, []);
  await Promise.all([cleo.page.context().close(), dan.page.context().close()]);
});
