function element(id) {
    const found = document.getElementById(id);
    if (!found)
        throw new Error(`the page has no #${id}`);
    return found;
}
export const page = {
    start: element('start'),
    startNotice: element('start-notice'),
    operatorNotice: element('operator-notice'),
    chat: element('chat'),
    status: element('status'),
    stats: element('stats'),
    messages: element('messages'),
    typing: element('typing'),
    compose: element('compose'),
    text: element('compose').querySelector('textarea'),
    file: element('compose').querySelector('input[type=file]'),
    attachment: element('attachment'),
    attachmentName: element('attachment-name'),
    attachmentRemove: element('attachment-remove'),
    counter: element('counter'),
    next: element('next'),
    stop: element('stop'),
    clear: element('clear'),
    video: element('video'),
    hangup: element('hangup'),
    mute: element('mute'),
    camera: element('camera'),
    incoming: element('incoming'),
    incomingText: element('incoming-text'),
    accept: element('accept'),
    decline: element('decline'),
    callFailed: element('call-failed'),
    retry: element('retry'),
    continueHere: element('continue'),
    change: element('change'),
    sound: element('sound'),
    videos: element('videos'),
    localVideo: element('local-video'),
    remoteVideo: element('remote-video'),
    remoteLabel: element('remote-label'),
    safety: element('safety'),
    safetyAbout: element('safety-about'),
    block: element('block'),
    banned: element('banned'),
    bannedUntil: element('banned-until'),
};
/** Object URLs of the files shown, released when the messages go. */
let fileUrls = [];
export function setStatus(text) {
    page.status.textContent = text;
}
export function clearMessages() {
    page.messages.replaceChildren();
    for (const url of fileUrls)
        URL.revokeObjectURL(url);
    fileUrls = [];
}
function append(item) {
    page.messages.append(item);
    page.messages.scrollTop = page.messages.scrollHeight;
}
export function showNotice(text) {
    const item = document.createElement('li');
    item.className = 'notice';
    item.textContent = text;
    append(item);
}
/** A size in words people read: "1 MB", "350 KB", "12 bytes". */
export function describeSize(bytes) {
    if (bytes >= 1024 * 1024)
        return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;
    if (bytes >= 1024)
        return `${Math.round(bytes / 1024)} KB`;
    return bytes === 1 ? '1 byte' : `${bytes} bytes`;
}
function clock(at) {
    const time = new Date(at);
    return Number.isNaN(time.getTime()) ? '' : time.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}
/**
 * A message bubble: who and when, then its text, then its file (as a download, with a preview
 * for images) apart from the text. `data` is absent for a file shown again after a reload.
 */
export function showMessage(entry, who, data) {
    const item = document.createElement('li');
    item.className = entry.kind;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = [who, clock(entry.at)].filter(Boolean).join(' · ');
    item.append(meta);
    if (entry.text) {
        const text = document.createElement('span');
        text.className = 'text';
        text.textContent = entry.text;
        item.append(text);
    }
    if (entry.file && data) {
        const blob = new Blob([data.bytes], { type: data.type || 'application/octet-stream' });
        const url = URL.createObjectURL(blob);
        fileUrls.push(url);
        const link = document.createElement('a');
        link.className = 'file';
        link.href = url;
        link.download = entry.file.name;
        link.textContent = `${entry.file.name} (${describeSize(blob.size)})`;
        if (data.type.startsWith('image/')) {
            const image = document.createElement('img');
            image.src = url;
            image.alt = entry.file.name;
            link.prepend(image);
        }
        item.append(link);
    }
    else if (entry.file) {
        const gone = document.createElement('span');
        gone.className = 'file';
        gone.textContent = `${entry.file.name} (${describeSize(entry.file.size)}; not kept after a reload)`;
        item.append(gone);
    }
    append(item);
}
/** What an error code means, in words. */
export function inWords(error) {
    switch (error.code) {
        case 'RATE_LIMITED': {
            const seconds = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
            return `You are going a bit fast. Try again in ${seconds === 1 ? 'a second' : `${seconds} seconds`}.`;
        }
        case 'PAYLOAD_TOO_LARGE':
            return 'That is too large to send.';
        case 'INVALID_PAYLOAD':
            return 'That cannot be sent.';
        case 'CONTENT_REFUSED':
            return 'That message contains words this site does not allow.';
        case 'PARTNER_AWAY':
            return 'Your partner cannot receive messages right now. Try again in a moment.';
        case 'NOT_IN_CHAT':
            return 'This chat has ended.';
        case 'INVALID_USERNAME':
            return 'Names are 1 to 32 characters, without special control characters.';
        case 'POW_INVALID':
        case 'POW_REQUIRED':
            return 'The browser check failed; please try again.';
        case 'BANNED':
            return 'You are banned for now.';
        default:
            return 'Something went wrong on our side. Please try again.';
    }
}
//# sourceMappingURL=view.js.map