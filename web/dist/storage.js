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