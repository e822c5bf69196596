// The web demo in a real browser (Chromium, headless, driven by playwright-core) against the
// real duet-server serving web/dist: two strangers meet, see each other type, chat, share a file,
// start a video call with Chromium's fake camera, clear the chat and move on. Needs Chromium
// (apt-get install chromium); skipped without it, except under CI=true where that fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { dist, shots, skip, launch, startIn, status, theirs } from '../testing/browser.mjs';
import { startServer } from '../../e2e/harness.mjs';

let server;
let browser;
const pageErrors = [];

before(async () => {
  if (skip) return;
  server = await startServer({
    DUET_WEB_DIR: dist,
    DUET_JWT_SECRET: 'web-demo-test-secret-web-demo-test-secret',
  });
  browser = await launch([
    // A test pattern and a beep instead of a camera and a microphone, allowed without a prompt.
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--autoplay-policy=no-user-gesture-required',
    // Plain host candidates: two pages on one machine need no mDNS names to reach each other.
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A guest in a browser context of its own (its own session storage), on the demo's start form. */
const guest = async (name, interests) => startIn(await browser.newContext(), server, name, interests, pageErrors);

test('two strangers meet, type, chat, share a file, call, clear and part', { skip }, async () => {
  const ada = await guest('Ada', 'chess, Rust');
  const bob = await guest('Bob', 'rust');

  await status(ada).filter({ hasText: 'You are talking to Bob' }).waitFor();
  await status(bob).filter({ hasText: 'You are talking to Ada' }).waitFor();
  await ada.locator('#messages li.notice', { hasText: 'You both like rust' }).waitFor();

  // Typing shows on the other side, and goes when the message arrives.
  await bob.locator('[name=text]').pressSequentially('hello Ada <b>not bold</b>');
  await ada.locator('[data-testid=typing]', { hasText: 'Bob is typing' }).waitFor();
  await bob.locator('[name=text]').press('Enter');
  await theirs(ada).filter({ hasText: 'hello Ada <b>not bold</b>' }).waitFor();
  assert.equal(await ada.locator('#messages b').count(), 0, 'a message is shown as text, never as HTML');
  await ada.locator('[data-testid=typing]').waitFor({ state: 'hidden' });
  await bob.locator('#messages li.mine', { hasText: 'hello Ada' }).waitFor();

  // A file arrives whole, as a download link.
  await ada.setInputFiles('input[name=file]', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('duet file ✓') });
  await ada.click('#compose button[type=submit]');
  const link = theirs(bob).locator('a.file', { hasText: 'notes.txt' });
  await link.waitFor();
  const received = await link.evaluate(async (anchor) => (await fetch(anchor.href)).text());
  assert.equal(received, 'duet file ✓');
  assert.equal(await link.getAttribute('download'), 'notes.txt');

  // Ada calls; Bob (on a phone's width) keeps his camera off until he accepts.
  await bob.setViewportSize({ width: 390, height: 820 });
  await ada.click('[data-testid=video]');
  await bob.locator('[data-testid=incoming]', { hasText: 'Ada is calling you on video' }).waitFor();
  await bob.screenshot({ path: path.join(shots, 'phone-incoming.png') });
  assert.equal(await bob.locator('#videos').isVisible(), false, 'no camera before Accept');
  await bob.click('[data-testid=accept]');
  const playing = () => document.querySelector('#remote-video').videoWidth > 0;
  await bob.waitForFunction(playing, null, { timeout: 20_000 });
  await ada.waitForFunction(playing, null, { timeout: 20_000 });
  assert.equal(await ada.locator('#remote-label').textContent(), 'Bob');
  await ada.screenshot({ path: path.join(shots, 'desktop-call.png') });
  await bob.screenshot({ path: path.join(shots, 'phone-call.png') });
  await ada.locator('#messages li.notice', { hasText: 'Video call started' }).waitFor();
  // Mute and camera off act on the tracks that are sent.
  await ada.click('[data-testid=mute]');
  await ada.click('[data-testid=camera]');
  const sending = () => {
    const stream = document.querySelector('#local-video').srcObject;
    return { audio: stream.getAudioTracks()[0].enabled, video: stream.getVideoTracks()[0].enabled };
  };
  assert.deepEqual(await ada.evaluate(sending), { audio: false, video: false });
  assert.equal(await ada.locator('[data-testid=mute]').getAttribute('aria-pressed'), 'true');
  await bob.click('[data-testid=hangup]');
  await ada.locator('#videos').waitFor({ state: 'hidden' });
  await bob.locator('#videos').waitFor({ state: 'hidden' });
  await ada.locator('#messages li.notice', { hasText: 'Video call ended' }).waitFor();

  // Either side may call, and a call may be declined.
  await bob.click('[data-testid=video]');
  await ada.locator('[data-testid=incoming]', { hasText: 'Bob is calling you' }).waitFor();
  await ada.screenshot({ path: path.join(shots, 'desktop-incoming.png') });
  await ada.click('[data-testid=decline]');
  await ada.locator('[data-testid=incoming]').waitFor({ state: 'hidden' });
  await bob.locator('#videos').waitFor({ state: 'hidden' });
  assert.equal(await ada.locator('#videos').isVisible(), false);

  // Clearing empties both sides.
  await ada.click('[data-testid=clear]');
  await bob.locator('#messages li.notice', { hasText: 'Ada cleared the chat' }).waitFor();
  await ada.locator('#messages li.notice', { hasText: 'You cleared the chat' }).waitFor();
  assert.equal(await theirs(bob).count(), 0);
  assert.equal(await theirs(ada).count(), 0);

  // Bob moves on: Ada is told, and Bob is looking again.
  await bob.click('[data-testid=next]');
  await status(ada).filter({ hasText: 'Bob left' }).waitFor();
  await status(bob).filter({ hasText: 'Looking for someone' }).waitFor();
  await bob.click('[data-testid=stop]');
  await status(bob).filter({ hasText: 'Stopped looking' }).waitFor();

  assert.deepEqual(pageErrors, []);
  await Promise.all([ada.context().close(), bob.context().close()]);
});

test('a stranger who reloads the page keeps the chat and its guest', { skip }, async () => {
  const cleo = await guest('Cleo', 'opera');
  const dan = await guest('Dan', 'opera');
  await status(cleo).filter({ hasText: 'You are talking to Dan' }).waitFor();

  await dan.locator('[name=text]').fill('before the reload');
  await dan.locator('[name=text]').press('Enter');
  await theirs(cleo).filter({ hasText: 'before the reload' }).waitFor();

  // A reload drops the connection; the chat view comes back by itself, with its history.
  await cleo.reload();
  await status(cleo).filter({ hasText: 'Back with Dan' }).waitFor();
  assert.equal(await cleo.locator('#start').isVisible(), false);
  await theirs(cleo).filter({ hasText: 'before the reload' }).waitFor();
  await dan.locator('[name=text]').fill('still there?');
  await dan.locator('[name=text]').press('Enter');
  await theirs(cleo).filter({ hasText: 'still there?' }).waitFor();

  assert.deepEqual(pageErrors, []);
  await Promise.all([cleo.context().close(), dan.context().close()]);
});

test('a call whose browsers cannot connect is told in words, with Try again', { skip }, async () => {
  // Relay-only ICE and no TURN server: no candidate pair can ever work.
  const relayOnly = () => {
    const Native = window.RTCPeerConnection;
    window.RTCPeerConnection = function (config) {
      return new Native({ ...config, iceServers: [], iceTransportPolicy: 'relay' });
    };
    window.RTCPeerConnection.prototype = Native.prototype;
  };
  const contexts = [await browser.newContext(), await browser.newContext()];
  for (const context of contexts) await context.addInitScript(relayOnly);
  const ada = await startIn(contexts[0], server, 'Ada', 'no-route', pageErrors);
  const bob = await startIn(contexts[1], server, 'Bob', 'no-route', pageErrors);
  await status(ada).filter({ hasText: 'You are talking to Bob' }).waitFor();
  await ada.click('[data-testid=video]');
  await bob.click('[data-testid=accept]');
  await ada.locator('[data-testid=call-failed]', { hasText: 'The video connection failed' }).waitFor({ timeout: 30_000 });
  await ada.locator('#videos').waitFor({ state: 'hidden' });
  await bob.locator('#videos').waitFor({ state: 'hidden' });
  // Try again rings Bob once more.
  await ada.click('[data-testid=retry]');
  await bob.locator('[data-testid=incoming]').waitFor();
  await bob.click('[data-testid=decline]');
  assert.deepEqual(pageErrors, []);
  await Promise.all(contexts.map((context) => context.close()));
});

test('the demo built into duet-server (no DUET_WEB_DIR) connects and chats', { skip }, async () => {
  // The page's socket.io-client starts on HTTP long-polling and upgrades: every request of the
  // polling session must find it, whatever serves the page.
  const builtIn = await startServer({ DUET_JWT_SECRET: 'web-demo-test-secret-web-demo-test-secret' });
  try {
    const ada = await startIn(await browser.newContext(), builtIn, 'Ada', 'polling', pageErrors);
    const bob = await startIn(await browser.newContext(), builtIn, 'Bob', 'polling', pageErrors);
    await status(ada).filter({ hasText: 'You are talking to Bob' }).waitFor();
    await bob.locator('[name=text]').fill('hello from the built-in page');
    await bob.locator('[name=text]').press('Enter');
    await theirs(ada).filter({ hasText: 'hello from the built-in page' }).waitFor();
  } finally {
    await builtIn.stop();
  }
});
