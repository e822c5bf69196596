// The Duet web demo: a guest session over HTTP, one Socket.IO connection, and the chat of
// docs/protocol.md. The page is one explicit `Phase`; `setPhase` is the only place that changes
// it, and `render` the only place that shows it. What must survive a reload (the session, the
// chat and its history) lives in sessionStorage (storage.ts).
import { io, type Socket } from 'socket.io-client';
import { VideoCall } from './call.js';
import {
  ApiError,
  createSession,
  fetchConfig,
  fetchMe,
  fetchStats,
  refreshSession,
  type Challenge,
  type ClientEvents,
  type IncomingMessage,
  type Matched,
  type ReportReason,
  type ServerConfig,
  type ServerEvents,
  type Session,
} from './protocol.js';
import {
  type ChatSnapshot,
  type HistoryEntry,
  deviceId,
  loadChat,
  loadSession,
  saveChat,
  saveSession,
  setSoundWanted,
  soundWanted,
} from './storage.js';
import { clearMessages, describeSize, inWords, page, setStatus, showMessage, showNotice } from './view.js';

type ChatSocket = Socket<ServerEvents, ClientEvents>;

/** Where the page is. */
type Phase =
  | { kind: 'start' }
  | { kind: 'connecting' }
  | { kind: 'idle' }
  | { kind: 'waiting' }
  | { kind: 'chatting'; chat: Matched }
  | { kind: 'replaced' }
  | { kind: 'banned'; expiresAt?: string };

const TYPING_IDLE_MS = 1500;
const STATS_EVERY_MS = 10_000;
/** A token is refreshed this long before it expires. */
const REFRESH_AHEAD_MS = 5 * 60_000;
/** Two presses of Esc within this long mean "next stranger". */
const ESC_CONFIRM_MS = 2000;
/** The counter shows once a message is this close to the limit. */
const COUNTER_FROM_REMAINING = 200;

let phase: Phase = { kind: 'start' };
let session: Session | null = loadSession();
let socket: ChatSocket | null = null;
let call: VideoCall | null = null;
let interests: string[] = [];
/** The chat in progress, as kept across reloads; `null` between chats. */
let snapshot: ChatSnapshot | null = null;
/**
 * What this page already showed of the current chat, to drop what a server sends again after
 * its link to the other nodes was interrupted: messages by `id` (the last few hundred), the
 * last clear by its `roomId` and `seq`.
 */
const shown = { messageIds: new Set<string>(), lastClear: '' };
const SHOWN_IDS_KEPT = 500;
/**
 * A connection opened in a chat whose resume has not come yet: a resumed `user:matched` then
 * answers it. One that no connection asked for comes from a server catching up after its link
 * to the other nodes was interrupted (docs/protocol.md): the chat on screen, or a new one.
 */
let awaitingResume = false;
/** The server's limits; these defaults hold until `GET /api/config` answers. */
let config: ServerConfig = {
  maxFileBytes: 1024 * 1024,
  maxTextChars: 2000,
  maxReportNoteChars: 500,
  reportWindowMs: 60_000,
  resumeGraceMs: 15_000,
  reloadGraceMs: 3000,
  proofOfWork: false,
  notice: null,
};
/** The server will disconnect this socket on purpose (a ban, another tab): do not reconnect. */
let sentAway = false;
let typingSent = false;
let typingTimer: ReturnType<typeof setTimeout> | undefined;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let escPressedAt = 0;
let unread = 0;
/** Whom Report and Block are about: the stranger of this chat, or of the last one for a minute. */
let reportable: { name: string; hideTimer?: ReturnType<typeof setTimeout> } | null = null;
const baseTitle = document.title;

function setPhase(next: Phase): void {
  phase = next;
  render();
}

