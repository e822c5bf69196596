// What the browser tests share: where the built demo and the screenshots are, whether Chromium
// is here (skipped without it, except under CI=true where that fails), and how a guest opens
// the page and starts. Outside test/, which node --test runs whole.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const dist = path.join(web, 'dist');
/** Screenshots kept as test artifacts. */
export const shots = path.join(web, '..', 'target', 'screenshots');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const inCi = ['true', '1'].includes(process.env.CI ?? '');
if (!existsSync(chromiumPath) && inCi) {
  throw new Error(`CI=true but there is no Chromium at ${chromiumPath}: the browser tests must run in CI`);
}
if (!existsSync(path.join(dist, 'index.html'))) {
  throw new Error('web/dist is missing: run `npm run build` in web/ first');
}
export const skip = existsSync(chromiumPath) ? false : `SKIPPED: no Chromium at ${chromiumPath} (apt-get install chromium)`;

/** Chromium, headless, with `args` beside the sandbox switch containers need. */
export function launch(args = []) {
  mkdirSync(shots, { recursive: true });
  return chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', ...args] });
}

/**
 * A page of `context` on `server`'s demo, started as `name` with `interests`; page errors go
 * to `errors`.
 */
export async function startIn(context, server, name, interests, errors) {
  const page = await context.newPage();
  page.on('pageerror', (error) => errors.push(`${name}: ${error.message}`));
  await page.goto(server.url);
  await page.fill('input[name=username]', name);
  await page.fill('input[name=interests]', interests);
  await page.click('#start button[type=submit]');
  return page;
}

export const status = (page) => page.locator('[data-testid=status]');
export const theirs = (page) => page.locator('#messages li.theirs');

/** Types `text` in the page's message box and sends it with Enter. */
export async function say(page, text) {
  await page.locator('[name=text]').fill(text);
  await page.locator('[name=text]').press('Enter');
}
