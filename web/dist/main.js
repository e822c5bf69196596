// The Duet web demo: a guest session over HTTP, one Socket.IO connection, and the chat of
// docs/protocol.md (matching, text, files, typing, clear, resume, video). Everything a partner
// sends is shown as text (`textContent`), never as HTML.
import { io } from 'socket.io-client';
import { VideoCall } from './call.js';
import { ApiError, createSession, fetchMe, fetchStats, } from './protocol.js';
const SESSION_KEY = 'duet.session';
const TYPING_IDLE_MS = 1500;
const STATS_EVERY_MS = 10_000;
/** How long after a chat ends its stranger can still be reported or blocked (the server's rule). */
const REPORT_WINDOW_MS = 60_000;
function element(id) {
    const found = document.getElementById(id);
    if (!found)
        throw new Error(`the page has no #${id}`);
    return found;
}
const page = {
    start: element('start'),
    chat: element('chat'),
    status: element('status'),
    stats: element('stats'),
    messages: element('messages'),
    typing: element('typing'),
    compose: element('compose'),
    next: element('next'),
    stop: element('stop'),
    clear: element('clear'),
    video: element('video'),
    hangup: element('hangup'),
    videos: element('videos'),
    localVideo: element('local-video'),
    remoteVideo: element('remote-video'),
    safety: element('safety'),
    safetyAbout: element('safety-about'),
    block: element('block'),
    banned: element('banned'),
    bannedUntil: element('banned-until'),
};
/** What the page knows of the current chat; `null` between chats. */
let chat = null;
let interests = [];
let searching = false;
let socket = null;
let call = null;
let typingSent = false;
/**
 * The last numbered message of the current chat this tab received, sent with every
 * (re)connection so that the server replays what a dropped connection swallowed.
 */
