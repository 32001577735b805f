// `trunk serve` (the development server, gui/Trunk.toml) serves the web
// client on 127.0.0.1:8080 and proxies the API and the websocket to a Concord
// server on 127.0.0.1:8000. Both ports are the ones Trunk.toml names.
//
// Needs: CONCORD_SERVER_BIN, and trunk 0.21.14 + wasm-bindgen on PATH
// (.ci/setup installs them). Run by .ci/test, which sets
// TRUNK_BUILD_CARGO_PROFILE=web-release and TRUNK_BUILD_FEATURES=test-hooks:
// trunk then finds the web client .ci/build-web has just compiled (same
// binary, profile and features) and only runs wasm-bindgen on it, instead
// of compiling a debug build of the client of its own.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const GUI_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
const SERVER = "http://127.0.0.1:8000";
const DEV = "http://127.0.0.1:8080";
let server, trunk, dir, browser;

async function waitFor(what, ms, check) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out waiting for ${what}`);
}

before(async () => {
  assert.ok(process.env.CONCORD_SERVER_BIN, "set CONCORD_SERVER_BIN");
  for (const url of [SERVER, DEV]) {
    const busy = await fetch(url).then(() => true, () => false);
    assert.ok(!busy, `${url} is already in use; stop what runs there (Trunk.toml fixes these ports)`);
  }
  dir = mkdtempSync(join(tmpdir(), "concord-dev-"));
  server = spawn(process.env.CONCORD_SERVER_BIN, [], {
    env: {
      ...process.env,
      ROCKET_CONFIG: join(dir, "none.toml"),
      ROCKET_ADDRESS: "127.0.0.1",
      ROCKET_MEDIA_UDP_ADDRESS: "127.0.0.1:0",
      ROCKET_PORT: "8000",
      ROCKET_LOG_LEVEL: "off",
      ROCKET_DATA_DIR: dir,
      ROCKET_DATABASES: `{main={url="sqlite://${dir}/concord.db?mode=rwc"}}`,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  trunk = spawn("trunk", ["serve"], {
    cwd: GUI_DIR,
    env: { ...process.env, TRUNK_SKIP_VERSION_CHECK: "true", NO_COLOR: "true" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitFor("the Concord server", 30_000, async () => (await fetch(SERVER + "/api/health")).ok);
  // Without a build to reuse, the first one compiles the client for wasm32
  // (minutes on a cold cache).
  await waitFor("trunk serve", 900_000, async () => (await (await fetch(DEV + "/")).text()).includes("concord_canvas"));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--enable-unsafe-swiftshader"],
  });
});

after(async () => {
  await browser?.close();
  trunk?.kill();
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("trunk serve proxies the API and the websocket to the server", async () => {
  const health = await (await fetch(DEV + "/api/health")).json();
  assert.equal(health.status, "ok");
  const response = await fetch(DEV + "/api/auth/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "dev@example.com", username: "dev", password: "correct horse" }),
  });
  assert.equal(response.status, 201);
  const { token } = await response.json();

  // The page served by trunk can open the realtime websocket through the proxy.
  const page = await browser.newPage();
  await page.goto(DEV + "/");
  const first = await page.evaluate(
    (token) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://${location.host}/api/ws`);
        ws.onopen = () => ws.send(JSON.stringify({ type: "identify", token }));
        ws.onmessage = (event) => resolve(JSON.parse(event.data));
        ws.onerror = () => reject(new Error("websocket failed"));
        setTimeout(() => reject(new Error("no frame within 10 s")), 10_000);
      }),
    token,
  );
  assert.equal(first.type, "ready");
  assert.equal(first.me.username, "dev");
});
