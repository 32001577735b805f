// The web client in headless Chromium against a real Concord server on
// 127.0.0.1: the page loads from the server, a user registers and logs in by
// typing, accepts an invite sent through the public API by a second user, and
// the two exchange DMs both ways. The app publishes its state as JSON in
// document.title (cargo feature `test-hooks`); the server's stored messages
// are checked through the API.
//
// Needs: CONCORD_SERVER_BIN (the server binary), CONCORD_WEB_ROOT (a
// gui/dist built with --features test-hooks). Run by .ci/test.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import zlib from "node:zlib";
import { chromium } from "playwright-core";
import { freePort, spawnConcord } from "./concord_server.mjs";
import { afterFrame, apiAt, appState, clickField, launchChromium, logInAndOpenRoom, press, type, waitFor, waitForState } from "./page.mjs";

const SERVER_BIN = process.env.CONCORD_SERVER_BIN;
const WEB_ROOT = process.env.CONCORD_WEB_ROOT;

let server, base, dir, browser;

const api = apiAt(() => base);

let port;

async function startServer() {
  server = spawnConcord({ bin: SERVER_BIN, webRoot: WEB_ROOT, dir, port });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(base + "/api/health")).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("the server did not start");
}

async function stopServer() {
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill();
  await exited;
}

