// A call between the web client in headless Chromium and a native
// `concord-bot`, through the server's SFU on 127.0.0.1. Chromium's fake
// devices stand in for a camera and a microphone (and a screen); the bot
// sends its stamped test pattern and a tone. Each side must receive and
// decode the other's media: the page reports frames decoded per second
// (from getStats, through the test-hooks state in document.title), the bot
// reports what it decoded of the browser's H.264 and Opus in its JSON.
//
// Needs: CONCORD_SERVER_BIN, CONCORD_WEB_ROOT (built with --features
// test-hooks), CONCORD_BOT_BIN (the concord-bot binary). Run by .ci/test.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { runBot as runNativeBot } from "./bot.mjs";
import { freePort, spawnConcord, waitForServer } from "./concord_server.mjs";
import { adaAndBotInRoom, apiAt, launchChromium, logInAndOpenRoom, press, waitFor, waitForState } from "./page.mjs";

const SERVER_BIN = process.env.CONCORD_SERVER_BIN;
const WEB_ROOT = process.env.CONCORD_WEB_ROOT;
const BOT_BIN = process.env.CONCORD_BOT_BIN;
const PASSWORD = "correct horse";

let server, port, base, dir, browser;

// The server on `port` with its data in `dir` (again, after a restart:
// same database, same signing secret, so logins stay valid).
async function startServer() {
  server = spawnConcord({ bin: SERVER_BIN, webRoot: WEB_ROOT, dir, port });
  await waitForServer(base);
}

const api = apiAt(() => base);

// Runs the bot in `room` for `seconds` (see bot.mjs).
const runBot = (room, email, seconds, extra = [], untilLeave = false) =>
  runNativeBot({ bin: BOT_BIN, base, room, email, password: PASSWORD, seconds, extra, untilLeave });