/** Shows the phase: which screen, which buttons, what may be typed. */
function render(): void {
  const kind = phase.kind;
  const chatting = kind === 'chatting';
  page.start.hidden = kind !== 'start';
  page.banned.hidden = kind !== 'banned';
  page.chat.hidden = kind === 'start' || kind === 'banned';
  page.next.disabled = kind === 'connecting' || kind === 'replaced';
  page.stop.disabled = !(chatting || kind === 'waiting');
  page.clear.disabled = !chatting;
  page.video.disabled = !chatting;
  page.continueHere.hidden = kind !== 'replaced';
  page.change.hidden = kind !== 'idle';
  page.text.disabled = !chatting;
  page.file.disabled = !chatting;
  const send = page.compose.querySelector<HTMLButtonElement>('button[type=submit]');
  if (send) send.disabled = !chatting || tooLong();
  if (!chatting) {
    page.typing.hidden = true;
    page.incoming.hidden = true;
    page.callFailed.hidden = true;
  }
  page.safety.hidden = !reportable || kind === 'replaced' || kind === 'banned';
  page.remoteLabel.textContent = phase.kind === 'chatting' ? phase.chat.partner.username : 'Stranger';
}

// ---- the chat's history, kept across reloads ----

function remember(entry: HistoryEntry): void {
  if (!snapshot) return;
  snapshot.history.push(entry);
  saveChat(snapshot);
}

function notice(text: string): void {
  showNotice(text);
  remember({ kind: 'notice', text, at: new Date().toISOString() });
}

function partnerName(): string {
  return phase.kind === 'chatting' ? phase.chat.partner.username : 'Your partner';
}

/** Draws a snapshot's history again (after a reload). */
function replayHistory(chat: ChatSnapshot): void {
  clearMessages();
  for (const entry of chat.history) {
    if (entry.kind === 'notice') showNotice(entry.text ?? '');
    else showMessage(entry, entry.kind === 'mine' ? 'You' : chat.matched.partner.username);
  }
}

// ---- sessions ----

/** Solves a proof-of-work challenge in a Web Worker, so the page stays responsive meanwhile. */
function solveInWorker(challenge: Challenge): Promise<string> {
  setStatus('Checking that you are not a robot…');
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./pow-worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (event: MessageEvent<string | null>) => {
      worker.terminate();
      if (event.data) resolve(event.data);
      else reject(new Error('the server sent a challenge that cannot be solved'));
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(event.message || 'the check could not run in this browser'));
    };
    worker.postMessage(challenge);
  });
}

async function newSession(username: string): Promise<Session> {
  const fresh = await createSession(username, deviceId(), solveInWorker);
  adoptSession(fresh);
  return fresh;
}

/** Keeps `fresh` as this tab's session and schedules its token's refresh. */
function adoptSession(fresh: Session): void {
  session = fresh;
  saveSession(fresh);
  clearTimeout(refreshTimer);
  // Well before expiry: 5 minutes ahead, or at 80 % of a short lifetime, at least 5 s from now.
  const remaining = new Date(fresh.expiresAt).getTime() - Date.now();
  const due = Math.min(remaining - REFRESH_AHEAD_MS, remaining * 0.8);
  refreshTimer = setTimeout(() => void refreshToken(), Math.max(5_000, due));
}

/** A chat may outlast a token: refresh it before it expires (the session is extended too). */
async function refreshToken(): Promise<void> {
  if (!session) return;
  try {
    adoptSession(await refreshSession(session.token));
  } catch (error) {
    if (error instanceof ApiError && error.code === 'BANNED') {
      showBanned(error.expiresAt);
      return;
    }
    // The session is gone or the server unreachable: the connection's own errors say which.
    refreshTimer = setTimeout(() => void refreshToken(), 30_000);
  }
}

// ---- the banned page, and Report / Block ----