let lastSeen;
/** Notes the number of a message or clear just received. */
function seen(roomId, seq) {
    if (seq !== undefined)
        lastSeen = { roomId, seq };
}
let typingTimer;
/** Whom Report and Block are about: the stranger of this chat, or of the last one for a minute. */
let reportable = null;
/** Object URLs of the files shown, released when the messages go. */
let fileUrls = [];
function setStatus(text) {
    page.status.textContent = text;
}
function notice(text) {
    const item = document.createElement('li');
    item.className = 'notice';
    item.textContent = text;
    show(item);
}
function clearMessages() {
    page.messages.replaceChildren();
    for (const url of fileUrls)
        URL.revokeObjectURL(url);
    fileUrls = [];
}
function show(item) {
    page.messages.append(item);
    page.messages.scrollTop = page.messages.scrollHeight;
}
function showMessage(mine, message) {
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
function describe(error) {
    return `${error.code}: ${error.message}`;
}
function loadSession() {
    try {
        const stored = sessionStorage.getItem(SESSION_KEY);
        return stored ? JSON.parse(stored) : null;
    }
    catch {
        return null;
    }
}
/** Solves a proof-of-work challenge in a Web Worker, so the page stays responsive meanwhile. */
function solveInWorker(challenge) {
    setStatus('Checking that you are not a robot…');
    return new Promise((resolve, reject) => {
        const worker = new Worker(new URL('./pow-worker.js', import.meta.url), { type: 'module' });
        worker.onmessage = (event) => {
            worker.terminate();
            if (event.data)
                resolve(event.data);
            else
                reject(new Error('the server sent a challenge that cannot be solved'));
        };
        worker.onerror = (event) => {
            worker.terminate();
            reject(new Error(event.message || 'the check could not run in this browser'));
        };
        worker.postMessage(challenge);
    });
}
/** The banned page: until when, in words. */
function showBanned(expiresAt) {
    socket?.disconnect();
    socket = null;
    setChatting(null);
    hideSafety();
    page.start.hidden = true;
    page.chat.hidden = true;
    page.banned.hidden = false;
    const until = expiresAt ? new Date(expiresAt) : null;
    page.bannedUntil.textContent =
        until && !Number.isNaN(until.getTime())
            ? `You were banned after reports from other people. You can chat again from ${until.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'short' })} (in about ${describeWait(until.getTime() - Date.now())}).`
            : 'You were banned after reports from other people.';
}
function describeWait(ms) {
    const minutes = Math.max(1, Math.round(ms / 60_000));
    if (minutes < 90)
        return minutes === 1 ? '1 minute' : `${minutes} minutes`;
    const hours = Math.round(minutes / 60);
    return hours === 1 ? '1 hour' : `${hours} hours`;
}
/** Report and Block, about `name`, for the chat and a minute after it. */
function offerSafety(name) {
    clearTimeout(reportable?.hideTimer);
    reportable = { name };
    page.safetyAbout.textContent = `Is ${name} bothering you?`;
    page.safety.hidden = false;
}
/** The chat ended: Report and Block stay for the minute the server still accepts them. */
function keepSafetyAfterChat() {
    if (!reportable)
        return;
    clearTimeout(reportable.hideTimer);
    page.safetyAbout.textContent = `Was ${reportable.name} bothering you? You can still report or block them for a minute.`;
    reportable.hideTimer = setTimeout(hideSafety, REPORT_WINDOW_MS);
}
function hideSafety() {
    clearTimeout(reportable?.hideTimer);
    reportable = null;
    page.safety.hidden = true;
    page.safety.reset();
}
/** What an error code means, in words, for the report and block answers. */
function safetyRefusal(error) {
    if (error.code === 'NOT_IN_CHAT')
        return 'That chat ended more than a minute ago, so it can no longer be reported.';
    if (error.code === 'RATE_LIMITED')
        return 'Too many actions at once; try again in a moment.';
    return 'That did not work; please try again.';
}
async function newSession(username) {
    const session = await createSession(username, solveInWorker);
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    return session;
}
function setChatting(matched) {
    chat = matched;
    page.video.disabled = !matched || !matched.initiator;
    page.video.title = matched && !matched.initiator ? `${matched.partner.username} starts video calls` : '';
    page.clear.disabled = !matched;
    if (matched) {
        offerSafety(matched.partner.username);
    }
    else {
        call?.close();
        page.typing.hidden = true;
        keepSafetyAfterChat();
    }
}
function findPartner() {
    if (!socket)
        return;
    searching = true;
    setStatus('Looking for someone to talk to…');
    socket.emit('user:match', interests.length ? { interests } : {}, (answer) => {
        if (answer.ok)
            return;
        searching = false;
        // A guest back from a reload is still in its chat: the server resumes it with
        // `user:matched`, which may come before or after this answer.
        if (answer.error.code === 'ALREADY_IN_CHAT')
            return;
        setStatus(`Could not join the queue (${describe(answer.error)})`);
    });
}
function connect(session) {
    let token = session.token;
    // A function: each reconnection sends the token and what was seen at that moment.
    const connection = io({ auth: (send) => send({ token, lastSeen }) });
    connection.on('connect', () => {
        // After a dropped connection the server resumes a chat by itself; only a guest who was
        // looking asks again (asking twice is harmless).
        if (!chat && searching)
            findPartner();
    });
    connection.on('connect_error', (error) => {
        if (error.message === 'SESSION_EXPIRED' || error.message === 'SESSION_NOT_FOUND') {
            const username = loadSession()?.guest.username ?? '';
            void newSession(username).then((fresh) => {
                token = fresh.token;
                lastSeen = undefined;
                connection.connect();
            }, (failure) => {
                if (failure instanceof ApiError && failure.code === 'BANNED')
                    showBanned(failure.expiresAt);
                else
                    setStatus(`Could not start a new session (${String(failure)})`);
            });
            return;
        }
        if (error.message === 'BANNED') {
            // A connect_error carries only its code: the session's own answer says until when.
            connection.disconnect();
            void fetchMe(token).then(() => showBanned(undefined), (failure) => showBanned(failure instanceof ApiError ? failure.expiresAt : undefined));
            return;
        }
        setStatus(`Cannot reach the server (${error.message}); retrying…`);
    });
    connection.on('disconnect', (reason) => {
        if (reason !== 'io client disconnect' && chat)
            setStatus('Connection lost; reconnecting…');
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
    connection.on('chat:message', (message) => {
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
    connection.on('guest:banned', ({ expiresAt }) => showBanned(expiresAt));
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
function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSent && socket && chat)
        socket.emit('chat:typing:stop', () => { });
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
        }
        catch (error) {
            if (error instanceof ApiError && error.code === 'BANNED') {
                showBanned(error.expiresAt);
                return;
            }
            const reason = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
            setStatus('');
            alert(`Could not start: ${reason}`);
        }
    })();
});
page.compose.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!socket || !chat)
        return;
    const form = new FormData(page.compose);
    const text = String(form.get('text') ?? '').trim();
    const picked = form.get('file');
    const file = picked instanceof File && picked.size > 0 ? picked : null;
    if (!text && !file)
        return;
    stopTyping();
    void (async () => {
        const message = {
            clientId: crypto.randomUUID(),
        };
        if (text)
            message.text = text;
        if (file)
            message.file = { name: file.name, type: file.type, data: await file.arrayBuffer() };
        socket?.emit('chat:message', message, (answer) => {
            if (answer.ok) {
                showMessage(true, message);
                page.compose.reset();
            }
            else {
                notice(`Not sent (${describe(answer.error)})`);
            }
        });
    })();
});
page.compose.querySelector('input[name=text]')?.addEventListener('input', () => {
    if (!socket || !chat)
        return;
    if (!typingSent) {
        typingSent = true;
        socket.emit('chat:typing:start', () => { });
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
});
page.next.addEventListener('click', () => {
    if (!socket)
        return;
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
    if (!socket)
        return;
    if (chat) {
        socket.emit('chat:leave', () => {
            setChatting(null);
            setStatus('You left the chat. Click “Next stranger” when you are ready.');
        });
    }
    else if (searching) {
        socket.emit('user:match:cancel', () => {
            searching = false;
            setStatus('Stopped looking.');
        });
    }
});
page.clear.addEventListener('click', () => {
    if (socket && chat)
        socket.emit('chat:clear', (answer) => answer.ok || notice(describe(answer.error)));
});
page.video.addEventListener('click', () => {
    if (call && chat?.initiator)
        void call.start();
});
page.hangup.addEventListener('click', () => call?.close(true));
page.safety.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!socket || !reportable)
        return;
    const form = new FormData(page.safety);
    const reason = String(form.get('reason') ?? 'other');
    const note = String(form.get('note') ?? '').trim();
    const name = reportable.name;
    socket.emit('chat:report', note ? { reason, note } : { reason }, (answer) => {
        if (!answer.ok) {
            notice(safetyRefusal(answer.error));
            return;
        }
        setChatting(null);
        hideSafety();
        setStatus(`Thank you. ${name} was reported, and you will not be matched again. Click “Next stranger” to go on.`);
        notice(`You reported ${name}.`);
    });
});
page.block.addEventListener('click', () => {
    if (!socket || !reportable)
        return;
    const name = reportable.name;
    socket.emit('chat:block', (answer) => {
        if (!answer.ok) {
            notice(safetyRefusal(answer.error));
            return;
        }
        setChatting(null);
        hideSafety();
        setStatus(`You blocked ${name}; you will not be matched again. Click “Next stranger” to go on.`);
        notice(`You blocked ${name}.`);
    });
});
async function refreshStats() {
    try {
        const stats = await fetchStats();
        page.stats.textContent = `${stats.onlineUsers} online · ${stats.availableUsers} waiting · ${stats.activeRooms} chats`;
    }
    catch {
        page.stats.textContent = '';
    }
}
setChatting(null);
void refreshStats();
setInterval(() => void refreshStats(), STATS_EVERY_MS);
//# sourceMappingURL=main.js.map