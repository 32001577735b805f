// Benchmark (not a test; run by .ci/bench-web-call): the web client's calls
// in headless Chromium (fake camera and microphone) against a Concord
// server and `concord-bot` participants on this machine.
//   - join time: Ctrl+Shift+J pressed → the first frame of a bot's camera
//     shown in its tile (requestVideoFrameCallback), RUNS joins, p50/p95;
//   - page CPU and frame rate with 4 and 9 remote cameras (640×360, 15 fps):
//     CPU seconds of every Chromium process over WINDOW_S seconds, per second
//     and per frame shown, and the frames shown per second per tile.
//
// Needs: CONCORD_SERVER_BIN, CONCORD_WEB_ROOT (built with --features
// test-hooks), CONCORD_BOT_BIN. Prints one JSON line per measurement.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { freePort, spawnConcord } from "./concord_server.mjs";
import { apiAt, appState, CHROMIUM_ARGS, clickField, press, type, waitFor } from "./page.mjs";

const { CONCORD_SERVER_BIN: bin, CONCORD_WEB_ROOT: root, CONCORD_BOT_BIN: botBin } = process.env;
if (!bin || !root || !botBin) throw new Error("set CONCORD_SERVER_BIN, CONCORD_WEB_ROOT and CONCORD_BOT_BIN");
const RUNS = Number(process.env.RUNS || 10);
const WINDOW_S = Number(process.env.WINDOW_S || 10);
const PASSWORD = "correct horse";

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const dir = mkdtempSync(join(tmpdir(), "concord-call-bench-"));
const server = spawnConcord({ bin, webRoot: root, dir, port });
const profile = mkdtempSync(join(tmpdir(), "concord-call-bench-chromium-"));

// Joins are timed to the 20 ms this polls at.
const until = (what, check, patienceMs = 60_000) => waitFor(what, check, { patienceMs, everyMs: 20 });

const api = apiAt(() => base);
const state = appState;

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

// CPU seconds (user + system) of every Chromium process this benchmark started
// (descendants of this node process named chrom*; the server and bots are not).
function chromiumCpuSeconds() {
  const stats = new Map();
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(pid), { comm, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {}
  }
  const descends = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      if (p === process.pid) return true;
      p = stats.get(p)?.ppid ?? 0;
    }
    return false;
  };
  let ticks = 0;
  for (const [pid, { comm, ticks: t }] of stats) {
    if (comm.startsWith("chrom") && descends(pid)) ticks += t;
  }
  return ticks / 100;
}

function startBots(room, tag, participants) {
  const bots = spawn(botBin, [
    "--server", base, "--email", `${tag}@example.com`, "--password", PASSWORD, "--room", room,
    "--participants", String(participants), "--seconds", "600", "--video", "pattern",
    "--resolution", "640x360", "--fps", "15", "--audio", "none", "--decode", "none",
  ], { stdio: ["ignore", "ignore", "inherit"] });
  return bots;
}

