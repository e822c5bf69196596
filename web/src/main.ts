// The Duet web demo: a guest session over HTTP, one Socket.IO connection, and the chat of
// docs/protocol.md (matching, text, files, typing, clear, resume, video). Everything a partner
// sends is shown as text (`textContent`), never as HTML.
import { io, type Socket } from 'socket.io-client';
import { VideoCall } from './call.js';
import {
  ApiError,
  createSession,
  fetchStats,
  type Ack,
  type ClientEvents,
  type IncomingMessage,
  type Matched,
  type ServerEvents,
  type Session,
} from './protocol.js';

type ChatSocket = Socket<ServerEvents, ClientEvents>;

const SESSION_KEY = 'duet.session';
const TYPING_IDLE_MS = 1500;
const STATS_EVERY_MS = 10_000;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const page = {
  start: element<HTMLFormElement>('start'),
  chat: element<HTMLElement>('chat'),
  status: element<HTMLElement>('status'),
  stats: element<HTMLElement>('stats'),
  messages: element<HTMLOListElement>('messages'),
  typing: element<HTMLElement>('typing'),
  compose: element<HTMLFormElement>('compose'),
  next: element<HTMLButtonElement>('next'),
  stop: element<HTMLButtonElement>('stop'),
  clear: element<HTMLButtonElement>('clear'),
  video: element<HTMLButtonElement>('video'),
  hangup: element<HTMLButtonElement>('hangup'),
  videos: element<HTMLElement>('videos'),
  localVideo: element<HTMLVideoElement>('local-video'),
  remoteVideo: element<HTMLVideoElement>('remote-video'),
};

/** What the page knows of the current chat; `null` between chats. */
let chat: Matched | null = null;
let interests: string[] = [];
let searching = false;
let socket: ChatSocket | null = null;
let call: VideoCall | null = null;
let typingSent = false;
/**
 * The last numbered message of the current chat this tab received, sent with every
 * (re)connection so that the server replays what a dropped connection swallowed.
 */
let lastSeen: { roomId: string; seq: number } | undefined;

/** Notes the number of a message or clear just received. */
function seen(roomId: string, seq: number | undefined): void {
  if (seq !== undefined) lastSeen = { roomId, seq };
}
let typingTimer: ReturnType<typeof setTimeout> | undefined;
/** Object URLs of the files shown, released when the messages go. */
let fileUrls: string[] = [];

function setStatus(text: string): void {
  page.status.textContent = text;
}

function notice(text: string): void {
  const item = document.createElement('li');
  item.className = 'notice';
  item.textContent = text;
  show(item);
}

function clearMessages(): void {
  page.messages.replaceChildren();
  for (const url of fileUrls) URL.revokeObjectURL(url);
  fileUrls = [];
}

function show(item: HTMLLIElement): void {
  page.messages.append(item);
  page.messages.scrollTop = page.messages.scrollHeight;
}

function showMessage(mine: boolean, message: { text?: string; file?: { name: string; type: string; data: ArrayBuffer } }): void {
  const item = document.createElement('li');
  item.className = mine ? 'mine' : 'theirs';
  if (message.text) {
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = message.text;
    item.append(text);
  }
  if (message.file) {
    const blob = new Blob([message.file.data], { type: message.file.type || 'application/octet-stream' });
    const url = URL.createObjectURL(blob);
    fileUrls.push(url);
    const link = document.createElement('a');
    link.className = 'file';
    link.href = url;
    link.download = message.file.name;
    link.textContent = `${message.file.name} (${blob.size} bytes)`;
    if (message.file.type.startsWith('image/')) {
      const image = document.createElement('img');
      image.src = url;
      image.alt = message.file.name;
      link.prepend(image);
    }
    item.append(link);
  }
  show(item);
}

function describe(error: { code: string; message: string }): string {
  return `${error.code}: ${error.message}`;
}

function loadSession(): Session | null {
  try {
    const stored = sessionStorage.getItem(SESSION_KEY);
    return stored ? (JSON.parse(stored) as Session) : null;
  } catch {
    return null;
  }
}

