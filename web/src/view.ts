// The page's elements and how things are drawn in them. Everything a stranger sends is shown as
// text (`textContent`), never as HTML.
import type { HistoryEntry } from './storage.js';

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

export const page = {
  start: element<HTMLFormElement>('start'),
  startNotice: element<HTMLElement>('start-notice'),
  operatorNotice: element<HTMLElement>('operator-notice'),
  chat: element<HTMLElement>('chat'),
  status: element<HTMLElement>('status'),
  stats: element<HTMLElement>('stats'),
  messages: element<HTMLOListElement>('messages'),
  typing: element<HTMLElement>('typing'),
  compose: element<HTMLFormElement>('compose'),
  text: element<HTMLTextAreaElement>('compose').querySelector('textarea') as HTMLTextAreaElement,
  file: element<HTMLFormElement>('compose').querySelector('input[type=file]') as HTMLInputElement,
  attachment: element<HTMLElement>('attachment'),
  attachmentName: element<HTMLElement>('attachment-name'),
  attachmentRemove: element<HTMLButtonElement>('attachment-remove'),
  counter: element<HTMLElement>('counter'),
  next: element<HTMLButtonElement>('next'),
  stop: element<HTMLButtonElement>('stop'),
  clear: element<HTMLButtonElement>('clear'),
  video: element<HTMLButtonElement>('video'),
  hangup: element<HTMLButtonElement>('hangup'),
  mute: element<HTMLButtonElement>('mute'),
  camera: element<HTMLButtonElement>('camera'),
  incoming: element<HTMLElement>('incoming'),
  incomingText: element<HTMLElement>('incoming-text'),
  accept: element<HTMLButtonElement>('accept'),
  decline: element<HTMLButtonElement>('decline'),
  callFailed: element<HTMLElement>('call-failed'),
  retry: element<HTMLButtonElement>('retry'),
  continueHere: element<HTMLButtonElement>('continue'),
  change: element<HTMLButtonElement>('change'),
  sound: element<HTMLInputElement>('sound'),
  videos: element<HTMLElement>('videos'),
  localVideo: element<HTMLVideoElement>('local-video'),
  remoteVideo: element<HTMLVideoElement>('remote-video'),
  remoteLabel: element<HTMLElement>('remote-label'),
  safety: element<HTMLFormElement>('safety'),
  safetyAbout: element<HTMLElement>('safety-about'),
  block: element<HTMLButtonElement>('block'),
  banned: element<HTMLElement>('banned'),
  bannedUntil: element<HTMLElement>('banned-until'),
};

/** Object URLs of the files shown, released when the messages go. */
let fileUrls: string[] = [];

export function setStatus(text: string): void {
  page.status.textContent = text;
}

export function clearMessages(): void {
  page.messages.replaceChildren();
  for (const url of fileUrls) URL.revokeObjectURL(url);
  fileUrls = [];
}

function append(item: HTMLLIElement): void {
  page.messages.append(item);
  page.messages.scrollTop = page.messages.scrollHeight;
}

export function showNotice(text: string): void {
  const item = document.createElement('li');
  item.className = 'notice';
  item.textContent = text;
  append(item);
}

/** A size in words people read: "1 MB", "350 KB", "12 bytes". */
export function describeSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return bytes === 1 ? '1 byte' : `${bytes} bytes`;
}

function clock(at: string): string {
  const time = new Date(at);
  return Number.isNaN(time.getTime()) ? '' : time.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/**
 * A message bubble: who and when, then its text, then its file (as a download, with a preview
 * for images) apart from the text. `data` is absent for a file shown again after a reload.
 */
export function showMessage(
  entry: HistoryEntry,
  who: string,
  data?: { type: string; bytes: ArrayBuffer },
): void {
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
  } else if (entry.file) {
    const gone = document.createElement('span');
    gone.className = 'file';
    gone.textContent = `${entry.file.name} (${describeSize(entry.file.size)}; not kept after a reload)`;
    item.append(gone);
  }
  append(item);
}

/** What an error code means, in words. */
export function inWords(error: { code: string; retryAfterMs?: number }): string {
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