before(async () => {
  assert.ok(SERVER_BIN && WEB_ROOT, "set CONCORD_SERVER_BIN and CONCORD_WEB_ROOT");
  dir = mkdtempSync(join(tmpdir(), "concord-web-"));
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await startServer();
  browser = await launchChromium(chromium);
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("register by typing, accept an invite, exchange DMs both ways", async () => {
  // The user allows notifications; record the ones the page shows.
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 }, permissions: ["notifications"] });
  await context.addInitScript(() => {
    window.__notifications = [];
    const Real = window.Notification;
    window.Notification = class extends Real {
      constructor(title, options) {
        super(title, options);
        window.__notifications.push({ title, body: options?.body });
      }
    };
    window.Notification.requestPermission = Real.requestPermission.bind(Real);
    Object.defineProperty(window.Notification, "permission", { get: () => Real.permission });
  });
  const page = await context.newPage();
  // The wasm and its JS arrive compressed, under content-hashed names cached for good.
  const assets = [];
  page.on("response", async (response) => {
    if (/\.(wasm|js)$/.test(new URL(response.url()).pathname)) {
      assets.push({ url: response.url(), headers: await response.allHeaders() });
    }
  });
  const started = Date.now();
  await page.goto(base + "/?register");
  const ready = await waitForState(page, "the register form", (s) => s.screen === "login" && s.mode === "Register");
  const interactiveMs = Date.now() - started;
  assert.equal(assets.length, 2, JSON.stringify(assets));
  for (const { url, headers } of assets) {
    assert.match(new URL(url).pathname, /-[0-9a-f]{16}\.(wasm|js)$/, url);
    assert.ok(["br", "gzip"].includes(headers["content-encoding"]), `${url}: ${JSON.stringify(headers)}`);
    assert.equal(headers["cache-control"], "public, max-age=31536000, immutable", url);
  }
  // The emoji font arrives after the first paint: then every everyday emoji
  // (faces, hands, flags, skin tones) has a glyph in egui's fonts.
  await waitForState(page, "every everyday emoji to have a glyph", (s) => s.emoji_missing.length === 0);

  // Click into the email field (the log-in card's first field: x 334–666,
  // y 220–250 at 1000×700, as the kittest harness measures it), as a person would.
  await clickField(page, 500, 235);
  await type(page, "webby@example.com");
  await press(page, "Tab");
  await type(page, "webby");
  await press(page, "Tab");
  await type(page, "correct horse");
  await press(page, "Enter");
  await waitForState(page, "logged in and online", (s) => s.screen === "main" && s.online && s.me === "webby");
  assert.equal(ready.screen, "login");

  // A desktop user (here: the public API) invites the browser user.
  const bob = await api("POST", "/api/auth/register", null, { email: "bob@example.com", username: "bob", password: "correct horse" });
  await api("POST", "/api/invites", bob.token, { email: "webby@example.com" });
  await waitForState(page, "the invite", (s) => s.invites_in.includes("bob"));
  // Keyboard: Tab to the invite's ✔ button (after the menu, "Search" and "Add friend") and press it.
  for (let i = 0; i < 4; i++) await press(page, "Tab");
  await press(page, "Enter");
  await waitForState(page, "bob as a friend", (s) => s.friends.some((f) => f.name === "bob"));

  // Bob writes; the page shows it. The page answers (Ctrl+K → bob → Enter opens the conversation).
  const webbyId = (await api("POST", "/api/auth/login", null, { email: "webby@example.com", password: "correct horse" })).user.id;
  await api("POST", `/api/dms/${webbyId}/messages`, bob.token, { content: "hello from the desktop 👋", nonce: "b1" });
  await waitForState(page, "bob's message", (s) => s.friends[0].unread === 1 || (s.messages.bob ?? []).length === 1);
  const shown = await page.evaluate(() => window.__notifications);
  assert.deepEqual(shown, [{ title: "bob on Concord", body: "hello from the desktop 👋" }]);
  await press(page, "Control+k");
  await type(page, "bob");
  await press(page, "Enter");
  await waitForState(page, "the conversation", (s) => s.selected === "bob" && (s.messages.bob ?? []).includes("hello from the desktop 👋"));
  await type(page, "hi bob, from the browser");
  await press(page, "Enter");
  await waitForState(page, "the reply stored", (s) => s.pending === 0 && (s.messages.bob ?? []).includes("hi bob, from the browser"));
  const bobId = bob.user.id;
  const history = await api("GET", `/api/dms/${webbyId}/messages`, bob.token);
  assert.deepEqual(history.messages.map((m) => m.content), ["hi bob, from the browser", "hello from the desktop 👋"]);
  assert.equal(history.messages[0].sender_id, webbyId);
  assert.equal(history.messages[0].recipient_id, bobId);

  // The session is kept in local storage: a reload is still logged in.
  await page.reload();
  await waitForState(page, "logged in after a reload", (s) => s.screen === "main" && s.online && s.me === "webby");

  // The server goes away: a message typed now waits, then arrives once.
  await stopServer();
  await waitForState(page, "the connection lost", (s) => !s.online);
  await press(page, "Control+k");
  await type(page, "bob");
  await press(page, "Enter");
  await type(page, "typed while offline");
  await press(page, "Enter");
  await waitForState(page, "the message pending", (s) => s.pending === 1);
  await startServer();
  await waitForState(page, "delivery after reconnect", (s) => s.online && s.pending === 0);
  const after = await api("GET", `/api/dms/${webbyId}/messages`, bob.token);
  assert.equal(after.messages.filter((m) => m.content === "typed while offline").length, 1);

  // ↑ in the empty composer edits the last message; Enter saves it.
  await press(page, "ArrowUp");
  await press(page, "End");
  await type(page, ", then edited");
  await press(page, "Enter");
  const edited = async () => (await api("GET", `/api/dms/${webbyId}/messages`, bob.token)).messages[0];
  for (let i = 0; i < 100 && (await edited()).content !== "typed while offline, then edited"; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await edited()).content, "typed while offline, then edited");
  assert.ok((await edited()).edited_at_ms > 0);
  // @b, Tab completes bob's name; it is sent as a mention of him.
  await type(page, "@b");
  await press(page, "Tab");
  await type(page, "look");
  await press(page, "Enter");
  await waitForState(page, "the mention stored", (s) => s.pending === 0 && (s.messages.bob ?? []).includes(`<@${bobId}> look`));
  const mention = await edited();
  assert.deepEqual([mention.content, mention.mentions], [`<@${bobId}> look`, [bobId]]);

  // A screenshot of the logged-in page is not blank.
  const shot = join(dir, "web.png");
  writeFileSync(shot, await page.screenshot());
  const colours = Number(execFileSync("convert", [shot, "-format", "%k", "info:"]).toString().trim());
  assert.ok(colours > 50, `the page looks blank (${colours} colours)`);
  console.log(JSON.stringify({ bench: "web_first_paint", navigation_to_login_form_ms: interactiveMs }));
});

test("a browser without WebGL gets a readable message instead of a blank page", async () => {
  const page = await browser.newPage();
  await page.addInitScript(() => {
    HTMLCanvasElement.prototype.getContext = () => null;
  });
  await page.goto(base + "/");
  const status = page.locator("#status.error");
  await status.waitFor({ timeout: 10_000 });
  assert.match(await status.textContent(), /needs WebGL/);
});

