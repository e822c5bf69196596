// The wire contract of docs/protocol.md, as TypeScript types, and the HTTP calls of §1.

export interface Guest {
  id: string;
  username: string;
  createdAt: string;
  expiresAt: string;
}

export interface Session {
  token: string;
  expiresAt: string;
  guest: Guest;
}

export interface WireError {
  code: string;
  message: string;
  retryAfterMs?: number;
  /** With `BANNED`: when the ban ends. */
  expiresAt?: string;
}

/** Why a stranger is reported (docs/protocol.md, additions). */
export type ReportReason = 'spam' | 'harassment' | 'nudity' | 'minor' | 'other';

/** An ALTCHA challenge of `GET /api/guest/challenge`. */
export interface Challenge {
  algorithm: string;
  challenge: string;
  maxnumber: number;
  salt: string;
  signature: string;
}

export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: WireError };

export interface Matched {
  roomId: string;
  partner: { id: string; username: string };
  initiator: boolean;
  commonInterests: string[];
  iceServers: RTCIceServer[];
  resumed?: boolean;
}

export interface FileOut {
  name: string;
  type: string;
  data: ArrayBuffer;
}

export interface IncomingMessage {
  id: string;
  roomId: string;
  from: string;
  text?: string;
  file?: { name: string; type: string; size: number; data: ArrayBuffer };
  clientId?: string;
  sentAt: string;
  /** Its number in this guest's side of the chat (docs/protocol.md, additions). */
  seq?: number;
}

export interface Stats {
  totalUsers: number;
  onlineUsers: number;
  availableUsers: number;
  activeRooms: number;
  connectedSockets: number;
  nodes: number;
}

/** The events the server sends (§2), with their payloads. */
export interface ServerEvents {
  'user:matched': (matched: Matched) => void;
  'chat:ended': (ended: { roomId: string; reason: 'left' | 'disconnected' | 'session_ended' }) => void;
  'chat:message': (message: IncomingMessage) => void;
  'chat:cleared': (cleared: { roomId: string; by: string; seq?: number }) => void;
  'chat:typing:start': (typing: { from: string }) => void;
  'chat:typing:stop': (typing: { from: string }) => void;
  'chat:partner:away': (away: { roomId: string }) => void;
  'chat:partner:back': (back: { roomId: string }) => void;
  'session:replaced': (replaced: Record<string, never>) => void;
  'guest:banned': (banned: { expiresAt: string; message: string }) => void;
  'app:error': (error: WireError & { event: string }) => void;
  'webrtc:offer': (offer: { from: string; sdp: string }) => void;
  'webrtc:answer': (answer: { from: string; sdp: string }) => void;
  'webrtc:ice-candidate': (candidate: { from: string; candidate: RTCIceCandidateInit }) => void;
  'webrtc:hangup': (hangup: { from: string }) => void;
}

/** The events a client sends (§2); every one takes an ack. */
export interface ClientEvents {
  'user:match': (request: { interests?: string[] }, ack: (answer: Ack<{ status: string }>) => void) => void;
  'user:match:cancel': (ack: (answer: Ack) => void) => void;
  'chat:leave': (ack: (answer: Ack) => void) => void;
  'chat:message': (
    message: { text?: string; file?: FileOut; clientId?: string },
    ack: (answer: Ack<{ id: string; sentAt: string }>) => void,
  ) => void;
  'chat:clear': (ack: (answer: Ack) => void) => void;
  'chat:typing:start': (ack: (answer: Ack) => void) => void;
  'chat:typing:stop': (ack: (answer: Ack) => void) => void;
  'webrtc:offer': (offer: { sdp: string }, ack: (answer: Ack) => void) => void;
  'webrtc:answer': (answer: { sdp: string }, ack: (answer: Ack) => void) => void;
  'webrtc:ice-candidate': (candidate: { candidate: RTCIceCandidateInit }, ack: (answer: Ack) => void) => void;
  'webrtc:hangup': (ack: (answer: Ack) => void) => void;
  'chat:report': (report: { reason: ReportReason; note?: string }, ack: (answer: Ack<{ reportId: string }>) => void) => void;
  'chat:block': (ack: (answer: Ack) => void) => void;
  'chat:leaving': (ack: (answer: Ack) => void) => void;
}

/** `GET /api/config` (docs/protocol.md, additions): what to check before sending. */
export interface ServerConfig {
  maxFileBytes: number;
  maxTextChars: number;
  maxReportNoteChars: number;
  reportWindowMs: number;
  resumeGraceMs: number;
  reloadGraceMs: number;
  proofOfWork: boolean;
  notice: string | null;
}

/** An HTTP error of §1, with its code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** With `BANNED`: when the ban ends. */
    readonly expiresAt?: string,
  ) {
    super(message);
  }
}

async function call<T>(path: string, init: RequestInit): Promise<T> {
  const response = await fetch(path, init);
  if (response.ok) return (await response.json()) as T;
  let error: WireError = { code: 'INTERNAL', message: `HTTP ${response.status}` };
  try {
    const body = (await response.json()) as { error?: WireError };
    if (body.error) error = body.error;
  } catch {
    // Not JSON (a proxy's page): keep the status.
  }
  throw new ApiError(response.status, error.code, error.message, error.expiresAt);
}

/**
 * `POST /api/guest/session`: a new guest, with a random name when `username` is empty. When the
 * server asks for proof of work (`GET /api/guest/challenge` answers one), `solve` finds the
 * solution first.
 */
export async function createSession(
  username: string,
  deviceId: string,
  solve: (challenge: Challenge) => Promise<string>,
): Promise<Session> {
  const body: { username?: string; altcha?: string; deviceId: string } = username.trim() ? { username, deviceId } : { deviceId };
  const challenge = await fetch('/api/guest/challenge', { cache: 'no-store' });
  if (challenge.ok) body.altcha = await solve((await challenge.json()) as Challenge);
  return call<Session>('/api/guest/session', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** `GET /api/guest/me`: the guest of `token` (a `BANNED` refusal says until when). */
export function fetchMe(token: string): Promise<{ guest: Guest }> {
  return call<{ guest: Guest }>('/api/guest/me', { method: 'GET', headers: { Authorization: `Bearer ${token}` } });
}

/** `POST /api/guest/session/refresh`: a fresh token, the session's lifetime extended. */
export function refreshSession(token: string): Promise<Session> {
  return call<Session>('/api/guest/session/refresh', { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
}

/** `GET /api/config`. */
export function fetchConfig(): Promise<ServerConfig> {
  return call<ServerConfig>('/api/config', { method: 'GET' });
}

/** `GET /api/stats`. */
export function fetchStats(): Promise<Stats> {
  return call<Stats>('/api/stats', { method: 'GET' });
}
