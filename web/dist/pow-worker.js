const scope = globalThis;
function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, '0')).join('');
}
async function solve(challenge) {
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
export {};
//# sourceMappingURL=pow-worker.js.map