function describeWait(ms: number): string {
  const minutes = Math.max(1, Math.round(ms / 60_000));
  if (minutes < 90) return minutes === 1 ? '1 minute' : `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  return hours === 1 ? '1 hour' : `${hours} hours`;
}

function showBanned(expiresAt: string | undefined): void {
  sentAway = true;
  socket?.disconnect();
  call?.close();
  snapshot = null;
  saveChat(null);
  hideSafety();
  const until = expiresAt ? new Date(expiresAt) : null;
  page.bannedUntil.textContent =
    until && !Number.isNaN(until.getTime())
      ? `You were banned after reports from other people. You can chat again from ${until.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'short' })} (in about ${describeWait(until.getTime() - Date.now())}).`
      : 'You were banned after reports from other people.';
  setPhase({ kind: 'banned', expiresAt });
}

/** Report and Block, about `name`, for the chat and a minute after it. */
function offerSafety(name: string): void {
  clearTimeout(reportable?.hideTimer);
  reportable = { name };
  page.safetyAbout.textContent = `Is ${name} bothering you?`;
}

/** The chat ended: Report and Block stay for the minute the server still accepts them. */
function keepSafetyAfterChat(): void {
  if (!reportable) return;
  clearTimeout(reportable.hideTimer);
  page.safetyAbout.textContent = `Was ${reportable.name} bothering you? You can still report or block them for a minute.`;
  reportable.hideTimer = setTimeout(() => {
    hideSafety();
    render();
  }, config.reportWindowMs);
}

function hideSafety(): void {
  clearTimeout(reportable?.hideTimer);
  reportable = null;
  page.safety.reset();
}

function safetyRefusal(error: { code: string; retryAfterMs?: number }): string {
  if (error.code === 'NOT_IN_CHAT') return 'That chat ended more than a minute ago, so it can no longer be reported.';
  return inWords(error);
}

// ---- chats ----

function startChat(matched: Matched): void {
  const same = snapshot?.matched.roomId === matched.roomId;
  const resumedHere = matched.resumed === true && awaitingResume;
  awaitingResume = false;
  if (matched.resumed && !resumedHere && same && snapshot) {
    // A catch-up naming the chat on screen: nothing to show.
    snapshot.matched = matched;
    saveChat(snapshot);
    return;
  }
  if (!same) {
    snapshot = { matched, lastSeen: { roomId: matched.roomId, seq: 0 }, history: [] };
    shown.messageIds.clear();
    shown.lastClear = '';
    clearMessages();
  } else if (snapshot) {
    snapshot.matched = matched;
  }
  saveChat(snapshot);
  offerSafety(matched.partner.username);
  setPhase({ kind: 'chatting', chat: matched });
  const who = matched.partner.username;
  if (resumedHere) {
    setStatus(`Back with ${who}`);
    notice('Reconnected.');
  } else {
    setStatus(`You are talking to ${who}`);
    const common = matched.commonInterests.length ? ` You both like ${matched.commonInterests.join(', ')}.` : '';
    notice(`You are now chatting with ${who}.${common}`);
    if (interests.length && !matched.commonInterests.length) {
      notice('Nobody shared your interests just now, so this is a random match.');
    }
  }
  page.text.focus();
  void refreshStats();
}

/** The chat is over (for `why`): back to a connected page that is not looking. */
function endChat(why: string): void {
  call?.close();
  stopTyping();
  snapshot = null;
  saveChat(null);
  keepSafetyAfterChat();
  showNotice(why);
  setPhase({ kind: 'idle' });
  void refreshStats();
}

/** The server no longer knows our chat (it restarted, or the session is new): start over. */
function chatLost(why: string): void {
  const had = snapshot !== null || phase.kind === 'chatting';
  snapshot = null;
  saveChat(null);
  hideSafety();
  call?.close();
  if (!had) return;
  sentAway = true;
  socket?.disconnect();
  socket = null;
  page.startNotice.textContent = why;
  page.startNotice.hidden = false;
  setPhase({ kind: 'start' });
}

function findPartner(): void {
  if (!socket) return;
  setPhase({ kind: 'waiting' });
  setStatus('Looking for someone to talk to…');
  socket.emit('user:match', interests.length ? { interests } : {}, (answer) => {
    if (answer.ok) return;
    // Back from a reload the guest is still in its chat: the resume's `user:matched` says so.
    if (answer.error.code === 'ALREADY_IN_CHAT') return;
    setPhase({ kind: 'idle' });
    setStatus(`Could not start looking. ${inWords(answer.error)}`);
  });
}

function connect(): ChatSocket {
  // A function: each reconnection sends the current token and what was seen at that moment.
  const connection: ChatSocket = io({
    auth: (send) => send({ token: session?.token, lastSeen: snapshot?.lastSeen }),
  });
  sentAway = false;

  connection.on('connect', () => {
    if (snapshot) {
      awaitingResume = true;
      // Still our chat? The resume's `user:matched` came first if it is; the probe's answer
      // says NOT_IN_CHAT if the server no longer knows it.
      connection.emit('chat:typing:stop', (answer) => {
        // Answered after the resume: what follows is not its answer.
        awaitingResume = false;
        if (!answer.ok && answer.error.code === 'NOT_IN_CHAT' && snapshot) {
          chatLost('Your chat ended while you were away. Start again when you are ready.');
        }
      });
      return;
    }
    if (phase.kind === 'connecting' || phase.kind === 'waiting') findPartner();
  });
  connection.on('connect_error', (error) => {
    const code = error.message;
    if (code === 'SESSION_EXPIRED' || code === 'SESSION_NOT_FOUND' || code === 'AUTH_INVALID') {
      // The server restarted (sessions gone, or a new secret): a new guest, and a chat the
      // server cannot know any more.
      const username = session?.guest.username ?? '';
      void newSession(username).then(
        () => {
          if (snapshot) {
            chatLost('The server restarted, so your chat ended. Start again when you are ready.');
            return;
          }
          connection.connect();
        },
        (failure: unknown) => {
          if (failure instanceof ApiError && failure.code === 'BANNED') showBanned(failure.expiresAt);
          else setStatus('Cannot start a new session right now; trying again…');
        },
      );
      return;
    }
    if (code === 'BANNED') {
      // A connect_error carries only its code: the session's own answer says until when.
      connection.disconnect();
      const token = session?.token ?? '';
      void fetchMe(token).then(
        () => showBanned(undefined),
        (failure: unknown) => showBanned(failure instanceof ApiError ? failure.expiresAt : undefined),
      );
      return;
    }
    if (code === 'RATE_LIMITED') {
      setStatus('Too many people are connected from your network right now; trying again…');
      return;
    }
    setStatus('Cannot reach the server; trying again…');
  });
  connection.on('disconnect', (reason) => {
    if (reason === 'io client disconnect' || sentAway) return;
    if (reason === 'io server disconnect') {
      // socket.io-client does not come back by itself after a server-side disconnect.
      setStatus('Reconnecting…');
      setTimeout(() => connection.connect(), 500);
      return;
    }
    setStatus(snapshot ? 'Connection lost; reconnecting…' : 'Reconnecting…');
  });

  connection.on('user:matched', (matched) => startChat(matched));
  connection.on('chat:ended', ({ reason }) => {
    const who = partnerName();
    const why =
      reason === 'left' ? `${who} left.` : reason === 'disconnected' ? `${who} has disconnected.` : `${who}'s session ended.`;
    endChat(why);
    setStatus(`${why} Click “Next stranger” to meet someone new.`);
  });
  connection.on('chat:message', (message: IncomingMessage) => {
    if (shown.messageIds.has(message.id)) return;
    shown.messageIds.add(message.id);
    if (shown.messageIds.size > SHOWN_IDS_KEPT) {
      const oldest = shown.messageIds.values().next().value;
      if (oldest !== undefined) shown.messageIds.delete(oldest);
    }
    if (snapshot && message.seq !== undefined) snapshot.lastSeen = { roomId: message.roomId, seq: message.seq };
    page.typing.hidden = true;
    const entry: HistoryEntry = { kind: 'theirs', at: message.sentAt };
    if (message.text) entry.text = message.text;
    if (message.file) entry.file = { name: message.file.name, size: message.file.size };
    showMessage(entry, partnerName(), message.file && { type: message.file.type, bytes: message.file.data });
    remember(entry);
    if (document.hidden) {
      unread += 1;
      document.title = `(${unread}) New message · ${baseTitle}`;
      if (soundWanted()) chime();
    }
  });
  connection.on('chat:cleared', ({ roomId, by, seq }) => {
    const clear = `${roomId}:${seq ?? ''}`;
    if (seq !== undefined && clear === shown.lastClear) return;
    shown.lastClear = clear;
    clearMessages();
    if (snapshot) {
      snapshot.history = [];
      if (seq !== undefined) snapshot.lastSeen = { roomId, seq };
    }
    const mine = phase.kind === 'chatting' && by !== phase.chat.partner.id;
    notice(mine ? 'You cleared the chat.' : `${partnerName()} cleared the chat.`);
  });
  connection.on('chat:typing:start', () => {
    page.typing.textContent = `${partnerName()} is typing…`;
    page.typing.hidden = false;
  });
  connection.on('chat:typing:stop', () => {
    page.typing.hidden = true;
  });
  connection.on('chat:partner:away', () => setStatus(`${partnerName()} lost their connection; waiting for them…`));
  connection.on('chat:partner:back', () => setStatus(`${partnerName()} is back`));
  connection.on('session:replaced', () => {
    sentAway = true;
    call?.close();
    setPhase({ kind: 'replaced' });
    setStatus('This chat continues in another tab or window. Continue here instead?');
  });
  connection.on('guest:banned', ({ expiresAt }) => showBanned(expiresAt));
  connection.on('app:error', (error) => showNotice(inWords(error)));

  call = new VideoCall(connection, {
    iceServers: () => (phase.kind === 'chatting' ? phase.chat.iceServers : []),
    local: page.localVideo,
    remote: page.remoteVideo,
    onChange: (active) => {
      page.videos.hidden = !active;
      page.hangup.hidden = !active;
      page.mute.hidden = !active;
      page.camera.hidden = !active;
      page.video.hidden = active;
      setPressed(page.mute, false, 'Mute', 'Unmute');
      setPressed(page.camera, false, 'Camera off', 'Camera on');
      if (active) page.callFailed.hidden = true;
      if (phase.kind === 'chatting') notice(active ? 'Video call started.' : 'Video call ended.');
    },
    onError: (message) => notice(`The video call did not work: ${message}`),
    onIncoming: (ringing) => {
      page.incomingText.textContent = `${partnerName()} is calling you on video.`;
      page.incoming.hidden = !ringing;
      if (ringing) page.accept.focus();
    },
    onFailed: () => {
      page.callFailed.hidden = false;
    },
  });
  return connection;
}

