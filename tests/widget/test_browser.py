"""The widget in headless Chromium: a fake microphone speaks (espeak-ng WAV), the
server really transcribes it (offline Whisper), the agent answers with audio the
page can measure, the user barges in, and the no-microphone paths fall back to
text chat. Screenshots of each state go to test-artifacts/widget/."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
import wave
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from control_plane.voice.runtime import VoiceRuntime
from pipelines.providers.base import ChatMessage, ToolCall
from tests.support.speech import silence, speak
from tests.webrtc.stack import STORY, LiveServer, agent, live_app, registry, serve

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "widget"
BASE_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
WIDGET = "[data-cap-widget] >> "
LOUD = 0.03  # RMS (full scale 1.0) of the fake TTS tone is ~0.12; silence is 0
QUIET = 0.005

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]


def always_story(_messages: Any) -> str:
    return STORY


def echo(messages: Sequence[ChatMessage]) -> str | ToolCall:
    return f"You said {messages[-1].content}"


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake microphone loops this file: a pause, one sentence, a longer pause."""
    path = tmp_path_factory.mktemp("mic") / "mic.wav"
    pcm = silence(2.0, 48_000) + speak("Please tell me a story.", 48_000) + silence(6.0, 48_000)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(pcm)
    return path


@pytest.fixture(scope="module")
def voice_server() -> Iterator[LiveServer]:
    # Real offline Whisper hears the browser; the reply is a long story (fake
    # LLM, tone TTS) so that the next loop of the fake mic talks over it.
    spec = agent(stt="whisper")
    providers = registry(responder=always_story)
    # Load the model before the browser calls, so the call starts at once (on a
    # thread of its own: Playwright's sync API owns this thread's event loop).
    stt: Any = providers.stt(spec.stt)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, stt.warm_up()).result()
    runtime = VoiceRuntime(providers, {"default": spec})
    with serve(live_app(runtime)) as server:
        yield server


@pytest.fixture(scope="module")
def text_server() -> Iterator[LiveServer]:
    runtime = VoiceRuntime(registry(responder=echo), {"default": agent(name="Echo desk")})
    with serve(live_app(runtime)) as server:
        yield server


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        yield p


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def events(page: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("window.CapWidget.instances[0].events")
    return result


def wait_event(page: Any, kind: str, timeout_s: float) -> dict[str, Any]:
    page.wait_for_function(
        f"window.CapWidget.instances[0].events.some(e => e.type === {kind!r})",
        timeout=timeout_s * 1000,
    )
    return next(e for e in events(page) if e["type"] == kind)


# Samples the agent's voice as the page receives it: an AnalyserNode on the
# widget's remote stream, RMS every 25 ms, stamped with the page clock.
METER = """() => {
  const w = window.CapWidget.instances[0];
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  ctx.createMediaStreamSource(w.remoteStream).connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  window.__levels = [];
  setInterval(() => {
    analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const x of buf) sum += x * x;
    window.__levels.push([performance.now(), Math.sqrt(sum / buf.length)]);
  }, 25);
  w.on("agent.interrupted", () => { window.__cut = window.__cut || performance.now(); });
  window.__timeline = [];
  w.on("event", (e) => window.__timeline.push([performance.now() | 0, e.type, e.state || ""]));
}"""


def levels_between(page: Any, start: float, end: float) -> list[float]:
    rows: list[list[float]] = page.evaluate("window.__levels")
    return [level for at, level in rows if start <= at <= end]


def test_voice_call_transcribes_answers_and_yields_to_barge_in(
    playwright: Any, voice_server: LiveServer, mic_wav: Path
) -> None:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            *BASE_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={mic_wav}",
        ],
    )
    try:
        page = browser.new_page()
        page.goto(voice_server.url + "/widget/demo")
        page.wait_for_function("window.CapWidget && window.CapWidget.instances.length === 1")
        shot(page, "1-closed")
        page.locator(WIDGET + ".cap-launcher").click()
        shot(page, "2-open")
        started = time.monotonic()
        page.locator(WIDGET + ".cap-talk").click()
        wait_event(page, "session.started", 20)
        connect_s = time.monotonic() - started
        print(f"\nbrowser click-to-session.started: {connect_s * 1000:.0f} ms")
        page.evaluate(METER)
        shot(page, "3-listening")

        final = wait_event(page, "transcript.final", 30)
        assert "story" in final["text"].lower(), final
        page.wait_for_function(
            "window.CapWidget.instances[0].state === 'agent_speaking'", timeout=15_000
        )
        page.wait_for_timeout(1000)
        now = page.evaluate("performance.now()")
        speaking = levels_between(page, now - 800, now)
        assert speaking and max(speaking) > LOUD, speaking
        log = page.locator(WIDGET + ".cap-log").inner_text()
        assert "story" in log.lower() and "Part 0" in log
        shot(page, "4-agent-speaking")

        # The fake mic loops: its sentence comes round again over the story.
        cut = wait_event(page, "agent.interrupted", 30)
        assert cut["heard_text"] and STORY.startswith(cut["heard_text"])
        page.wait_for_timeout(1800)
        at = page.evaluate("window.__cut")
        # In flight when the cut came: what the browser's jitter buffer holds
        # (it grows on a loaded machine). Then silence while the user talks on.
        rows: list[list[float]] = page.evaluate("window.__levels")
        quiet_at = next((t for t, level in rows if t >= at and level < QUIET), None)
        assert quiet_at is not None
        print(f"agent.interrupted to silence in the page: {quiet_at - at:.0f} ms")
        # The user's sentence runs ~1.8 s past the cut, then VAD and Whisper:
        # no new reply can start before ~2.5 s.
        after = levels_between(page, at + 800, at + 1600)
        timeline = [e for e in page.evaluate("window.__timeline") if e[1] != "agent.text.delta"]
        assert after and max(after) < QUIET, (at, after, timeline)
        bubble = page.locator(WIDGET + ".cap-interrupted")
        assert bubble.count() >= 1 and bubble.first.locator(".cap-unheard").count() == 1
        shot(page, "5-after-barge-in")

        page.locator(WIDGET + ".cap-talk").click()  # End
        page.wait_for_function("window.CapWidget.instances[0].call === null")
        shot(page, "6-ended")
    finally:
        browser.close()


