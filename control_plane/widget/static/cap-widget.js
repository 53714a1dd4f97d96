/* CAP voice widget. Embed with one tag (no build step, no CDN):
 *
 *   <script src="https://cap.example.com/widget/cap-widget.js"
 *           data-agent="default" data-key="pk_..." data-title="Ask us"
 *           data-color="#4f46e5" data-position="bottom-right"></script>
 *
 * Options (data- attributes or CapWidget.mount({...})): agent, key, server,
 * title, greeting, avatar, position (bottom-right|bottom-left|top-right|
 * top-left), color, textColor, background, open ("true" to start open).
 * Add data-manual to load without mounting (the React wrapper does).
 */
(function () {
  "use strict";
  if (window.CapWidget && window.CapWidget.mount) return;

  var script = document.currentScript;
  var scriptUrl = script && script.src ? new URL(script.src, location.href) : new URL("/widget/cap-widget.js", location.href);
  var BASE = new URL(".", scriptUrl).toString();
  var POSITIONS = ["bottom-right", "bottom-left", "top-right", "top-left"];
  var MAX_LOG = 200; // transcript entries kept in the panel
  var MAX_EVENTS = 500; // events kept for debugging (instance.events)
  var STATUS = {
    idle: "Press Talk, or type a message",
    connecting: "Connecting…",
    listening: "Listening…",
    user_speaking: "Hearing you…",
    thinking: "Thinking…",
    agent_speaking: "Speaking…",
    muted: "Microphone off",
    text: "Text chat",
  };
  var ENDED = {
    peer_closed: "The call ended.",
    ice_failed: "The connection was lost.",
    media_timeout: "The connection was lost.",
    connect_timeout: "The call could not connect.",
    max_duration: "The call reached its time limit.",
    server_shutdown: "The service is restarting, please try again.",
    session_failed: "The assistant is unavailable right now.",
  };
  var MIC_ICON =
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11z"/></svg>';

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }

  function safeImage(url) {
    try {
      var u = new URL(url, location.href);
      return u.protocol === "https:" || u.protocol === "http:" || /^data:image\//.test(url) ? u.toString() : "";
    } catch (e) {
      return "";
    }
  }

  function Widget(options) {
    var o = Object.assign({}, options || {});
    this.opts = {
      agent: o.agent || "default",
      key: o.key || "",
      server: (o.server || scriptUrl.origin).replace(/\/+$/, ""),
      title: o.title || "",
      greeting: o.greeting || "",
      avatar: o.avatar ? safeImage(o.avatar) : "",
      position: POSITIONS.indexOf(o.position) >= 0 ? o.position : "bottom-right",
      color: o.color || "#4f46e5",
      textColor: o.textColor || "#ffffff",
      background: o.background || "#ffffff",
      open: o.open === true || o.open === "true",
    };
    this.events = [];
    this.call = null;
    this.chat = null;
    this.state = "idle";
    this.muted = false;
    this.textOnly = false;
    this.agentBubbles = {};
    this.partial = null;
    this.listeners = {};
    this.modules = import(BASE + "cap-session.js");
    this.config = fetch(this.opts.server + "/v1/widget/config?agent=" + encodeURIComponent(this.opts.agent) + "&key=" + encodeURIComponent(this.opts.key))
      .then(function (r) { return r.ok ? r.json() : { error: r.status }; })
      .catch(function () { return { error: 0 }; });
  }

  Widget.prototype.on = function (type, fn) {
    (this.listeners[type] = this.listeners[type] || []).push(fn);
    return this;
  };

  Widget.prototype._fire = function (type, detail) {
    var fns = (this.listeners[type] || []).concat(this.listeners["*"] || []);
    for (var i = 0; i < fns.length; i++) {
      try { fns[i](detail, type); } catch (e) { console.error(e); }
    }
  };

  Widget.prototype.mount = function (container) {
    var self = this;
    var host = (this.host = el("div"));
    host.setAttribute("data-cap-widget", this.opts.agent);
    var root = host.attachShadow({ mode: "open" });
    var style = el("link");
    style.rel = "stylesheet";
    style.href = BASE + "cap-widget.css";
    root.appendChild(style);
    var wrap = (this.root = el("div", "cap pos-" + this.opts.position));
    wrap.style.setProperty("--cap-color", this.opts.color);
    wrap.style.setProperty("--cap-text", this.opts.textColor);
    wrap.style.setProperty("--cap-bg", this.opts.background);
    root.appendChild(wrap);

    var launcher = (this.launcher = el("button", "cap-launcher"));
    launcher.type = "button";
    launcher.setAttribute("aria-label", "Open voice assistant");
    launcher.innerHTML = MIC_ICON; // constant markup, no user data
    launcher.onclick = function () { self.toggle(); };

    var panel = (this.panel = el("section", "cap-panel"));
    panel.setAttribute("role", "dialog");
    panel.hidden = true;
    var header = el("header", "cap-header");
    if (this.opts.avatar) {
      var img = el("img", "cap-avatar");
      img.src = this.opts.avatar;
      img.alt = "";
      header.appendChild(img);
    }
    var heading = el("div", "cap-heading");
    this.titleEl = el("div", "cap-title", this.opts.title || "Assistant");
    this.statusEl = el("div", "cap-status", STATUS.idle);
    heading.appendChild(this.titleEl);
    heading.appendChild(this.statusEl);
    header.appendChild(heading);
    var close = el("button", "cap-close", "×");
    close.type = "button";
    close.setAttribute("aria-label", "Close");
    close.onclick = function () { self.close(); };
    header.appendChild(close);
    panel.appendChild(header);
    this.panel.setAttribute("aria-label", this.titleEl.textContent);

    this.notice = el("div", "cap-notice");
    this.notice.setAttribute("role", "status");
    this.notice.hidden = true;
    panel.appendChild(this.notice);
    this.log = el("ol", "cap-log");
    this.log.setAttribute("aria-live", "polite");
    panel.appendChild(this.log);

    var controls = el("div", "cap-controls");
    this.talkBtn = el("button", "cap-talk", "Talk");
    this.talkBtn.type = "button";
    this.talkBtn.onclick = function () { self.call ? self.hangUp() : self.startVoice(); };
    this.micBtn = el("button", "cap-mic", "Mute");
    this.micBtn.type = "button";
    this.micBtn.hidden = true;
    this.micBtn.setAttribute("aria-pressed", "false");
    this.micBtn.onclick = function () { self.setMuted(!self.muted); };
    controls.appendChild(this.talkBtn);
    controls.appendChild(this.micBtn);
    panel.appendChild(controls);

    var form = el("form", "cap-compose");
    this.input = el("input", "cap-input");
    this.input.type = "text";
    this.input.maxLength = 4000;
    this.input.placeholder = "Type a message…";
    this.input.setAttribute("aria-label", "Message");
    var send = el("button", "cap-send", "Send");
    send.type = "submit";
    form.appendChild(this.input);
    form.appendChild(send);
    form.onsubmit = function (e) {
      e.preventDefault();
      var text = self.input.value.trim();
      if (text) self.sendText(text);
      self.input.value = "";
    };
    panel.appendChild(form);

    wrap.appendChild(panel);
    wrap.appendChild(launcher);
    this.audio = el("audio");
    this.audio.autoplay = true;
    root.appendChild(this.audio);
    (container || document.body).appendChild(host);

    if (this.opts.greeting) this._line("agent", this.opts.greeting);
    this.config.then(function (cfg) {
      if (cfg.error === 403) self._notice("This widget's key does not allow this agent.");
      if (cfg.error) return;
      if (!self.opts.title && cfg.title) self.titleEl.textContent = cfg.title;
    });
    if (this.opts.open) this.open();
    return this;
  };

  Widget.prototype.open = function () {
    this.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    this.input.focus();
  };
  Widget.prototype.close = function () {
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
  };
  Widget.prototype.toggle = function () { this.panel.hidden ? this.open() : this.close(); };

  Widget.prototype._setStatus = function (key, text) {
    this.state = key;
    this.statusEl.textContent = text || STATUS[key] || key;
    this.root.setAttribute("data-state", key);
  };

  Widget.prototype._notice = function (text) {
    this.notice.textContent = text;
    this.notice.hidden = !text;
  };

  Widget.prototype._line = function (who, text, cls) {
    var item = el("li", "cap-line cap-" + who + (cls ? " " + cls : ""), text);
    this.log.appendChild(item);
    while (this.log.children.length > MAX_LOG) this.log.removeChild(this.log.firstChild);
    this.log.scrollTop = this.log.scrollHeight;
    return item;
  };

  Widget.prototype.startVoice = function () {
    var self = this;
    if (this.call) return Promise.resolve();
    this._notice("");
    this._setStatus("connecting");
    this.talkBtn.textContent = "End";
    return Promise.all([this.modules, this.config]).then(function (loaded) {
      var mod = loaded[0];
      var cfg = loaded[1];
      var call = (self.call = new mod.VoiceCall({
        server: self.opts.server, agent: self.opts.agent, key: self.opts.key,
        iceServers: cfg.ice_servers || [],
      }));
      call.addEventListener("event", function (e) { self._onEvent(e.detail); });
      call.addEventListener("status", function (e) { self._onCallStatus(call, e.detail); });
      return call.start().catch(function (err) { self._voiceFailed(call, err.kind || "webrtc", err.message); });
    });
  };

  Widget.prototype._onCallStatus = function (call, s) {
    if (call !== this.call) return;
    if (s.status === "audio") {
      this.remoteStream = s.stream;
      this.audio.srcObject = s.stream;
      var p = this.audio.play();
      if (p && p.catch) p.catch(function () {});
      this._meter(s.stream);
    } else if (s.status === "started") {
      this.micBtn.hidden = false;
      this._setStatus("listening");
      if (this.chat) { this.chat.close(); this.chat = null; }
    } else if (s.status === "failed") {
      this._voiceFailed(call, s.kind, s.reason);
    } else if (s.status === "ended") {
      this._callEnded(s.reason === "hangup" ? "" : ENDED[s.reason] || "The call ended.");
    }
    this._fire("status", s);
  };

  // The agent's loudness drives the speaking ring (CSS --cap-level).
  Widget.prototype._meter = function (stream) {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    var self = this;
    try {
      var ctx = this.audioCtx || (this.audioCtx = new Ctx());
      if (ctx.state === "suspended" && ctx.resume) ctx.resume();
      var analyser = ctx.createAnalyser();
      analyser.fftSize = 512;
      ctx.createMediaStreamSource(stream).connect(analyser);
      this.analyser = analyser;
      var buf = new Float32Array(analyser.fftSize);
      var tick = function () {
        if (self.analyser !== analyser) return;
        analyser.getFloatTimeDomainData(buf);
        var sum = 0;
        for (var i = 0; i < buf.length; i++) sum += buf[i] * buf[i];
        self.level = Math.sqrt(sum / buf.length);
        self.root.style.setProperty("--cap-level", Math.min(1, self.level * 4).toFixed(2));
        requestAnimationFrame(tick);
      };
      tick();
    } catch (e) {
      /* metering is cosmetic */
    }
  };

  Widget.prototype._voiceFailed = function (call, kind, message) {
    if (call !== this.call) return;
    this._callEnded("");
    this.textOnly = true;
    this.root.setAttribute("data-fallback", kind);
    this._notice(message + " You can still type to chat.");
    this._setStatus("text");
    this.talkBtn.disabled = kind === "denied" || kind === "nomic" || kind === "insecure" || kind === "webrtc";
    this.input.focus();
    this._fire("fallback", { kind: kind, message: message });
  };

  Widget.prototype._callEnded = function (message) {
    this.call = null;
    this.micBtn.hidden = true;
    this.talkBtn.textContent = "Talk";
    this.audio.srcObject = null;
    this.remoteStream = null;
    this.analyser = null;
    this.level = 0;
    if (this.root) this.root.style.setProperty("--cap-level", "0");
    if (message) this._notice(message);
    this._setStatus(this.textOnly ? "text" : "idle");
  };

  Widget.prototype.hangUp = function () {
    if (this.call) this.call.hangUp();
  };

  Widget.prototype.setMuted = function (muted) {
    this.muted = muted;
    if (this.call) this.call.setMuted(muted);
    this.micBtn.textContent = muted ? "Unmute" : "Mute";
    this.micBtn.setAttribute("aria-pressed", String(muted));
    if (this.call) this._setStatus(muted ? "muted" : "listening");
  };

  Widget.prototype.sendText = function (text) {
    var self = this;
    if (this.call && this.call.sendText(text)) return;
    // No live call: the same agent over the WebSocket protocol, text only.
    this.modules.then(function (mod) {
      if (!self.chat) {
        self.chat = new mod.TextChat({ server: self.opts.server, agent: self.opts.agent, key: self.opts.key });
        self.chat.addEventListener("event", function (e) { self._onEvent(e.detail); });
        self.chat.addEventListener("status", function (e) {
          if (e.detail.status === "failed") self._notice(e.detail.reason);
          if (e.detail.status === "ended") self.chat = null;
        });
      }
      self.chat.sendText(text);
    });
  };

  Widget.prototype._onEvent = function (ev) {
    this.events.push(ev);
    if (this.events.length > MAX_EVENTS) this.events.shift();
    var t = ev.type;
    if (t === "state" && this.call && !(this.muted && ev.state === "listening")) {
      this._setStatus(ev.state);
    } else if (t === "transcript.partial") {
      if (!this.partial) this.partial = this._line("user", "", "cap-partial");
      this.partial.textContent = ev.text;
    } else if (t === "transcript.final") {
      if (this.partial) { this.partial.remove(); this.partial = null; }
      this._line("user", ev.text);
    } else if (t === "agent.text.delta") {
      var b = this.agentBubbles[ev.turn_id] || (this.agentBubbles[ev.turn_id] = this._line("agent", ""));
      b.textContent += ev.text;
    } else if (t === "agent.text.done") {
      (this.agentBubbles[ev.turn_id] || (this.agentBubbles[ev.turn_id] = this._line("agent", ""))).textContent = ev.text;
    } else if (t === "agent.interrupted") {
      var bubble = this.agentBubbles[ev.turn_id];
      if (bubble) {
        // Keep what the user heard; show the unheard rest struck through.
        var full = bubble.textContent;
        var rest = full.indexOf(ev.heard_text) === 0 ? full.slice(ev.heard_text.length) : "";
        bubble.textContent = ev.heard_text;
        if (rest) bubble.appendChild(el("span", "cap-unheard", rest));
        bubble.classList.add("cap-interrupted");
      }
    } else if (t === "error" && ev.fatal) {
      this._notice(ev.message);
    }
    if (t.indexOf("agent.text") === 0 || t.indexOf("transcript") === 0) {
      this.log.scrollTop = this.log.scrollHeight;
    }
    this._fire("event", ev);
    this._fire(t, ev);
  };

  Widget.prototype.destroy = function () {
    if (this.call) this.call.hangUp();
    if (this.chat) this.chat.close();
    if (this.audioCtx) this.audioCtx.close();
    if (this.host && this.host.parentNode) this.host.parentNode.removeChild(this.host);
    var list = window.CapWidget.instances;
    var i = list.indexOf(this);
    if (i >= 0) list.splice(i, 1);
  };

  function mount(options, container) {
    var widget = new Widget(options);
    window.CapWidget.instances.push(widget);
    return widget.mount(container);
  }

  window.CapWidget = { mount: mount, instances: [], version: "1" };

  if (script && !script.hasAttribute("data-manual")) {
    var d = script.dataset;
    var auto = function () {
      mount({
        agent: d.agent, key: d.key, server: d.server, title: d.title, greeting: d.greeting,
        avatar: d.avatar, position: d.position, color: d.color, textColor: d.textColor,
        background: d.background, open: d.open,
      });
    };
    if (document.body) auto();
    else document.addEventListener("DOMContentLoaded", auto);
  }
})();