// ---- composing ----

function stopTyping(): void {
  clearTimeout(typingTimer);
  if (typingSent && socket && phase.kind === 'chatting') socket.emit('chat:typing:stop', () => {});
  typingSent = false;
}

function textLength(): number {
  return [...page.text.value].length;
}

function tooLong(): boolean {
  return textLength() > config.maxTextChars;
}

function updateCounter(): void {
  const length = textLength();
  const remaining = config.maxTextChars - length;
  page.counter.hidden = remaining > COUNTER_FROM_REMAINING;
  page.counter.textContent =
    remaining < 0 ? `${-remaining} characters too long (at most ${config.maxTextChars})` : `${length} / ${config.maxTextChars}`;
  const send = page.compose.querySelector<HTMLButtonElement>('button[type=submit]');
  if (send) send.disabled = phase.kind !== 'chatting' || remaining < 0;
  page.text.style.height = 'auto';
  page.text.style.height = `${Math.min(page.text.scrollHeight, 128)}px`;
}

function attached(): File | null {
  const file = page.file.files?.[0];
  return file && file.size > 0 ? file : null;
}

function removeAttachment(): void {
  page.file.value = '';
  page.attachment.hidden = true;
}

page.file.addEventListener('change', () => {
  const file = attached();
  if (!file) {
    removeAttachment();
    return;
  }
  if (file.size > config.maxFileBytes) {
    removeAttachment();
    showNotice(`Files can be at most ${describeSize(config.maxFileBytes)}; ${file.name} is ${describeSize(file.size)}.`);
    return;
  }
  page.attachmentName.textContent = `Attached: ${file.name} (${describeSize(file.size)})`;
  page.attachment.hidden = false;
});
page.attachmentRemove.addEventListener('click', removeAttachment);

