// Benchmark (not a test; run by .ci/bench-web): time from navigation to an
// interactive log-in form in headless Chromium, on links Chromium emulates
// (DevTools `Network.emulateNetworkConditions`), for
//   - "before": the web client as served before it was precompressed (the
//     browser asks for `Accept-Encoding: identity`, so it receives the raw
//     6.9 MB wasm, as it did from the old server),
//   - "after, first visit": brotli, as Chromium negotiates it now,
//   - "after, second visit": the same browser again (hashed files come from
//     its cache, index.html is revalidated with a 304).
// "Interactive" is the moment the app publishes its login state in the
// title (cargo feature `test-hooks`): the form is drawn and takes input.
//
// Needs: CONCORD_SERVER_BIN, CONCORD_WEB_ROOT (built with --features test-hooks).
// Prints one JSON line per link and case: p50 and max over RUNS navigations.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { freePort, spawnConcord } from "./concord_server.mjs";

const { CONCORD_SERVER_BIN: bin, CONCORD_WEB_ROOT: root } = process.env;
if (!bin || !root) throw new Error("set CONCORD_SERVER_BIN and CONCORD_WEB_ROOT");
const RUNS = Number(process.env.RUNS || 5);

// Bytes per second and round-trip latency of each emulated link.
const LINKS = [
  { name: "loopback", throughput: -1, latencyMs: 0 },
  { name: "broadband 50 Mbit/s, 20 ms", throughput: (50e6 / 8), latencyMs: 20 },
  { name: "4G 12 Mbit/s, 60 ms", throughput: (12e6 / 8), latencyMs: 60 },
];

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const dir = mkdtempSync(join(tmpdir(), "concord-bench-"));
const server = spawnConcord({ bin, webRoot: root, dir, port });

async function until(what, check, patienceMs = 120_000) {
  const deadline = Date.now() + patienceMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// One navigation in `page`: milliseconds until the log-in form is interactive,
// and the bytes the page received over the network (compressed, as sent).
async function timeToLogin(page, cdp) {
  let received = 0;
  const onData = (e) => (received += e.encodedDataLength);
  cdp.on("Network.dataReceived", onData);
  const started = performance.now();
  await page.goto(base + "/", { waitUntil: "commit" });
  await until("the log-in form", async () => (await page.title()).startsWith("concord:"));
  const ms = performance.now() - started;
  cdp.off("Network.dataReceived", onData);
  return { ms, received };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-unsafe-swiftshader"],
});
try {
  await until("the server", async () => (await fetch(base + "/api/health")).ok, 30_000);
  for (const link of LINKS) {
    const results = { before: [], after_first_visit: [], after_second_visit: [] };
    for (let run = 0; run < RUNS; run++) {
      for (const identity of [true, false]) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        const page = await context.newPage();
        const cdp = await context.newCDPSession(page);
        await cdp.send("Network.enable");
        await cdp.send("Network.emulateNetworkConditions", {
          offline: false,
          latency: link.latencyMs,
          downloadThroughput: link.throughput,
          uploadThroughput: link.throughput,
        });
        if (identity) await cdp.send("Network.setExtraHTTPHeaders", { headers: { "Accept-Encoding": "identity" } });
        const first = await timeToLogin(page, cdp);
        if (identity) {
          results.before.push(first);
        } else {
          results.after_first_visit.push(first);
          results.after_second_visit.push(await timeToLogin(page, cdp));
        }
        await context.close();
      }
    }
    for (const [name, runs] of Object.entries(results)) {
      const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
      console.log(JSON.stringify({
        bench: "web_navigation_to_login_form",
        link: link.name,
        case: name,
        runs: ms.length,
        p50_ms: Math.round(ms[Math.floor(ms.length / 2)]),
        max_ms: Math.round(ms[ms.length - 1]),
        received_bytes: runs[0].received,
      }));
    }
  }
} finally {
  await browser.close();
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}
