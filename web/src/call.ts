// A video call over WebRTC, signalled through the server (§2, "WebRTC signaling"): either side
// may offer; the other is asked first and answers only when its guest accepts; ICE candidates
// cross over as they come. The server relays to the partner only; nothing here names a
// recipient.
import type { Socket } from 'socket.io-client';
import type { ClientEvents, ServerEvents } from './protocol.js';

type ChatSocket = Socket<ServerEvents, ClientEvents>;

const ignore = (): void => {};

/**
 * How long a call may take to connect before it counts as failed: a browser that finds no
 * usable candidate pair (networks that block it, no TURN) can stay "connecting" for ever
 * instead of reporting `failed`.
 */
const CONNECT_TIMEOUT_MS = 20_000;

export interface CallViews {
  /** The ICE servers of the current pair (from `user:matched`). */
  iceServers: () => RTCIceServer[];
  local: HTMLVideoElement;
  remote: HTMLVideoElement;
  /** Told when the call starts or ends, so the page can show or hide its controls. */
  onChange: (active: boolean) => void;
  /** Told when something goes wrong (no camera, a refused offer). */
  onError: (message: string) => void;
  /** The partner calls: ask the guest (`accept` or `decline`); `false` when the call went. */
  onIncoming: (ringing: boolean) => void;
  /** The connection between the two browsers failed (networks that block it, no TURN). */
  onFailed: () => void;
}

export class VideoCall {
  private peer: RTCPeerConnection | null = null;
  private media: MediaStream | null = null;
  /** Candidates that arrive before the remote description is set wait here. */
  private early: RTCIceCandidateInit[] = [];
  /** An offer waiting for the guest to accept it. */
  private ringing: string | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly socket: ChatSocket,
    private readonly views: CallViews,
  ) {
    socket.on('webrtc:offer', ({ sdp }) => this.ring(sdp));
    socket.on('webrtc:answer', ({ sdp }) => void this.accept(sdp));
    socket.on('webrtc:ice-candidate', ({ candidate }) => void this.addCandidate(candidate));
    socket.on('webrtc:hangup', () => this.close());
  }

  /** An offer came: while a call is on, it renegotiates at once; otherwise the guest is asked. */
  private ring(sdp: string): void {
    if (this.peer) {
      void this.answer(sdp);
      return;
    }
    this.ringing = sdp;
    this.views.onIncoming(true);
  }

  /** The guest accepts the incoming call. */
  pickUp(): void {
    const sdp = this.ringing;
    this.ringing = null;
    this.views.onIncoming(false);
    if (sdp) void this.answer(sdp);
  }

  /** The guest declines the incoming call; the caller is told by a hangup. */
  decline(): void {
    if (!this.ringing) return;
    this.ringing = null;
    this.early = [];
    this.views.onIncoming(false);
    this.socket.emit('webrtc:hangup', ignore);
  }

  /** Turns the microphone (`kind` audio) or the camera (video) on or off; returns whether it is on. */
  toggle(kind: 'audio' | 'video'): boolean {
    const tracks = kind === 'audio' ? this.media?.getAudioTracks() : this.media?.getVideoTracks();
    const on = !(tracks?.[0]?.enabled ?? false);
    for (const track of tracks ?? []) track.enabled = on;
    return on;
  }

  get active(): boolean {
    return this.peer !== null;
  }

  /** Starts a call as the initiator: camera, then the offer. */
  async start(): Promise<void> {
    try {
      const peer = await this.open();
      const offer = await peer.createOffer();
      await peer.setLocalDescription(offer);
      this.socket.emit('webrtc:offer', { sdp: offer.sdp ?? '' }, (ack) => {
        if (!ack.ok) this.fail(`the offer was refused: ${ack.error.code}`);
      });
    } catch (error) {
      this.fail(String(error));
    }
  }

  /** The partner hung up, left, or this side clicked "Hang up" (then `tell` the partner). */
  close(tell = false): void {
    if (tell && this.peer) this.socket.emit('webrtc:hangup', ignore);
    const wasRinging = this.ringing !== null;
    this.ringing = null;
    if (wasRinging) this.views.onIncoming(false);
    const wasActive = this.peer !== null;
    this.stopMedia();
    this.early = [];
    this.views.local.srcObject = null;
    this.views.remote.srcObject = null;
    if (wasActive) this.views.onChange(false);
  }

  private stopMedia(): void {
    clearTimeout(this.connectTimer);
    this.peer?.close();
    this.peer = null;
    for (const track of this.media?.getTracks() ?? []) track.stop();
    this.media = null;
  }

  private async open(): Promise<RTCPeerConnection> {
    // Candidates that came with the offer, while the camera was starting, are kept.
    this.stopMedia();
    const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    const peer = new RTCPeerConnection({ iceServers: this.views.iceServers() });
    this.media = media;
    this.peer = peer;
    for (const track of media.getTracks()) peer.addTrack(track, media);
    peer.onicecandidate = ({ candidate }) => {
      if (candidate) this.socket.emit('webrtc:ice-candidate', { candidate: candidate.toJSON() }, ignore);
    };
    const failed = (): void => {
      if (this.peer !== peer) return;
      this.close(true);
      this.views.onFailed();
    };
    peer.onconnectionstatechange = () => {
      if (peer.connectionState === 'connected') clearTimeout(this.connectTimer);
      if (peer.connectionState === 'failed') failed();
    };
    this.connectTimer = setTimeout(() => {
      if (peer.connectionState !== 'connected') failed();
    }, CONNECT_TIMEOUT_MS);
    peer.ontrack = ({ streams }) => {
      const [stream] = streams;
      if (stream) this.views.remote.srcObject = stream;
    };
    this.views.local.srcObject = media;
    this.views.onChange(true);
    return peer;
  }

  private async answer(sdp: string): Promise<void> {
    try {
      const peer = await this.open();
      await peer.setRemoteDescription({ type: 'offer', sdp });
      await this.flushCandidates();
      const answer = await peer.createAnswer();
      await peer.setLocalDescription(answer);
      this.socket.emit('webrtc:answer', { sdp: answer.sdp ?? '' }, (ack) => {
        if (!ack.ok) this.fail(`the answer was refused: ${ack.error.code}`);
      });
    } catch (error) {
      this.fail(String(error));
    }
  }

  private async accept(sdp: string): Promise<void> {
    if (!this.peer) return;
    try {
      await this.peer.setRemoteDescription({ type: 'answer', sdp });
      await this.flushCandidates();
    } catch (error) {
      this.fail(String(error));
    }
  }

  private async addCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    if (!this.peer || !this.peer.remoteDescription) {
      this.early.push(candidate);
      return;
    }
    try {
      await this.peer.addIceCandidate(candidate);
    } catch {
      // A candidate the browser cannot use (another network, a stale generation) is skipped.
    }
  }

  private async flushCandidates(): Promise<void> {
    const waiting = this.early;
    this.early = [];
    for (const candidate of waiting) await this.addCandidate(candidate);
  }

  private fail(message: string): void {
    this.close(true);
    this.views.onError(message);
  }
}