test("on a phone-sized screen the list and the conversation take turns", async () => {
  const ann = await api("POST", "/api/auth/register", null, { email: "ann@example.com", username: "ann", password: "correct horse" });
  const cid = await api("POST", "/api/auth/register", null, { email: "cid@example.com", username: "cid", password: "correct horse" });
  await api("POST", "/api/invites", cid.token, { email: "ann@example.com" });
  const accepted = await api("POST", "/api/invites", ann.token, { email: "cid@example.com" });
  assert.equal(accepted.result, "became_friends");
  await api("POST", `/api/dms/${ann.user.id}/messages`, cid.token, { content: "on your phone? 📱", nonce: "c1" });

  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(base + "/");
  await waitForState(page, "the log-in form", (s) => s.screen === "login" && s.mode === "Login" && s.layout === "narrow");
  // Tap the email field: the card sits 80 points from the top at any height
  // above 667, so the field is at y 220–250 as on the desktop-sized page.
  await clickField(page, 195, 235);
  await type(page, "ann@example.com");
  await press(page, "Tab");
  await type(page, "correct horse");
  await press(page, "Enter");
  // The list fills the screen, with cid's unread message counted.
  await waitForState(page, "the friend list", (s) => s.screen === "main" && s.online && s.selected === null
    && s.friends.some((f) => f.name === "cid" && f.unread === 1));
  await press(page, "Control+k");
  await type(page, "cid");
  await press(page, "Enter");
  await waitForState(page, "the conversation over the list", (s) => s.selected === "cid"
    && (s.messages.cid ?? []).includes("on your phone? 📱") && s.layout === "narrow");
  await press(page, "Escape");
  await waitForState(page, "back to the list", (s) => s.selected === null && s.friends[0].unread === 0);
  await context.close();
});

test("rooms in the browser: one appears live, its chat works, changes follow", async () => {
  const rae = await api("POST", "/api/auth/register", null, { email: "rae@example.com", username: "rae", password: "correct horse" });
  const sam = await api("POST", "/api/auth/register", null, { email: "sam@example.com", username: "sam", password: "correct horse" });
  await api("POST", "/api/invites", sam.token, { email: "rae@example.com" });
  await api("POST", "/api/invites", rae.token, { email: "sam@example.com" });

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(base + "/");
  await waitForState(page, "the log-in form", (s) => s.screen === "login" && s.mode === "Login");
  await clickField(page, 640, 235);
  await type(page, "rae@example.com");
  await press(page, "Tab");
  await type(page, "correct horse");
  await press(page, "Enter");
  await waitForState(page, "logged in, no rooms", (s) => s.screen === "main" && s.online && s.rooms.length === 0);

  // Sam (another client) makes a room, adds rae and writes: the page shows it live.
  const room = await api("POST", "/api/rooms", sam.token, { label: "Book club" });
  await api("POST", `/api/rooms/${room.id}/members`, sam.token, { user_id: rae.user.id });
  await api("POST", `/api/rooms/${room.id}/messages`, sam.token, { content: "chapter 3 tonight 📚", nonce: "s1" });
  await waitForState(page, "the room", (s) => s.rooms.length === 1 && s.rooms[0].label === "Book club"
    && s.rooms[0].members.join() === "sam,rae");

  // Ctrl+K → "book" → Enter opens it with its history; rae answers with Enter.
  await press(page, "Control+k");
  await type(page, "book");
  await press(page, "Enter");
  await waitForState(page, "the room's chat", (s) => s.selected_room === "Book club"
    && s.room_messages["Book club"].includes("chapter 3 tonight 📚"));
  await type(page, "I'll be there");
  await press(page, "Enter");
  await waitForState(page, "the answer stored", (s) => s.room_messages["Book club"].includes("I'll be there"));
  // A page from localhost is a secure context: its rooms offer calls
  // (browser_call.test.mjs makes one).
  const offered = await appState(page);
  assert.equal(offered.calls_supported, true, JSON.stringify(offered));
  assert.equal(offered.calls_unavailable, null);
  const history = await api("GET", `/api/rooms/${room.id}/messages`, sam.token);
  assert.deepEqual(history.messages.map((m) => [m.content, m.sender_id]),
    [["I'll be there", rae.user.id], ["chapter 3 tonight 📚", sam.user.id]]);

  // The owner renames it, then removes rae: the page follows, then closes it.
  await api("PATCH", `/api/rooms/${room.id}`, sam.token, { label: "Book club 📖" });
  await waitForState(page, "the new name", (s) => s.selected_room === "Book club 📖");
  await api("DELETE", `/api/rooms/${room.id}/members/${rae.user.id}`, sam.token);
  await waitForState(page, "the room gone", (s) => s.rooms.length === 0 && s.selected_room === null);
  await context.close();
});