try {
  await until("the server", async () => (await fetch(base + "/api/health").catch(() => null))?.ok);
  const ada = await api("POST", "/api/auth/register", null, { email: "ada@example.com", username: "ada", password: PASSWORD });
  const room = await api("POST", "/api/rooms", ada.token, { label: "Bench" });
  // Bot accounts: bot@ (join time), crowd+1..9@ (the 4 and 9 cameras).
  const accounts = ["bot", ...Array.from({ length: 9 }, (_, i) => `crowd+${i + 1}`)];
  for (const name of accounts) {
    const user = await api("POST", "/api/auth/register", null, {
      email: `${name}@example.com`, username: name.replace("+", ""), password: PASSWORD,
    });
    await api("POST", "/api/invites", user.token, { email: "ada@example.com" });
    await api("POST", "/api/invites", ada.token, { email: `${name}@example.com` });
    await api("POST", `/api/rooms/${room.id}/members`, ada.token, { user_id: user.user.id });
  }

  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    viewport: { width: 1280, height: 800 },
    args: [...CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
      "--allow-loopback-in-peer-connection"],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(base + "/");
  await until("the log-in form", async () => (await state(page))?.screen === "login");
  await clickField(page, 640, 235);
  await type(page, "ada@example.com");
  await press(page, "Tab");
  await type(page, PASSWORD);
  await press(page, "Enter");
  await until("logged in", async () => (await state(page))?.online);

  const openRoom = async () => {
    await press(page, "Control+k");
    await type(page, "bench");
    await press(page, "Enter");
    await until("the room", async () => (await state(page))?.selected_room === "Bench");
  };

  // Join time, with one bot in the call: each run reloads the page (which leaves the call).
  const bot = startBots(room.id, "bot", 1);
  await until("the bot in the call", async () => (await api("GET", "/api/rooms", ada.token)).rooms[0].in_call.length === 1);
  const joins = [];
  for (let run = 0; run < RUNS; run++) {
    await page.reload();
    await until("online", async () => (await state(page))?.online);
    await openRoom();
    const pressed = Date.now();
    await page.keyboard.press("Control+Shift+J");
    // The join's steps as the page shows them, each the first poll that saw it:
    // in the roster (the server took the join), a connection up, the bot's
    // track arrived (its tile has a video element), its first frame shown.
    const seen = {};
    await until("the bot's first frame", async () => {
      const s = await state(page);
      const at = Date.now() - pressed;
      const me = s?.rooms?.find((r) => r.label === "Bench")?.in_call?.some((p) => p.name === "me");
      if (me) seen.in_roster ??= at;
      if (s?.call_phase === "Connected") seen.connected ??= at;
      if (s?.call_videos?.includes("bot:Camera")) seen.track ??= at;
      return (s?.call_frames?.["bot:Camera"] ?? 0) >= 1;
    });
    joins.push({ ...seen, first_frame: Date.now() - pressed });
  }
  bot.kill("SIGKILL");
  const summary = (key) => {
    const sorted = joins.map((j) => j[key] ?? Infinity).sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
  };
  const firstFrames = joins.map((j) => j.first_frame).sort((a, b) => a - b);
  console.log(JSON.stringify({
    bench: "browser_join_to_first_remote_frame_ms", runs: RUNS,
    p50: percentile(firstFrames, 50), p95: percentile(firstFrames, 95), max: firstFrames.at(-1),
    steps: { in_roster: summary("in_roster"), connected: summary("connected"), track: summary("track") },
  }));

  for (const cameras of [4, 9]) {
    await page.reload();
    await until("online", async () => (await state(page))?.online);
    const crowd = startBots(room.id, "crowd", cameras);
    await openRoom();
    await page.keyboard.press("Control+Shift+J");
    const names = Array.from({ length: cameras }, (_, i) => `crowd${i + 1}:Camera`);
    await until(`${cameras} cameras shown`, async () => {
      const frames = (await state(page))?.call_frames ?? {};
      return names.every((n) => (frames[n] ?? 0) >= 15);
    }, 120_000);
    const framesAt = async () => {
      const frames = (await state(page)).call_frames;
      return names.reduce((sum, n) => sum + (frames[n] ?? 0), 0);
    };
    const [cpu0, frames0, t0] = [chromiumCpuSeconds(), await framesAt(), Date.now()];
    await page.waitForTimeout(WINDOW_S * 1000);
    const [cpu1, frames1, t1] = [chromiumCpuSeconds(), await framesAt(), Date.now()];
    const seconds = (t1 - t0) / 1000;
    const shown = frames1 - frames0;
    console.log(JSON.stringify({
      bench: "browser_page_with_remote_cameras", cameras, seconds,
      chromium_cpu_percent_of_one_core: Math.round(((cpu1 - cpu0) / seconds) * 1000) / 10,
      frames_shown_per_second_per_tile: Math.round((shown / seconds / cameras) * 10) / 10,
      chromium_cpu_ms_per_frame_shown: Math.round(((cpu1 - cpu0) * 1000 / shown) * 100) / 100,
    }));
    crowd.kill("SIGKILL");
    await until("the crowd gone", async () => (await api("GET", "/api/rooms", ada.token)).rooms[0].in_call.length <= 1, 30_000);
  }
  await context.close();
} finally {
  server.kill();
  rmSync(dir, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
}