async function newSession(username: string): Promise<Session> {
  const session = await createSession(username);
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

function setChatting(matched: Matched | null): void {
  chat = matched;
  page.video.disabled = !matched || !matched.initiator;
  page.video.title = matched && !matched.initiator ? `${matched.partner.username} starts video calls` : '';
  page.clear.disabled = !matched;
  if (!matched) {
    call?.close();
    page.typing.hidden = true;
  }
}

function findPartner(): void {
  if (!socket) return;
  searching = true;
  setStatus('Looking for someone to talk to…');
  socket.emit('user:match', interests.length ? { interests } : {}, (answer) => {
    if (answer.ok) return;
    searching = false;
    // A guest back from a reload is still in its chat: the server resumes it with
    // `user:matched`, which may come before or after this answer.
    if (answer.error.code === 'ALREADY_IN_CHAT') return;
    setStatus(`Could not join the queue (${describe(answer.error)})`);
  });
}

function connect(session: Session): ChatSocket {
  let token = session.token;
  // A function: each reconnection sends the token and what was seen at that moment.
  const connection: ChatSocket = io({ auth: (send) => send({ token, lastSeen }) });

  connection.on('connect', () => {
    // After a dropped connection the server resumes a chat by itself; only a guest who was
    // looking asks again (asking twice is harmless).
    if (!chat && searching) findPartner();
  });
  connection.on('connect_error', (error) => {
    if (error.message === 'SESSION_EXPIRED' || error.message === 'SESSION_NOT_FOUND') {
      const username = loadSession()?.guest.username ?? '';
      void newSession(username).then(
        (fresh) => {
          token = fresh.token;
          lastSeen = undefined;
          connection.connect();
        },
        (failure: unknown) => setStatus(`Could not start a new session (${String(failure)})`),
      );
      return;
    }
    setStatus(`Cannot reach the server (${error.message}); retrying…`);
  });
  connection.on('disconnect', (reason) => {
    if (reason !== 'io client disconnect' && chat) setStatus('Connection lost; reconnecting…');
  });

  connection.on('user:matched', (matched) => {
    searching = false;
    setChatting(matched);
    const who = matched.partner.username;
    if (matched.resumed) {
      setStatus(`Back with ${who}`);
      notice('Reconnected.');
      return;
    }
    lastSeen = { roomId: matched.roomId, seq: 0 };
    clearMessages();
    setStatus(`You are talking to ${who}`);
    const common = matched.commonInterests.length ? ` You both like ${matched.commonInterests.join(', ')}.` : '';
    notice(`You are now chatting with ${who}.${common}`);
  });
  connection.on('chat:ended', ({ reason }) => {
    lastSeen = undefined;
    const who = chat?.partner.username ?? 'Your partner';
    setChatting(null);
    const why = reason === 'left' ? 'left' : reason === 'disconnected' ? 'lost their connection' : 'ended their session';
    setStatus(`${who} ${why}. Click “Next stranger” to meet someone new.`);
    notice(`${who} ${why}.`);
  });
  connection.on('chat:message', (message: IncomingMessage) => {
    seen(message.roomId, message.seq);
    page.typing.hidden = true;
    showMessage(false, message);
  });
  connection.on('chat:cleared', ({ roomId, by, seq }) => {
    seen(roomId, seq);
    clearMessages();
    notice(by === chat?.partner.id ? `${chat.partner.username} cleared the chat.` : 'You cleared the chat.');
  });
  connection.on('chat:typing:start', () => {
    page.typing.textContent = `${chat?.partner.username ?? 'Your partner'} is typing…`;
    page.typing.hidden = false;
  });
  connection.on('chat:typing:stop', () => {
    page.typing.hidden = true;
  });
  connection.on('chat:partner:away', () => {
    setStatus(`${chat?.partner.username ?? 'Your partner'} lost their connection; waiting for them…`);
  });
  connection.on('chat:partner:back', () => {
    setStatus(`${chat?.partner.username ?? 'Your partner'} is back`);
  });
  connection.on('session:replaced', () => {
    setChatting(null);
    setStatus('This chat continues in another tab or window.');
  });
  connection.on('app:error', (error) => notice(`${error.event}: ${describe(error)}`));

  call = new VideoCall(connection, {
    iceServers: () => chat?.iceServers ?? [],
    local: page.localVideo,
    remote: page.remoteVideo,
    onChange: (active) => {
      page.videos.hidden = !active;
      page.hangup.hidden = !active;
      page.video.hidden = active;
    },
    onError: (message) => notice(`Video: ${message}`),
  });
  return connection;
}

function stopTyping(): void {
  clearTimeout(typingTimer);
  if (typingSent && socket && chat) socket.emit('chat:typing:stop', () => {});
  typingSent = false;
}

page.start.addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(page.start);
  const username = String(form.get('username') ?? '');
  interests = String(form.get('interests') ?? '')
    .split(',')
    .map((interest) => interest.trim())
    .filter(Boolean);
  void (async () => {
    try {
      const stored = loadSession();
      const session = stored && new Date(stored.guest.expiresAt) > new Date() ? stored : await newSession(username);
      page.start.hidden = true;
      page.chat.hidden = false;
      socket = connect(session);
      searching = true;
      setStatus('Connecting…');
    } catch (error) {
      const reason = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
      setStatus('');
      alert(`Could not start: ${reason}`);
    }
  })();
});

