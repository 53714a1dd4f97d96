// CAP widget connections (ES module, loaded by cap-widget.js).
//
// VoiceCall: microphone -> WebRTC (Opus) -> agent, agent voice back on a remote
// track, protocol v1 events on the "events" data channel.
// TextChat: the developer WebSocket protocol v1 with input.text only, used when
// there is no microphone or WebRTC is blocked (agent audio is ignored).
//
// Both are EventTargets: "event" (detail: one protocol event) and "status"
// (detail: {status, reason}).

const ICE_GATHER_MS = 3000; // host candidates take milliseconds; STUN may take longer
const CONNECT_TIMEOUT_MS = 15000;
const START_TIMEOUT_MS = 15000;

export class VoiceUnavailable extends Error {
  // kind: denied | nomic | insecure | webrtc | busy | key | server
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

function emit(target, type, detail) {
  target.dispatchEvent(new CustomEvent(type, { detail }));
}

function micError(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
    return new VoiceUnavailable("denied", "Microphone access was denied.");
  }
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
    return new VoiceUnavailable("nomic", "No microphone was found.");
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return new VoiceUnavailable("busy", "The microphone is in use by another application.");
  }
  return new VoiceUnavailable("nomic", "The microphone could not be opened.");
}

function waitForIce(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener("icegatheringstatechange", check);
      clearTimeout(timer);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, ICE_GATHER_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class VoiceCall extends EventTarget {
  constructor({ server, agent, key, iceServers }) {
    super();
    this.server = server;
    this.agent = agent;
    this.key = key;
    this.iceServers = iceServers || [];
    this.pc = null;
    this.channel = null;
    this.mic = null;
    this.remoteStream = null;
    this.sessionId = null;
    this.started = false;
    this.closed = false;
  }

  async start() {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new VoiceUnavailable("insecure", "Voice needs a secure (https) page and a browser with microphone support.");
    }
    if (typeof RTCPeerConnection === "undefined") {
      throw new VoiceUnavailable("webrtc", "This browser blocks WebRTC voice calls.");
    }
    try {
      this.mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (err) {
      throw micError(err);
    }
    if (this.closed) return this._release();
    emit(this, "status", { status: "connecting" });
    let pc;
    try {
      pc = this.pc = new RTCPeerConnection({ iceServers: this.iceServers });
    } catch (err) {
      this._release();
      throw new VoiceUnavailable("webrtc", "This browser blocks WebRTC voice calls.");
    }
    for (const track of this.mic.getAudioTracks()) pc.addTrack(track, this.mic);
    this.channel = pc.createDataChannel("events");
    this.channel.onmessage = (m) => this._onMessage(m.data);
    pc.ontrack = (e) => {
      this.remoteStream = e.streams[0] || new MediaStream([e.track]);
      emit(this, "status", { status: "audio", stream: this.remoteStream });
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      if (state === "connected") emit(this, "status", { status: "connected" });
      if (state === "failed") this._fail("webrtc", "The voice connection failed (the network may block WebRTC).");
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIce(pc);
    let response;
    try {
      response = await fetch(this.server + "/v1/webrtc/offer", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", agent: this.agent, key: this.key }),
      });
    } catch (err) {
      this._release();
      throw new VoiceUnavailable("server", "The voice service cannot be reached.");
    }
    if (!response.ok) {
      this._release();
      if (response.status === 403) throw new VoiceUnavailable("key", "This widget's key does not allow this agent.");
      if (response.status === 503) throw new VoiceUnavailable("server", "The voice service is busy, please try again later.");
      throw new VoiceUnavailable("server", "The voice service refused the call (" + response.status + ").");
    }
    const answer = await response.json();
    this.sessionId = answer.session_id;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    this._timer = setTimeout(() => {
      if (!this.started) this._fail("webrtc", "The voice connection timed out (the network may block WebRTC).");
    }, CONNECT_TIMEOUT_MS);
  }

  _onMessage(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch (err) {
      return;
    }
    if (!event || typeof event.type !== "string") return;
    if (event.type === "session.started") {
      this.started = true;
      clearTimeout(this._timer);
      emit(this, "status", { status: "started" });
    }
    emit(this, "event", event);
    if (event.type === "session.ended") this._end(event.reason || "ended");
  }

  _fail(kind, message) {
    if (this.closed) return;
    this._release();
    emit(this, "status", { status: "failed", kind, reason: message });
  }

  _end(reason) {
    if (this.closed) return;
    this._release();
    emit(this, "status", { status: "ended", reason });
  }

  send(message) {
    if (!this.channel || this.channel.readyState !== "open" || !this.started) return false;
    this.channel.send(JSON.stringify(message));
    return true;
  }

  sendText(text) {
    return this.send({ type: "input.text", text });
  }

  interrupt() {
    return this.send({ type: "interrupt" });
  }

  setMuted(muted) {
    if (!this.mic) return;
    // A muted track still sends silence, so the call stays up.
    for (const track of this.mic.getAudioTracks()) track.enabled = !muted;
  }

  hangUp() {
    this.send({ type: "session.end" });
    this._end("hangup");
  }

  _release() {
    this.closed = true;
    clearTimeout(this._timer);
    if (this.mic) for (const track of this.mic.getTracks()) track.stop();
    if (this.pc) this.pc.close();
    this.pc = null;
    this.channel = null;
  }
}

export class TextChat extends EventTarget {
  constructor({ server, agent, key, websocketPath }) {
    super();
    const url = new URL(websocketPath || "/v1/ws", server);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.url = url.toString();
    this.agent = agent;
    this.key = key;
    this.ws = null;
    this.started = false;
    this.queue = [];
  }

  start() {
    if (this.ws) return;
    const ws = (this.ws = new WebSocket(this.url));
    ws.binaryType = "arraybuffer"; // agent audio: not played in text chat
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "session.start", agent: this.agent, protocol: 1, api_key: this.key }));
    };
    ws.onmessage = (m) => {
      if (typeof m.data !== "string") return;
      let event;
      try {
        event = JSON.parse(m.data);
      } catch (err) {
        return;
      }
      if (event.type === "session.started") {
        this.started = true;
        clearTimeout(this._timer);
        emit(this, "status", { status: "started" });
        for (const text of this.queue.splice(0)) this.sendText(text);
      }
      emit(this, "event", event);
    };
    ws.onclose = () => {
      this.ws = null;
      this.started = false;
      emit(this, "status", { status: "ended", reason: "closed" });
    };
    this._timer = setTimeout(() => {
      if (!this.started) emit(this, "status", { status: "failed", reason: "The chat service cannot be reached." });
    }, START_TIMEOUT_MS);
  }

  sendText(text) {
    if (!this.started) {
      this.queue.push(text);
      this.start();
      return true;
    }
    this.ws.send(JSON.stringify({ type: "input.text", text }));
    return true;
  }

  close() {
    clearTimeout(this._timer);
    if (this.ws) this.ws.close();
    this.ws = null;
  }
}