before(async () => {
  assert.ok(SERVER_BIN && WEB_ROOT && BOT_BIN, "set CONCORD_SERVER_BIN, CONCORD_WEB_ROOT and CONCORD_BOT_BIN");
  dir = mkdtempSync(join(tmpdir(), "concord-web-call-"));
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await startServer();
  browser = await launchChromium(chromium, [
    // A synthetic camera and microphone, and no permission prompts; the
    // screen picker takes the whole (virtual) screen by itself.
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--auto-select-desktop-capture-source=Entire screen",
    // The test's server is on 127.0.0.1, which Chromium leaves out of ICE otherwise.
    "--allow-loopback-in-peer-connection",
  ]);
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a browser and a native bot call through the SFU: each decodes the other's video and audio", async () => {
  const { ada, bot, room } = await adaAndBotInRoom(api, PASSWORD, "Standup");

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const consoleLines = [];
  page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => consoleLines.push(`pageerror: ${error.message}`));
  // The browser sends H.264, as the SFU asks (Debian's Chromium has it).
  await page.goto(base + "/");
  const codecs = await page.evaluate(() => RTCRtpSender.getCapabilities("video").codecs.map((c) => c.mimeType));
  assert.ok(codecs.includes("video/H264"), `this Chromium sends no H.264: ${codecs}`);
  await logInAndOpenRoom(page, "ada@example.com", PASSWORD, "Standup");

  // Ctrl+Shift+J joins with camera and microphone; alone, the page is connected once its media is up.
  await press(page, "Control+Shift+J");
  await waitForState(page, "connected, camera and microphone on", (s) => s.call === "Standup"
    && s.call_phase === "Connected" && s.call_media?.camera === true && s.call_media?.muted === false);
  // The Settings meter's reading: Chromium's fake microphone beeps, and it is sent.
  await waitForState(page, "my microphone's level, sent", (s) =>
    s.call_input?.sending === true && s.call_input.level_db > -60);

  // Screen share beside the camera (Ctrl+Shift+S): a second video track,
  // published before the bot comes so that all three of the page's tracks
  // are there for the whole of the bot's stay (the SFU's renegotiation of
  // a track added mid-call is the native tests' business).
  await press(page, "Control+Shift+S");
  await waitForState(page, "sharing the screen beside the camera", (s) =>
    s.call_media?.screen === true && s.call_media?.camera === true);
  await waitFor("ada sharing in the roster", async () => {
    const rooms = await api("GET", "/api/rooms", bot.token);
    const me = rooms.rooms[0].in_call.find((p) => p.user_id === ada.user.id);
    return me?.camera && me.screen ? me : null;
  });

  // The bot joins for a while: the page receives its camera and tone.
  const { done } = runBot(room.id, "bot@example.com", 14);
  const receiving = await waitForState(page, "the bot's camera and microphone decoded", (s) =>
    (s.call_rates?.["bot:Camera"] ?? 0) >= 5 && (s.call_rates?.["bot:Microphone"] ?? 0) >= 20
    && s.call_videos.includes("bot:Camera"));
  // The bot's picture is drawn in its tile (frames shown, counted by requestVideoFrameCallback).
  await waitForState(page, "the bot's frames shown", (s) => (s.call_frames?.["bot:Camera"] ?? 0) >= 10);
  const shot = join(dir, "call.png");
  await page.screenshot({ path: shot });
  if (process.env.CONCORD_WEB_SHOT_DIR) {
    await page.screenshot({ path: join(process.env.CONCORD_WEB_SHOT_DIR, "web-call.png") });
  }
  // Mute (Ctrl+Shift+M): the server's roster says so.
  await press(page, "Control+Shift+M");
  await waitFor("ada muted in the roster", async () => {
    const rooms = await api("GET", "/api/rooms", bot.token);
    const me = rooms.rooms[0].in_call.find((p) => p.user_id === ada.user.id);
    return me?.muted && me.camera && me.screen ? me : null;
  });
  await waitForState(page, "the meter says muted is not sent", (s) => s.call_input?.sending === false);
  const { code, report } = await done;
  assert.equal(code, 0, JSON.stringify(report));
  const fromAda = report.received.find((r) => r.user_id === ada.user.id);
  assert.ok(fromAda, `the bot received nothing from the browser: ${JSON.stringify(report)}`);
  const track = (kind) => fromAda.tracks.find((t) => t.kind === kind);
  assert.ok(track("camera")?.frames >= 20, `browser camera frames decoded by the bot: ${JSON.stringify(fromAda)}`);
  assert.ok(track("microphone")?.packets >= 100, `browser audio packets: ${JSON.stringify(fromAda)}`);
  assert.ok(track("screen")?.frames >= 1, `browser screen frames decoded by the bot: ${JSON.stringify(fromAda)}`);
  assert.deepEqual(report.errors, [], JSON.stringify(report.errors));

  // The bot left: its tiles go, and the page is alone in the call again.
  await waitForState(page, "the bot's tiles gone", (s) => s.call === "Standup" && !s.call_videos.includes("bot:Camera"));
  console.log(JSON.stringify({
    bench: "browser_call",
    page_receiving: receiving.call_rates,
    bot_received_from_browser: fromAda.tracks.map((t) => ({ kind: t.kind, frames: t.frames, packets: t.packets, lost: t.packets_lost, width: t.width, height: t.height })),
  }));
  // Alone and silent, the server sends this page nothing for longer than
  // the client's 5 s keep-alive; the next request still goes through (in
  // the browser the keep-alive is a heartbeat frame, not a close: see
  // gui/client/src/socket.rs). The quiet spell is the scenario, not a wait.
  await page.waitForTimeout(12_000);
  await press(page, "Control+Shift+M");
  await waitFor("ada unmuted in the roster after a quiet spell", async () => {
    const rooms = await api("GET", "/api/rooms", bot.token);
    const me = rooms.rooms[0].in_call.find((p) => p.user_id === ada.user.id);
    return me && !me.muted ? me : null;
  });
  await context.close();
  assert.ok(!consoleLines.some((l) => l.includes("panicked")), consoleLines.join("\n"));
});