page.compose.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!socket || phase.kind !== 'chatting' || tooLong()) return;
  const text = page.text.value.trim();
  const file = attached();
  if (!text && !file) return;
  stopTyping();
  void (async () => {
    const message: { text?: string; file?: { name: string; type: string; data: ArrayBuffer }; clientId: string } = {
      clientId: crypto.randomUUID(),
    };
    if (text) message.text = text;
    if (file) message.file = { name: file.name, type: file.type, data: await file.arrayBuffer() };
    socket?.emit('chat:message', message, (answer) => {
      if (answer.ok) {
        const entry: HistoryEntry = { kind: 'mine', at: answer.sentAt };
        if (message.text) entry.text = message.text;
        if (message.file) entry.file = { name: message.file.name, size: message.file.data.byteLength };
        showMessage(entry, 'You', message.file && { type: message.file.type, bytes: message.file.data });
        remember(entry);
        page.text.value = '';
        removeAttachment();
        updateCounter();
        return;
      }
      if (answer.error.code === 'NOT_IN_CHAT') {
        chatLost('This chat no longer exists on the server. Start again when you are ready.');
        return;
      }
      if (answer.error.code === 'PAYLOAD_TOO_LARGE' && message.file) removeAttachment();
      showNotice(`Not sent: ${inWords(answer.error)}`);
    });
  })();
});

