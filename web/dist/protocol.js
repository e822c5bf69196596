// The wire contract of docs/protocol.md, as TypeScript types, and the HTTP calls of §1.
/** An HTTP error of §1, with its code. */
export class ApiError extends Error {
    status;
    code;
    expiresAt;
    constructor(status, code, message, 
    /** With `BANNED`: when the ban ends. */
    expiresAt) {
        super(message);
        this.status = status;
        this.code = code;
        this.expiresAt = expiresAt;
    }
}
async function call(path, init) {
    const response = await fetch(path, init);
    if (response.ok)
        return (await response.json());
    let error = { code: 'INTERNAL', message: `HTTP ${response.status}` };
    try {
        const body = (await response.json());
        if (body.error)
            error = body.error;
    }
    catch {
        // Not JSON (a proxy's page): keep the status.
    }
    throw new ApiError(response.status, error.code, error.message, error.expiresAt);
}
/**
 * `POST /api/guest/session`: a new guest, with a random name when `username` is empty. When the
 * server asks for proof of work (`GET /api/guest/challenge` answers one), `solve` finds the
 * solution first.
 */
export async function createSession(username, deviceId, solve) {
    const body = username.trim() ? { username, deviceId } : { deviceId };
    const challenge = await fetch('/api/guest/challenge', { cache: 'no-store' });
    if (challenge.ok)
        body.altcha = await solve((await challenge.json()));
    return call('/api/guest/session', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
    });
}
/** `GET /api/guest/me`: the guest of `token` (a `BANNED` refusal says until when). */
export function fetchMe(token) {
    return call('/api/guest/me', { method: 'GET', headers: { Authorization: `Bearer ${token}` } });
}
/** `POST /api/guest/session/refresh`: a fresh token, the session's lifetime extended. */
export function refreshSession(token) {
    return call('/api/guest/session/refresh', { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
}
/** `GET /api/config`. */
export function fetchConfig() {
    return call('/api/config', { method: 'GET' });
}
/** `GET /api/stats`. */
export function fetchStats() {
    return call('/api/stats', { method: 'GET' });
}
//# sourceMappingURL=protocol.js.map