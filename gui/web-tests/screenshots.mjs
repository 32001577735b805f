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

const { CONCORD_SERVER_BIN: bin, CONCORD_WEB_ROOT: root, CONCORD_SCREENSHOTS: out } = process.env;
if (!bin || !root || !out) throw new Error("set CONCORD_SERVER_BIN, CONCORD_WEB_ROOT and CONCORD_SCREENSHOTS");

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const dir = mkdtempSync(join(tmpdir(), "concord-shots-"));
const server = spawnConcord({ bin, webRoot: root, dir, port });

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
  const shots = [
    ["web_login_dark", "dark", { width: 1280, height: 800 }],
    ["web_login_light", "light", { width: 1280, height: 800 }],
    ["web_login_phone_light", "light", { width: 390, height: 844 }],
  ];
  for (const [name, colorScheme, viewport] of shots) {
    const context = await browser.newContext({ viewport, colorScheme });
    const page = await context.newPage();
    await page.goto(base + "/");
    await until(`${name}: the app`, async () => {
      const title = await page.title();
      return title.startsWith("concord:") && JSON.parse(title.slice(8)).emoji_missing.length === 0;
    });
    await page.screenshot({ path: join(out, `${name}.png`) });
    console.log(`${name}.png`);
    await context.close();
  }
} finally {
  await browser.close();
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}