page.text.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    page.compose.requestSubmit();
  }
});

page.text.addEventListener('input', () => {
  updateCounter();
  if (!socket || phase.kind !== 'chatting') return;
  if (!typingSent) {
    typingSent = true;
    socket.emit('chat:typing:start', () => {});
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
});

// ---- buttons ----

function next(): void {
  if (!socket) return;
  if (phase.kind !== 'chatting') {
    findPartner();
    return;
  }
  const leaving = phase.chat.partner.username;
  socket.emit('chat:leave', () => {
    endChat(`You left ${leaving}.`);
    findPartner();
  });
}

page.start.addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(page.start);
  const username = String(form.get('username') ?? '').trim();
  interests = String(form.get('interests') ?? '')
    .split(',')
    .map((interest) => interest.trim())
    .filter(Boolean);
  page.startNotice.hidden = true;
  void (async () => {
    try {
      const renamed = session && username && username !== session.guest.username;
      if (!session || renamed) {
        sentAway = true;
        socket?.disconnect();
        socket = null;
        await newSession(username);
      }
      setPhase({ kind: 'connecting' });
      setStatus('Connecting…');
      if (socket?.connected) findPartner();
      else socket = connect();
    } catch (error) {
      if (error instanceof ApiError && error.code === 'BANNED') {
        showBanned(error.expiresAt);
        return;
      }
      page.startNotice.textContent = `Could not start: ${error instanceof ApiError ? inWords(error) : 'the server cannot be reached.'}`;
      page.startNotice.hidden = false;
    }
  })();
});

page.next.addEventListener('click', next);

page.stop.addEventListener('click', () => {
  if (!socket) return;
  if (phase.kind === 'chatting') {
    socket.emit('chat:leave', () => {
      endChat('You left the chat.');
      setStatus('You left the chat. Click “Next stranger” when you are ready.');
    });
  } else if (phase.kind === 'waiting') {
    socket.emit('user:match:cancel', () => {
      setPhase({ kind: 'idle' });
      setStatus('Stopped looking.');
    });
  }
});

page.clear.addEventListener('click', () => {
  if (socket && phase.kind === 'chatting') socket.emit('chat:clear', (answer) => answer.ok || showNotice(inWords(answer.error)));
});

page.video.addEventListener('click', () => {
  if (call && phase.kind === 'chatting') void call.start();
});

page.hangup.addEventListener('click', () => call?.close(true));

/** A short, quiet two-note chime (Web Audio: nothing to download). */
function chime(): void {
  try {
    const audio = new AudioContext();
    for (const [frequency, start] of [[660, 0], [880, 0.12]] as const) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.08, audio.currentTime + start);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + start + 0.25);
      tone.connect(gain).connect(audio.destination);
      tone.start(audio.currentTime + start);
      tone.stop(audio.currentTime + start + 0.3);
    }
    setTimeout(() => void audio.close(), 800);
  } catch {
    // No audio here: the title still counts.
  }
}

page.sound.checked = soundWanted();
page.sound.addEventListener('change', () => setSoundWanted(page.sound.checked));

page.change.addEventListener('click', () => {
  // Name and interests are set on the start screen; the connection stays.
  const name = page.start.querySelector<HTMLInputElement>('input[name=username]');
  const topics = page.start.querySelector<HTMLInputElement>('input[name=interests]');
  if (name && session) name.value = session.guest.username;
  if (topics) topics.value = interests.join(', ');
  page.startNotice.hidden = true;
  setPhase({ kind: 'start' });
});

/** A toggle button's state, in its label and `aria-pressed`. */
function setPressed(button: HTMLButtonElement, pressed: boolean, off: string, on: string): void {
  button.setAttribute('aria-pressed', String(pressed));
  button.textContent = pressed ? on : off;
}

