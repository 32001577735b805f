// Screenshots of the web client for docs/screenshots/ (not a test: run by
// .ci/screenshots). The page is served by a real Concord server; Chromium's
// colour scheme picks the theme (the app follows the system's by default).
//
// Needs: CONCORD_SERVER_BIN, CONCORD_WEB_ROOT (built with --features
// test-hooks, so the page reports when it is ready), CONCORD_SCREENSHOTS (where).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { freePort, spawnConcord } from "./concord_server.mjs";
import { clickField, press, type } from "./page.mjs";

const { CONCORD_SERVER_BIN: bin, CONCORD_WEB_ROOT: root, CONCORD_SCREENSHOTS: out } = process.env;
if (!bin || !root || !out) throw new Error("set CONCORD_SERVER_BIN, CONCORD_WEB_ROOT and CONCORD_SCREENSHOTS");

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const dir = mkdtempSync(join(tmpdir(), "concord-shots-"));
const server = spawnConcord({ bin, webRoot: root, dir, port });

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
// Who writes what in the pictured conversation (ada is the one logged in).
const MESSAGES = [
  ["bob", "hey ada 👋 are you coming tonight?"],
  ["ada", "yes! 🎉 bringing the board game"],
  ["bob", "great — carol said she might be late, so we could start with something short and switch to the long one when she arrives."],
  ["ada", "sounds good 👍"],
];

async function api(method, path, token, body) {
  const response = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

// ada, friends with bob and carol (both shown offline: only the page is
// connected), and a short conversation between ada and bob.
async function seedConversation() {
  const users = {};
  for (const name of ["ada", "bob", "carol"]) {
    users[name] = await api("POST", "/api/auth/register", null, { email: `${name}@example.com`, username: name, password: "correct horse" });
  }
  for (const friend of ["bob", "carol"]) {
    await api("POST", "/api/invites", users[friend].token, { email: "ada@example.com" });
    await api("POST", "/api/invites", users.ada.token, { email: `${friend}@example.com` });
  }
  for (const [i, [from, text]] of MESSAGES.entries()) {
    const to = from === "ada" ? users.bob : users.ada;
    await api("POST", `/api/dms/${to.user.id}/messages`, users[from].token, { content: text, nonce: `m${i}` });
  }
}

async function until(what, check) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-unsafe-swiftshader"],
});
try {
  await until("the server", async () => (await fetch(base + "/api/health")).ok);
  await seedConversation();
  const shots = [
    // name, colour scheme, viewport, logged in, conversation open
    ["web_login_dark", "dark", DESKTOP, false, false],
    ["web_login_light", "light", DESKTOP, false, false],
    ["web_login_phone_light", "light", PHONE, false, false],
    ["web_conversation_dark", "dark", DESKTOP, true, true],
    ["web_conversation_light", "light", DESKTOP, true, true],
    ["web_phone_list_dark", "dark", PHONE, true, false],
    ["web_phone_conversation_light", "light", PHONE, true, true],
  ];
  for (const [name, colorScheme, viewport, loggedIn, open] of shots) {
    const context = await browser.newContext({ viewport, colorScheme });
    const page = await context.newPage();
    await page.goto(base + "/");
    const state = async () => JSON.parse((await page.title()).slice("concord:".length));
    await until(`${name}: the app`, async () => (await state()).emoji_missing.length === 0);
    if (loggedIn) {
      // Click the email field (y 220–250 on pages taller than 667 points).
      await clickField(page, viewport.width / 2, 235);
      await type(page, "ada@example.com");
      await press(page, "Tab");
      await type(page, "correct horse");
      await press(page, "Enter");
      await until(`${name}: logged in`, async () => {
        const s = await state();
        return s.screen === "main" && s.online && s.friends.length === 2;
      });
    }
    if (open) {
      await press(page, "Control+k");
      await type(page, "bob");
      await press(page, "Enter");
      await until(`${name}: the conversation`, async () => ((await state()).messages.bob ?? []).length === MESSAGES.length);
      // Let the history settle at the bottom and the composer take focus.
      await page.waitForTimeout(500);
    }
    await page.screenshot({ path: join(out, `${name}.png`) });
    console.log(`${name}.png`);
    await context.close();
  }
} finally {
  await browser.close();
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}
