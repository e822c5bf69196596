// Solves an ALTCHA challenge (docs/protocol.md, additions) off the page's thread: tries numbers
// from 0 until SHA-256(salt + number) is the challenge, then posts the payload for the `altcha`
// field, or `null` when no number up to maxnumber works.
import type { Challenge } from './protocol.js';

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<Challenge>) => void) | null;
  postMessage(message: unknown): void;
};

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

async function solve(challenge: Challenge): Promise<string | null> {
  const encoder = new TextEncoder();
  for (let number = 0; number <= challenge.maxnumber; number += 1) {
    const digest = await crypto.subtle.digest('SHA-256', encoder.encode(challenge.salt + number));
    if (hex(digest) === challenge.challenge) {
      const { algorithm, salt, signature } = challenge;
      return btoa(JSON.stringify({ algorithm, challenge: challenge.challenge, number, salt, signature }));
    }
  }
  return null;
}

scope.onmessage = (event) => {
  void solve(event.data).then((payload) => scope.postMessage(payload));
};