page.mute.addEventListener('click', () => {
  const speaking = call?.toggle('audio') ?? true;
  setPressed(page.mute, !speaking, 'Mute', 'Unmute');
});
page.camera.addEventListener('click', () => {
  const showing = call?.toggle('video') ?? true;
  setPressed(page.camera, !showing, 'Camera off', 'Camera on');
});
page.accept.addEventListener('click', () => call?.pickUp());
page.decline.addEventListener('click', () => {
  call?.decline();
  notice('You declined the video call.');
});
page.retry.addEventListener('click', () => {
  page.callFailed.hidden = true;
  if (call && phase.kind === 'chatting') void call.start();
});

page.continueHere.addEventListener('click', () => {
  if (!socket) return;
  sentAway = false;
  setStatus('Continuing here…');
  setPhase(snapshot ? { kind: 'chatting', chat: snapshot.matched } : { kind: 'connecting' });
  socket.connect();
});

document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || phase.kind !== 'chatting') return;
  const now = Date.now();
  if (now - escPressedAt < ESC_CONFIRM_MS) {
    escPressedAt = 0;
    next();
    return;
  }
  escPressedAt = now;
  setStatus('Press Esc again to leave this chat and meet someone new.');
});

/** After a report or block: the chat ends if it was the current one; a search goes on. */
function partedFor(said: string, status: string): void {
  if (phase.kind === 'chatting') {
    endChat(said);
    setStatus(`${status} Click “Next stranger” to go on.`);
    return;
  }
  render();
  showNotice(said);
  setStatus(phase.kind === 'waiting' ? `${status} Still looking for someone…` : `${status} Click “Next stranger” to go on.`);
}

page.safety.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!socket || !reportable) return;
  const form = new FormData(page.safety);
  const reason = String(form.get('reason') ?? 'other') as ReportReason;
  const note = String(form.get('note') ?? '').trim();
  const name = reportable.name;
  socket.emit('chat:report', note ? { reason, note } : { reason }, (answer) => {
    if (!answer.ok) {
      showNotice(safetyRefusal(answer.error));
      return;
    }
    hideSafety();
    partedFor(`You reported ${name}.`, `Thank you. ${name} was reported, and you will not be matched again.`);
  });
});

page.block.addEventListener('click', () => {
  if (!socket || !reportable) return;
  const name = reportable.name;
  socket.emit('chat:block', (answer) => {
    if (!answer.ok) {
      showNotice(safetyRefusal(answer.error));
      return;
    }
    hideSafety();
    partedFor(`You blocked ${name}.`, `You blocked ${name}; you will not be matched again.`);
  });
});

// Closing or reloading the tab: the server then holds the chat only a few seconds, so a reload
// resumes and a closed tab's partner hears of it at once.
window.addEventListener('pagehide', () => {
  if (socket?.connected && snapshot) socket.emit('chat:leaving', () => {});
});

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) {
    unread = 0;
    document.title = baseTitle;
  }
});

async function refreshStats(): Promise<void> {
  try {
    const stats = await fetchStats();
    const chats = stats.activeRooms === 1 ? '1 chat' : `${stats.activeRooms} chats`;
    page.stats.textContent = `${stats.onlineUsers} online · ${chats}`;
  } catch {
    page.stats.textContent = '';
  }
}

async function loadConfig(): Promise<void> {
  try {
    config = await fetchConfig();
  } catch {
    return;
  }
  if (config.notice) {
    page.operatorNotice.textContent = config.notice;
    page.operatorNotice.hidden = false;
  }
}

// ---- start-up: a reload mid-chat comes back to its chat by itself ----

void loadConfig();
void refreshStats();
setInterval(() => void refreshStats(), STATS_EVERY_MS);
const stored = loadChat();
if (session) adoptSession(session);
if (session && stored) {
  snapshot = stored;
  replayHistory(stored);
  offerSafety(stored.matched.partner.username);
  setPhase({ kind: 'chatting', chat: stored.matched });
  setStatus(`Reconnecting to ${stored.matched.partner.username}…`);
  socket = connect();
} else {
  saveChat(null);
  const name = page.start.querySelector<HTMLInputElement>('input[name=username]');
  if (name && session) name.value = session.guest.username;
  setPhase({ kind: 'start' });
}