// Camera and microphone need a secure context: a page opened over plain
// http from a name other than localhost (here concord.test, which this
// browser resolves to the test server on 127.0.0.1) says so in the room
// instead of offering a call the browser would refuse.
test("over plain http from a non-localhost name, a room says calls need https", async () => {
  const insecure = await launchChromium(chromium, ["--host-resolver-rules=MAP concord.test 127.0.0.1"]);
  try {
    const tia = await api("POST", "/api/auth/register", null, { email: "tia@example.com", username: "tia", password: "correct horse" });
    const room = await api("POST", "/api/rooms", tia.token, { label: "Plain room" });
    const page = await (await insecure.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await page.goto(`http://concord.test:${port}/`);
    assert.equal(await page.evaluate(() => window.isSecureContext), false, "the browser sees an insecure page");
    await waitForState(page, "the log-in form", (s) => s.screen === "login" && s.mode === "Login");
    await clickField(page, 640, 235);
    await type(page, "tia@example.com");
    await press(page, "Tab");
    await type(page, "correct horse");
    await press(page, "Enter");
    await waitForState(page, "logged in with the room", (s) => s.screen === "main" && s.online
      && s.rooms.length === 1 && s.rooms[0].label === room.label);
    await press(page, "Control+k");
    await type(page, "plain");
    await press(page, "Enter");
    await waitForState(page, "the room, saying why there is no call", (s) => s.selected_room === "Plain room"
      && s.calls_supported === false && s.calls_unavailable === "InsecurePage");
    await press(page, "Control+Shift+J");
    await waitForState(page, "still no call", (s) => s.call === null && s.calls_unavailable === "InsecurePage");
    if (process.env.CONCORD_WEB_SHOT_DIR) {
      await page.screenshot({ path: join(process.env.CONCORD_WEB_SHOT_DIR, "insecure-room.png") });
    }
  } finally {
    await insecure.close();
  }
});

// A PNG of `width` × `height` in one colour, written with node's zlib.
function png(width, height, [r, g, b]) {
  const { deflateSync, crc32 } = zlib;
  const chunk = (kind, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(kind), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array(width).fill([r, g, b]).flat())]);
  const pixels = deflateSync(Buffer.concat(Array(height).fill(row)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", header),
    chunk("IDAT", pixels), chunk("IEND", Buffer.alloc(0))]);
}

test("a picture dropped on the page is uploaded, sent to the room and shown", async () => {
  const pia = await api("POST", "/api/auth/register", null, { email: "pia@example.com", username: "pia", password: "correct horse" });
  const quin = await api("POST", "/api/auth/register", null, { email: "quin@example.com", username: "quin", password: "correct horse" });
  await api("POST", "/api/invites", quin.token, { email: "pia@example.com" });
  await api("POST", "/api/invites", pia.token, { email: "quin@example.com" });
  const room = await api("POST", "/api/rooms", quin.token, { label: "Photos" });
  await api("POST", `/api/rooms/${room.id}/members`, quin.token, { user_id: pia.user.id });

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(base + "/");
  await logInAndOpenRoom(page, "pia@example.com", "correct horse", "Photos");

  // The file is dropped on the page as a browser hands it over (a DataTransfer with a File).
  const bytes = [...png(120, 80, [40, 160, 220])];
  const dataTransfer = await page.evaluateHandle((bytes) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(bytes)], "sky.png", { type: "image/png" }));
    return transfer;
  }, bytes);
  await page.dispatchEvent("canvas", "dragover", { dataTransfer });
  await page.dispatchEvent("canvas", "drop", { dataTransfer });
  await waitForState(page, "the picture uploaded", (s) => s.uploads.join() === "sky.png:ready");
  await type(page, "the sky today");
  await press(page, "Enter");
  await waitForState(page, "the picture in the room, drawn", (s) => s.uploads.length === 0
    && s.room_attachments.includes("sky.png") && s.pictures_loaded >= 1);
  const history = await api("GET", `/api/rooms/${room.id}/messages`, quin.token);
  const sent = history.messages[0];
  assert.equal(sent.content, "the sky today");
  assert.deepEqual(sent.attachments.map((a) => [a.name, a.content_type, a.width, a.height]),
    [["sky.png", "image/png", 120, 80]]);
  // Its signed link works for anyone who has it: the bytes are the picture.
  const fetched = await fetch(base + sent.attachments[0].url);
  assert.equal(fetched.status, 200);
  assert.deepEqual([...new Uint8Array(await fetched.arrayBuffer())].slice(16, 24), bytes.slice(16, 24));
  await context.close();
});