def test_denied_microphone_and_blocked_webrtc_fall_back_to_text_chat(
    playwright: Any, text_server: LiveServer
) -> None:
    # No --use-fake-ui-for-media-stream: the permission prompt is refused.
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*BASE_ARGS, "--use-fake-device-for-media-stream"]
    )
    try:
        page = browser.new_page()
        page.goto(text_server.url + "/widget/demo")
        page.locator(WIDGET + ".cap-launcher").click()
        page.locator(WIDGET + ".cap-talk").click()
        notice = page.locator(WIDGET + ".cap-notice")
        notice.wait_for(state="visible")
        assert "denied" in notice.inner_text() and "type" in notice.inner_text()
        assert page.locator(WIDGET + ".cap-talk").is_disabled()
        page.locator(WIDGET + ".cap-input").fill("what time do you open")
        page.locator(WIDGET + ".cap-input").press("Enter")
        page.locator(WIDGET + ".cap-agent", has_text="You said what time do you open").wait_for()
        assert page.locator(WIDGET + ".cap-user", has_text="what time do you open").count() == 1
        shot(page, "7-mic-denied-text-chat")

        # WebRTC missing altogether (blocked by policy or an extension).
        blocked = browser.new_page()
        blocked.add_init_script("delete window.RTCPeerConnection;")
        blocked.goto(text_server.url + "/widget/demo")
        blocked.locator(WIDGET + ".cap-launcher").click()
        blocked.locator(WIDGET + ".cap-talk").click()
        blocked.locator(WIDGET + ".cap-notice", has_text="WebRTC").wait_for()
        assert blocked.evaluate("window.CapWidget.instances[0].root.dataset.fallback") == "webrtc"
        shot(blocked, "8-webrtc-blocked")
    finally:
        browser.close()


@contextlib.contextmanager
def host_site(html: str) -> Iterator[str]:
    """Another origin (its own port) serving a page that embeds the widget."""
    body = html.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_embed_on_another_site_uses_agent_branding_and_chats(
    playwright: Any, text_server: LiveServer
) -> None:
    """A third-party page on another origin embeds the widget with one tag."""
    key = text_server.app.state.widget_keys.key_for("default")
    html = (
        "<!doctype html><title>Shop</title><h1>Shop</h1>"
        f'<script src="{text_server.url}/widget/cap-widget.js" data-agent="default" '
        f'data-key="{key}" data-color="#0f766e" data-position="bottom-left" '
        'data-open="true"></script>'
    )
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BASE_ARGS)
    try:
        with host_site(html) as shop:
            page = browser.new_page()
            # As on a plain-http site: no microphone API at all.
            page.add_init_script(
                "Object.defineProperty(window, 'isSecureContext', {value: false});"
            )
            page.goto(shop)
            page.wait_for_function(
                "window.CapWidget && window.CapWidget.instances.length === 1"
                " && window.CapWidget.instances[0].titleEl.textContent === 'Echo desk'"
            )
            root_class = page.evaluate("window.CapWidget.instances[0].root.className")
            assert "pos-bottom-left" in root_class
            page.locator(WIDGET + ".cap-input").fill("hello from the shop")
            page.locator(WIDGET + ".cap-send").click()
            page.locator(WIDGET + ".cap-agent", has_text="You said hello from the shop").wait_for()
            page.locator(WIDGET + ".cap-talk").click()
            page.locator(WIDGET + ".cap-notice", has_text="secure").wait_for()
            shot(page, "9-third-party-embed")
    finally:
        browser.close()


def test_chromium_is_debians(playwright: Any) -> None:
    assert shutil.which("chromium") == CHROMIUM