page.compose.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!socket || !chat) return;
  const form = new FormData(page.compose);
  const text = String(form.get('text') ?? '').trim();
  const picked = form.get('file');
  const file = picked instanceof File && picked.size > 0 ? picked : null;
  if (!text && !file) return;
  stopTyping();
  void (async () => {
    const message: { text?: string; file?: { name: string; type: string; data: ArrayBuffer }; clientId: string } = {
      clientId: crypto.randomUUID(),
    };
    if (text) message.text = text;
    if (file) message.file = { name: file.name, type: file.type, data: await file.arrayBuffer() };
    socket?.emit('chat:message', message, (answer: Ack<{ id: string; sentAt: string }>) => {
      if (answer.ok) {
        showMessage(true, message);
        page.compose.reset();
      } else {
        notice(`Not sent (${describe(answer.error)})`);
      }
    });
  })();
});

page.compose.querySelector('input[name=text]')?.addEventListener('input', () => {
  if (!socket || !chat) return;
  if (!typingSent) {
    typingSent = true;
    socket.emit('chat:typing:start', () => {});
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
});

page.next.addEventListener('click', () => {
  if (!socket) return;
  if (!chat) {
    findPartner();
    return;
  }
  const leaving = chat.partner.username;
  socket.emit('chat:leave', () => {
    setChatting(null);
    notice(`You left ${leaving}.`);
    findPartner();
  });
});

page.stop.addEventListener('click', () => {
  if (!socket) return;
  if (chat) {
    socket.emit('chat:leave', () => {
      setChatting(null);
      setStatus('You left the chat. Click “Next stranger” when you are ready.');
    });
  } else if (searching) {
    socket.emit('user:match:cancel', () => {
      searching = false;
      setStatus('Stopped looking.');
    });
  }
});

page.clear.addEventListener('click', () => {
  if (socket && chat) socket.emit('chat:clear', (answer) => answer.ok || notice(describe(answer.error)));
});

page.video.addEventListener('click', () => {
  if (call && chat?.initiator) void call.start();
});

page.hangup.addEventListener('click', () => call?.close(true));

async function refreshStats(): Promise<void> {
  try {
    const stats = await fetchStats();
    page.stats.textContent = `${stats.onlineUsers} online · ${stats.availableUsers} waiting · ${stats.activeRooms} chats`;
  } catch {
    page.stats.textContent = '';
  }
}

setChatting(null);
void refreshStats();
setInterval(() => void refreshStats(), STATS_EVERY_MS);
