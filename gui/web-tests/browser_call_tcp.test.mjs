// A browser whose UDP to the server is blocked calls through the SFU's TCP
// port (ICE-TCP), with nothing installed beside the Concord server: no
// TURN relay is configured. Headless Chromium runs inside a network
// namespace of the test's own whose UDP to this host is dropped; a native
// `concord-bot` joins from the open network. Each decodes the other's
// video and audio — which can only have travelled over TCP (the
// namespace's firewall rule is in place before Chromium starts, or the
// set-up fails, and no relay exists).
//
// Needs what browser_call.test.mjs needs, and root (ip netns, nft).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { runBot } from "./bot.mjs";
import { freePort, spawnConcord, waitForServer } from "./concord_server.mjs";
import { createUdpBlockedNetwork } from "./netns.mjs";
import { adaAndBotInRoom, apiAt, launchChromium, logInAndOpenRoom, press, waitForState } from "./page.mjs";

const SERVER_BIN = process.env.CONCORD_SERVER_BIN;
const WEB_ROOT = process.env.CONCORD_WEB_ROOT;
const BOT_BIN = process.env.CONCORD_BOT_BIN;
const PASSWORD = "correct horse";

let server, network, base, pageBase, dir, browser;

const api = apiAt(() => base);

before(async () => {
  assert.ok(SERVER_BIN && WEB_ROOT && BOT_BIN, "set CONCORD_SERVER_BIN, CONCORD_WEB_ROOT and CONCORD_BOT_BIN");
  dir = mkdtempSync(join(tmpdir(), "concord-web-tcp-"));
  network = createUdpBlockedNetwork();
  const port = await freePort();
  // Listening everywhere: the bot and the test on loopback, the browser at the veth address.
  server = spawnConcord({ bin: SERVER_BIN, webRoot: WEB_ROOT, dir, port, address: "0.0.0.0", advertiseIp: network.hostIp });
  base = `http://127.0.0.1:${port}`;
  pageBase = `http://${network.hostIp}:${port}`;
  await waitForServer(base);
  browser = await launchChromium(chromium, [
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    // The page is plain http on a private address: let it have the
    // camera and microphone as if it were https (a deployment uses TLS).
    `--unsafely-treat-insecure-origin-as-secure=${pageBase}`,
  ], network.chromiumInside(dir));
});

after(async () => {
  await browser?.close();
  server?.kill();
  network?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a browser whose UDP is blocked calls a bot over the SFU's TCP port: each decodes the other", async () => {
  const { ada, bot, room } = await adaAndBotInRoom(api, PASSWORD, "Firewall");

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const consoleLines = [];
  page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
  await page.goto(pageBase + "/");
  await logInAndOpenRoom(page, "ada@example.com", PASSWORD, "Firewall");
  await press(page, "Control+Shift+J");
  await waitForState(page, "connected over TCP, camera and microphone on", (s) => s.call === "Firewall"
    && s.call_phase === "Connected" && s.call_media?.camera === true, 45_000);

  const { done } = runBot({ bin: BOT_BIN, base, room: room.id, email: "bot@example.com", password: PASSWORD, seconds: 12 });
  const receiving = await waitForState(page, "the bot's camera and microphone decoded", (s) =>
    (s.call_rates?.["bot:Camera"] ?? 0) >= 5 && (s.call_rates?.["bot:Microphone"] ?? 0) >= 20, 45_000);
  const { code, report } = await done;
  assert.equal(code, 0, JSON.stringify(report));
  const fromAda = report.received.find((r) => r.user_id === ada.user.id);
  assert.ok(fromAda, `the bot received nothing from the browser: ${JSON.stringify(report)}`);
  const track = (kind) => fromAda.tracks.find((t) => t.kind === kind);
  assert.ok(track("camera")?.frames >= 20, `browser camera frames decoded by the bot: ${JSON.stringify(fromAda)}`);
  assert.ok(track("microphone")?.packets >= 100, `browser audio packets: ${JSON.stringify(fromAda)}`);
  assert.deepEqual(report.errors, [], JSON.stringify(report.errors));
  assert.deepEqual(report.transport, { publish: "udp", receive: "udp" }, "the bot is on the open network");
  console.log(JSON.stringify({
    bench: "browser_call_tcp",
    page_receiving: receiving.call_rates,
    bot_received_from_browser: fromAda.tracks.map((t) => ({ kind: t.kind, frames: t.frames, packets: t.packets, lost: t.packets_lost })),
  }));
  await context.close();
  assert.ok(!consoleLines.some((l) => l.includes("panicked")), consoleLines.join("\n"));
});
