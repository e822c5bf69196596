// What a tab keeps across reloads, in sessionStorage (one tab, gone with it): its guest session,
// and the chat it is in with the history shown, so a reload brings the chat view back by itself.
import type { Matched, Session } from './protocol.js';

const SESSION_KEY = 'duet.session';
const CHAT_KEY = 'duet.chat';
/** At most this many history entries are kept (the oldest go first). */
const HISTORY_LIMIT = 200;

/** One line of a chat's history as shown: a message (with who and when) or a notice. */
export interface HistoryEntry {
  kind: 'mine' | 'theirs' | 'notice';
  text?: string;
  /** A file's name and size; files themselves are not kept across a reload. */
  file?: { name: string; size: number };
  at: string;
}

/** The chat of this tab: its pair, the last numbered entry received, and what was shown. */
export interface ChatSnapshot {
  matched: Matched;
  lastSeen?: { roomId: string; seq: number };
  history: HistoryEntry[];
}

function read<T>(key: string): T | null {
  try {
    const stored = sessionStorage.getItem(key);
    return stored ? (JSON.parse(stored) as T) : null;
  } catch {
    return null;
  }
}

function write(key: string, value: unknown): void {
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or blocked (private modes): the tab works on, without surviving a reload.
  }
}

/**
 * This browser's device id, kept in localStorage (shared by its tabs): the server never pairs
 * two guests of one device, so a browser does not meet itself.
 */
export function deviceId(): string {
  const key = 'duet.device';
  try {
    const known = localStorage.getItem(key);
    if (known) return known;
    const fresh = crypto.randomUUID();
    localStorage.setItem(key, fresh);
    return fresh;
  } catch {
    return crypto.randomUUID();
  }
}

/** Whether the guest asked for a sound when a message arrives while the tab is hidden. */
export function soundWanted(): boolean {
  try {
    return localStorage.getItem('duet.sound') === 'on';
  } catch {
    return false;
  }
}

export function setSoundWanted(on: boolean): void {
  try {
    localStorage.setItem('duet.sound', on ? 'on' : 'off');
  } catch {
    // Not kept: the choice holds for this page only.
  }
}

/** The stored session, while it has not expired. */
export function loadSession(): Session | null {
  const session = read<Session>(SESSION_KEY);
  if (!session || !(new Date(session.guest.expiresAt) > new Date())) return null;
  return session;
}

export function saveSession(session: Session | null): void {
  write(SESSION_KEY, session);
}

export function loadChat(): ChatSnapshot | null {
  return read<ChatSnapshot>(CHAT_KEY);
}

export function saveChat(chat: ChatSnapshot | null): void {
  if (chat && chat.history.length > HISTORY_LIMIT) chat.history.splice(0, chat.history.length - HISTORY_LIMIT);
  write(CHAT_KEY, chat);
}