test("a large file dropped on a slow link shows its progress while it uploads, then is sent", async () => {
  const uma = await api("POST", "/api/auth/register", null, { email: "uma@example.com", username: "uma", password: "correct horse" });
  const vic = await api("POST", "/api/auth/register", null, { email: "vic@example.com", username: "vic", password: "correct horse" });
  await api("POST", "/api/invites", vic.token, { email: "uma@example.com" });
  await api("POST", "/api/invites", uma.token, { email: "vic@example.com" });
  const room = await api("POST", "/api/rooms", vic.token, { label: "Files" });
  await api("POST", `/api/rooms/${room.id}/members`, vic.token, { user_id: uma.user.id });

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(base + "/");
  await logInAndOpenRoom(page, "uma@example.com", "correct horse", "Files");
  // The page's uplink at 1 MB/s (Chromium's own network emulation): 3 MB take seconds.
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions",
    { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1024 * 1024 });
  const size = 3 * 1024 * 1024;
  const dataTransfer = await page.evaluateHandle((size) => {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 7919) % 251;
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], "recording.bin", { type: "application/octet-stream" }));
    return transfer;
  }, size);
  await page.dispatchEvent("canvas", "dragover", { dataTransfer });
  await page.dispatchEvent("canvas", "drop", { dataTransfer });
  // Part of it sent, not all: the bar moves before the end.
  const partway = await waitForState(page, "the upload partway", (s) => s.upload_progress.some((p) => {
    const [sent, total] = p.split(":")[1].split("/").map(Number);
    return p.startsWith("recording.bin:") && sent > 0 && sent < total;
  }));
  assert.equal(partway.uploads.join(), "recording.bin:sending");
  await waitForState(page, "the upload done", (s) => s.uploads.join() === "recording.bin:ready", 60_000);
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await type(page, "the recording");
  await press(page, "Enter");
  await waitForState(page, "the file in the room", (s) => s.uploads.length === 0 && s.room_attachments.includes("recording.bin"));
  const sent = (await api("GET", `/api/rooms/${room.id}/messages`, vic.token)).messages[0];
  assert.deepEqual(sent.attachments.map((a) => [a.name, a.size]), [["recording.bin", size]]);
  const fetched = new Uint8Array(await (await fetch(base + sent.attachments[0].url)).arrayBuffer());
  assert.equal(fetched.length, size);
  assert.ok(fetched.every((b, i) => b === (i * 7919) % 251), "the bytes downloaded are the bytes uploaded");
  await context.close();
});