test("the browser publishes its camera in simulcast layers: a bot that draws it small receives a small layer, and only that one is encoded", async () => {
  const ada = await api("POST", "/api/auth/login", null, { email: "ada@example.com", password: PASSWORD });
  const rooms = await api("GET", "/api/rooms", ada.token);
  const room = rooms.rooms.find((r) => r.label === "Standup");
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // The page's peer connections, kept where the test can read their stats.
  await page.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    window.__concordPcs = [];
    window.RTCPeerConnection = function (...args) {
      const pc = new Original(...args);
      window.__concordPcs.push(pc);
      return pc;
    };
    window.RTCPeerConnection.prototype = Original.prototype;
    Object.assign(window.RTCPeerConnection, Original);
  });
  // The camera's encodings as the browser reports them: rid → active.
  const encodings = () => page.evaluate(async () => {
    const found = {};
    for (const pc of window.__concordPcs) {
      for (const report of (await pc.getStats()).values()) {
        if (report.type === "outbound-rtp" && report.kind === "video" && report.rid) {
          found[report.rid] = report.active;
        }
      }
    }
    return found;
  });
  await page.goto(base + "/");
  await logInAndOpenRoom(page, "ada@example.com", PASSWORD, "Standup");
  // The page asks the camera for 1280×720 and sends it as q, h and f: a quarter, half and all of it.
  await press(page, "Control+Shift+J");
  await waitForState(page, "connected with the camera on", (s) => s.call === "Standup"
    && s.call_phase === "Connected" && s.call_media?.camera === true);
  // The bot draws Ada's camera 160×90: the SFU sends it the smallest layer,
  // and tells the page that nobody receives the other two: they stop.
  // The bot stays until the test has seen that and the small layer has been
  // sent for a while (not for a fixed time: a slow start would eat into it;
  // --until-received waits for the server to report each one speaking,
  // which Chromium's fake beeps are not; 60 s is only its deadline).
  const small = ["--tile", `${ada.user.id}=160x90`];
  const { done, leave } = runBot(room.id, "bot@example.com", 60, small, true);
  let seen = null;
  const onlySmall = await waitFor("only the smallest encoding active", async () => {
    seen = await encodings();
    return seen.q === true && seen.h === false && seen.f === false ? seen : null;
  }, { patienceMs: 40_000 }).catch((error) => {
    throw new Error(`${error.message}; encodings seen last: ${JSON.stringify(seen)}`);
  });
  // 45 more frames of the small layer sent (3 s at 15 fps): the bot decodes its 30.
  const smallFramesSent = () => page.evaluate(async () => {
    let sent = 0;
    for (const pc of window.__concordPcs) {
      for (const report of (await pc.getStats()).values()) {
        if (report.type === "outbound-rtp" && report.kind === "video" && report.rid === "q") {
          sent = Math.max(sent, report.framesSent ?? 0);
        }
      }
    }
    return sent;
  });
  const sentBefore = await smallFramesSent();
  await waitFor("45 more frames of the small layer sent", async () =>
    (await smallFramesSent()) >= sentBefore + 45 || null, { patienceMs: 40_000 });
  leave();
  const { code, report } = await done;
  assert.equal(code, 0, JSON.stringify(report));
  const fromAda = report.received.find((r) => r.user_id === ada.user.id);
  const camera = fromAda?.tracks.find((t) => t.kind === "camera");
  assert.ok(camera?.frames >= 30, `the bot decoded the browser's camera: ${JSON.stringify(fromAda)}`);
  // A layer, not the capture: at most a quarter of 1280×720 each way (Chromium
  // may scale all three down further when the machine is busy).
  assert.ok(camera.width <= 320 && camera.height <= 180, `the smallest layer: ${JSON.stringify(camera)}`);
  assert.deepEqual(report.errors, [], JSON.stringify(report.errors));
  console.log(JSON.stringify({ bench: "browser_simulcast", encodings_while_watched_small: onlySmall, bot_received_small: camera }));
  await context.close();
});

