const ignore = () => { };
/**
 * How long a call may take to connect before it counts as failed: a browser that finds no
 * usable candidate pair (networks that block it, no TURN) can stay "connecting" for ever
 * instead of reporting `failed`.
 */
const CONNECT_TIMEOUT_MS = 20_000;
export class VideoCall {
    socket;
    views;
    peer = null;
    media = null;
    /** Candidates that arrive before the remote description is set wait here. */
    early = [];
    /** An offer waiting for the guest to accept it. */
    ringing = null;
    connectTimer;
    constructor(socket, views) {
        this.socket = socket;
        this.views = views;
        socket.on('webrtc:offer', ({ sdp }) => this.ring(sdp));
        socket.on('webrtc:answer', ({ sdp }) => void this.accept(sdp));
        socket.on('webrtc:ice-candidate', ({ candidate }) => void this.addCandidate(candidate));
        socket.on('webrtc:hangup', () => this.close());
    }
    /** An offer came: while a call is on, it renegotiates at once; otherwise the guest is asked. */
    ring(sdp) {
        if (this.peer) {
            void this.answer(sdp);
            return;
        }
        this.ringing = sdp;
        this.views.onIncoming(true);
    }
    /** The guest accepts the incoming call. */
    pickUp() {
        const sdp = this.ringing;
        this.ringing = null;
        this.views.onIncoming(false);
        if (sdp)
            void this.answer(sdp);
    }
    /** The guest declines the incoming call; the caller is told by a hangup. */
    decline() {
        if (!this.ringing)
            return;
        this.ringing = null;
        this.early = [];
        this.views.onIncoming(false);
        this.socket.emit('webrtc:hangup', ignore);
    }
    /** Turns the microphone (`kind` audio) or the camera (video) on or off; returns whether it is on. */
    toggle(kind) {
        const tracks = kind === 'audio' ? this.media?.getAudioTracks() : this.media?.getVideoTracks();
        const on = !(tracks?.[0]?.enabled ?? false);
        for (const track of tracks ?? [])
            track.enabled = on;
        return on;
    }
    get active() {
        return this.peer !== null;
    }
    /** Starts a call as the initiator: camera, then the offer. */
    async start() {
        try {
            const peer = await this.open();
            const offer = await peer.createOffer();
            await peer.setLocalDescription(offer);
            this.socket.emit('webrtc:offer', { sdp: offer.sdp ?? '' }, (ack) => {
                if (!ack.ok)
                    this.fail(`the offer was refused: ${ack.error.code}`);
            });
        }
        catch (error) {
            this.fail(String(error));
        }
    }
    /** The partner hung up, left, or this side clicked "Hang up" (then `tell` the partner). */
    close(tell = false) {
        if (tell && this.peer)
            this.socket.emit('webrtc:hangup', ignore);
        const wasRinging = this.ringing !== null;
        this.ringing = null;
        if (wasRinging)
            this.views.onIncoming(false);
        const wasActive = this.peer !== null;
        this.stopMedia();
        this.early = [];
        this.views.local.srcObject = null;
        this.views.remote.srcObject = null;
        if (wasActive)
            this.views.onChange(false);
    }
    stopMedia() {
        clearTimeout(this.connectTimer);
        this.peer?.close();
        this.peer = null;
        for (const track of this.media?.getTracks() ?? [])
            track.stop();
        this.media = null;
    }
    async open() {
        // Candidates that came with the offer, while the camera was starting, are kept.
        this.stopMedia();
        const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
        const peer = new RTCPeerConnection({ iceServers: this.views.iceServers() });
        this.media = media;
        this.peer = peer;
        for (const track of media.getTracks())
            peer.addTrack(track, media);
        peer.onicecandidate = ({ candidate }) => {
            if (candidate)
                this.socket.emit('webrtc:ice-candidate', { candidate: candidate.toJSON() }, ignore);
        };
        const failed = () => {
            if (this.peer !== peer)
                return;
            this.close(true);
            this.views.onFailed();
        };
        peer.onconnectionstatechange = () => {
            if (peer.connectionState === 'connected')
                clearTimeout(this.connectTimer);
            if (peer.connectionState === 'failed')
                failed();
        };
        this.connectTimer = setTimeout(() => {
            if (peer.connectionState !== 'connected')
                failed();
        }, CONNECT_TIMEOUT_MS);
        peer.ontrack = ({ streams }) => {
            const [stream] = streams;
            if (stream)
                this.views.remote.srcObject = stream;
        };
        this.views.local.srcObject = media;
        this.views.onChange(true);
        return peer;
    }
    async answer(sdp) {
        try {
            const peer = await this.open();
            await peer.setRemoteDescription({ type: 'offer', sdp });
            await this.flushCandidates();
            const answer = await peer.createAnswer();
            await peer.setLocalDescription(answer);
            this.socket.emit('webrtc:answer', { sdp: answer.sdp ?? '' }, (ack) => {
                if (!ack.ok)
                    this.fail(`the answer was refused: ${ack.error.code}`);
            });
        }
        catch (error) {
            this.fail(String(error));
        }
    }
    async accept(sdp) {
        if (!this.peer)
            return;
        try {
            await this.peer.setRemoteDescription({ type: 'answer', sdp });
            await this.flushCandidates();
        }
        catch (error) {
            this.fail(String(error));
        }
    }
    async addCandidate(candidate) {
        if (!this.peer || !this.peer.remoteDescription) {
            this.early.push(candidate);
            return;
        }
        try {
            await this.peer.addIceCandidate(candidate);
        }
        catch {
            // A candidate the browser cannot use (another network, a stale generation) is skipped.
        }
    }
    async flushCandidates() {
        const waiting = this.early;
        this.early = [];
        for (const candidate of waiting)
            await this.addCandidate(candidate);
    }
    fail(message) {
        this.close(true);
        this.views.onError(message);
    }
}
//# sourceMappingURL=call.js.map