const SESSION_KEY = 'duet.session';
const CHAT_KEY = 'duet.chat';
/** At most this many history entries are kept (the oldest go first). */
const HISTORY_LIMIT = 200;
function read(key) {
    try {
        const stored = sessionStorage.getItem(key);
        return stored ? JSON.parse(stored) : null;
    }
    catch {
        return null;
    }
}
function write(key, value) {
    try {
        if (value === null)
            sessionStorage.removeItem(key);
        else
            sessionStorage.setItem(key, JSON.stringify(value));
    }
    catch {
        // Storage full or blocked (private modes): the tab works on, without surviving a reload.
    }
}
/**
 * This browser's device id, kept in localStorage (shared by its tabs): the server never pairs
 * two guests of one device, so a browser does not meet itself.
 */
export function deviceId() {
    const key = 'duet.device';
    try {
        const known = localStorage.getItem(key);
        if (known)
            return known;
        const fresh = crypto.randomUUID();
        localStorage.setItem(key, fresh);
        return fresh;
    }
    catch {
        return crypto.randomUUID();
    }
}
/** Whether the guest asked for a sound when a message arrives while the tab is hidden. */
export function soundWanted() {
    try {
        return localStorage.getItem('duet.sound') === 'on';
    }
    catch {
        return false;
    }
}
export function setSoundWanted(on) {
    try {
        localStorage.setItem('duet.sound', on ? 'on' : 'off');
    }
    catch {
        // Not kept: the choice holds for this page only.
    }
}
/** The stored session, while it has not expired. */
export function loadSession() {
    const session = read(SESSION_KEY);
    if (!session || !(new Date(session.guest.expiresAt) > new Date()))
        return null;
    return session;
}
export function saveSession(session) {
    write(SESSION_KEY, session);
}
export function loadChat() {
    return read(CHAT_KEY);
}
export function saveChat(chat) {
    if (chat && chat.history.length > HISTORY_LIMIT)
        chat.history.splice(0, chat.history.length - HISTORY_LIMIT);
    write(CHAT_KEY, chat);
}
//# sourceMappingURL=storage.js.map