test("after the server restarts mid-call, the browser rejoins by itself, the bot's video comes back and mute survives", async () => {
  const login = (email) => api("POST", "/api/auth/login", null, { email, password: PASSWORD });
  const [ada, bot] = [await login("ada@example.com"), await login("bot@example.com")];
  const rooms = await api("GET", "/api/rooms", ada.token);
  const room = rooms.rooms.find((r) => r.label === "Standup");
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(base + "/");
  await logInAndOpenRoom(page, "ada@example.com", PASSWORD, "Standup");
  await press(page, "Control+Shift+J");
  await waitForState(page, "connected", (s) => s.call === "Standup" && s.call_phase === "Connected");
  const { done } = runBot(room.id, "bot@example.com", 45);
  await waitForState(page, "the bot's camera decoded", (s) => (s.call_rates?.["bot:Camera"] ?? 0) >= 5);
  await press(page, "Control+Shift+M");
  await waitForState(page, "muted", (s) => s.call_media?.muted === true);

  // The server dies (SIGKILL: no goodbye to anyone) and comes back on the same port.
  const dead = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGKILL");
  await dead;
  // The old call's tiles go with it (no frozen picture of the bot).
  await waitForState(page, "the connection lost, the bot's tile gone", (s) =>
    s.online === false && !s.call_videos?.includes("bot:Camera"), 20_000);
  await startServer();

  // The restarted server's roster starts empty: ada and the bot are in it
  // again only once each rejoined by itself; ada's mute came along.
  await waitFor("ada (muted) and the bot back in the roster", async () => {
    const now = await api("GET", "/api/rooms", bot.token);
    const inCall = now.rooms.find((r) => r.id === room.id)?.in_call ?? [];
    const me = inCall.find((p) => p.user_id === ada.user.id);
    return inCall.length === 2 && me?.muted ? inCall : null;
  }, { patienceMs: 45_000 });
  await waitForState(page, "the call connected again with the bot's video drawn in its tile", (s) =>
    s.call_phase === "Connected" && s.call_media?.muted === true && (s.call_frames?.["bot:Camera"] ?? 0) >= 10, 45_000);
  await press(page, "Control+Shift+H");
  await waitForState(page, "out of the call", (s) => !s.call);
  await context.close();
  const { report } = await done;
  const fromAda = report.received.filter((r) => r.user_id === ada.user.id);
  assert.ok(fromAda.length > 0, `the bot received the browser again: ${JSON.stringify(report)}`);
});

// Settings → Voice in the browser switches the browser's own processing:
// the microphone is asked for with echoCancellation, noiseSuppression and
// autoGainControl as saved (all on by default), and Chromium applies them
// (the track's getSettings()). getUserMedia is wrapped, before the app
// loads, only to read what was asked and what came back.
test("the browser's microphone follows Settings → Voice: its own echo cancellation, noise suppression and gain control", async () => {
  const microphoneWith = async (saved) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript((saved) => {
      if (saved) localStorage.setItem("concord", saved);
      window.concordMicrophones = [];
      const media = navigator.mediaDevices;
      const ask = media.getUserMedia.bind(media);
      media.getUserMedia = async (constraints) => {
        const stream = await ask(constraints);
        for (const track of stream.getAudioTracks()) {
          window.concordMicrophones.push({ asked: constraints.audio, got: track.getSettings() });
        }
        return stream;
      };
    }, saved);
    const page = await context.newPage();
    await page.goto(base + "/");
    await logInAndOpenRoom(page, "ada@example.com", PASSWORD, "Standup");
    await press(page, "Control+Shift+J");
    await waitForState(page, "in the call with the microphone on", (s) =>
      s.call === "Standup" && s.call_phase === "Connected" && s.call_media?.muted === false);
    const opened = await waitFor("the microphone opened", () =>
      page.evaluate(() => (window.concordMicrophones.length ? window.concordMicrophones : null)));
    await press(page, "Control+Shift+H");
    await waitForState(page, "out of the call", (s) => !s.call);
    await context.close();
    return opened[0];
  };
  const processing = (m) =>
    ({ echoCancellation: m.echoCancellation, noiseSuppression: m.noiseSuppression, autoGainControl: m.autoGainControl });
  const all = (on) => ({ echoCancellation: on, noiseSuppression: on, autoGainControl: on });

  const byDefault = await microphoneWith(null);
  assert.deepEqual(processing(byDefault.asked), all(true), JSON.stringify(byDefault));
  assert.deepEqual(processing(byDefault.got), all(true), JSON.stringify(byDefault));
  // Saved as Settings → Voice saves it: noise filter Off, Advanced both off.
  const switchedOff = await microphoneWith("(media:(voice:(echo_cancellation:false,noise:Off,gain_control:false)))");
  assert.deepEqual(processing(switchedOff.asked), all(false), JSON.stringify(switchedOff));
  assert.deepEqual(processing(switchedOff.got), all(false), JSON.stringify(switchedOff));
});
