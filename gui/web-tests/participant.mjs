// The web client as a call participant another program drives: a Rust test
// (gui/tests/call_kittest.rs) puts it in the same call as the desktop app.
//
//   node participant.mjs BASE EMAIL PASSWORD ROOM_LABEL
//
// Starts headless Chromium with fake devices, opens BASE, logs in, opens
// the room and joins its call with camera and microphone (Ctrl+Shift+J).
// Prints the app's state (the test-hooks JSON) as one line on stdout
// whenever it changes, and takes one command per line on stdin: `mute`
// (Ctrl+Shift+M), `leave` (Ctrl+Shift+H), `quit`. Exits 1, with why on
// stderr, when a step fails.

import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import { appState, launchChromium, logInAndOpenRoom, press } from "./page.mjs";

const [base, email, password, label] = process.argv.slice(2);
if (!label) {
  console.error("usage: node participant.mjs BASE EMAIL PASSWORD ROOM_LABEL");
  process.exit(2);
}

const browser = await launchChromium(chromium, [
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
]);
let quitting = false;
const quit = async (code) => {
  quitting = true;
  await browser.close().catch(() => {});
  process.exit(code);
};
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.on("pageerror", (error) => console.error(`pageerror: ${error.message}`));
  await page.goto(base + "/");
  await logInAndOpenRoom(page, email, password, label);
  await press(page, "Control+Shift+J");
  const keys = { mute: "Control+Shift+M", leave: "Control+Shift+H" };
  createInterface({ input: process.stdin }).on("line", async (line) => {
    const command = line.trim();
    if (command === "quit") return quit(0);
    if (keys[command]) await press(page, keys[command]);
    else console.error(`unknown command: ${command}`);
  });
  process.stdin.on("end", () => quit(0));
  let last = "";
  while (!quitting) {
    const state = JSON.stringify(await appState(page));
    if (state !== last) {
      process.stdout.write(state + "\n");
      last = state;
    }
    await page.waitForTimeout(100);
  }
} catch (error) {
  if (!quitting) {
    console.error(`the web participant failed: ${error.stack ?? error}`);
    await quit(1);
  }
}