test("in a room: Ctrl+F finds an old message and opens it, the picker reacts by name, Reply quotes it, a pasted picture is sent", async () => {
  const ria = await api("POST", "/api/auth/register", null, { email: "ria@example.com", username: "ria", password: "correct horse" });
  const tom = await api("POST", "/api/auth/register", null, { email: "tom@example.com", username: "tom", password: "correct horse" });
  await api("POST", "/api/invites", tom.token, { email: "ria@example.com" });
  await api("POST", "/api/invites", ria.token, { email: "tom@example.com" });
  const room = await api("POST", "/api/rooms", tom.token, { label: "Kitchen" });
  await api("POST", `/api/rooms/${room.id}/members`, tom.token, { user_id: ria.user.id });
  // The hit is older than the first page the room loads (50).
  await api("POST", `/api/rooms/${room.id}/messages`, tom.token, { content: "the secret recipe uses saffron", nonce: "k0" });
  for (let i = 1; i <= 60; i++) {
    await api("POST", `/api/rooms/${room.id}/messages`, tom.token, { content: `kitchen chatter ${i}`, nonce: `k${i}` });
  }

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(base + "/");
  await logInAndOpenRoom(page, "ria@example.com", "correct horse", "Kitchen");

  // Ctrl+F, a word's start, Enter; Tab to the hit, Enter: the room scrolls back to it.
  await press(page, "Control+f");
  await type(page, "saffr");
  await press(page, "Enter");
  await waitForState(page, "the hit", (s) => s.search?.join() === "the secret recipe uses saffron");
  await press(page, "Tab");
  await press(page, "Enter");
  await waitForState(page, "the old message, in its room", (s) => s.search === null && s.selected_room === "Kitchen"
    && !s.jumping && s.room_messages.Kitchen.includes("the secret recipe uses saffron"));

  // The message, hovered: "More reactions", "rocket", Enter.
  const target = async (name) => (await appState(page))?.targets?.[name];
  // (Where it was drawn before the jump's scroll settled is no use: wait
  // until two frames in a row draw it at the same place.)
  let before = null;
  const [x, y] = await waitFor("the message in view, settled", async () => {
    const at = await target("the secret recipe uses saffron");
    const settled = at && before && at[0] === before[0] && at[1] === before[1] ? at : null;
    before = at;
    return settled;
  });
  // Onto the message, moving along it as a hand does, until its actions show.
  let step = 0;
  const [bx, by] = await waitFor("its actions", async () => {
    step += 1;
    await afterFrame(page, () => page.mouse.move(x + (step % 8) * 4, y));
    return target("More reactions");
  });
  await afterFrame(page, () => page.mouse.click(bx, by));
  await type(page, "rocket");
  await press(page, "Enter");
  const reacted = await waitFor("the reaction stored", async () => {
    const history = await api("GET", `/api/rooms/${room.id}/messages?limit=100`, tom.token);
    const hit = history.messages.find((m) => m.content === "the secret recipe uses saffron");
    return hit?.reactions.length ? hit.reactions : null;
  });
  assert.deepEqual(reacted, [{ emoji: "🚀", count: 1, me: false, user_ids: [ria.user.id] }]);

  // "Reply" on the same message: the answer carries reply_to and quotes it.
  const [rx, ry] = await waitFor("its Reply action", async () => {
    step += 1;
    await afterFrame(page, () => page.mouse.move(x + (step % 8) * 4, y));
    return target("Reply");
  });
  await afterFrame(page, () => page.mouse.click(rx, ry));
  await waitForState(page, "the composer, replying", (s) => s.typing);
  await type(page, "I'll bring some");
  await press(page, "Enter");
  const answer = await waitFor("the answer stored", async () => {
    const newest = (await api("GET", `/api/rooms/${room.id}/messages?limit=1`, tom.token)).messages[0];
    return newest.content === "I'll bring some" ? newest : null;
  });
  const hit = (await api("GET", `/api/rooms/${room.id}/messages?limit=100`, tom.token)).messages
    .find((m) => m.content === "the secret recipe uses saffron");
  assert.equal(answer.reply_to, hit.id);
  assert.equal(answer.reply_preview.content, "the secret recipe uses saffron");

  // A picture pasted on the page (Ctrl+V hands the page a ClipboardEvent with a File).
  const bytes = [...png(64, 48, [200, 80, 40])];
  await page.evaluate((bytes) => {
    const clipboardData = new DataTransfer();
    clipboardData.items.add(new File([new Uint8Array(bytes)], "image.png", { type: "image/png" }));
    document.dispatchEvent(new ClipboardEvent("paste", { clipboardData, bubbles: true }));
  }, bytes);
  await waitForState(page, "the pasted picture uploaded", (s) => s.uploads.join() === "pasted.png:ready");
  const [cx, cy] = await target("Message");
  await clickField(page, cx, cy);
  await type(page, "fresh basil");
  await press(page, "Enter");
  await waitForState(page, "the picture in the room", (s) => s.uploads.length === 0
    && s.room_attachments.includes("pasted.png"));
  const history = await api("GET", `/api/rooms/${room.id}/messages`, tom.token);
  assert.deepEqual(history.messages[0].attachments.map((a) => [a.name, a.width, a.height]), [["pasted.png", 64, 48]]);
  await context.close();
});
