// A native `concord-bot` for the browser tests: joins `room` as `email`
// for `seconds`, sending its stamped test pattern and a tone and decoding
// what it receives; `done` resolves with its JSON report and exit code.
// With `untilLeave`, `seconds` is only its deadline: it stays until the test
// calls `leave()` (its standard input closes), once it has seen what it waits for.

import { spawn } from "node:child_process";

export function runBot({ bin, base, room, email, password, seconds, extra = [], untilLeave = false }) {
  const bot = spawn(bin, [
    "--server", base, "--email", email, "--password", password, "--room", room,
    "--seconds", String(seconds), "--video", "pattern", "--audio", "tone", "--decode", "all",
    ...(untilLeave ? ["--until-stdin-closes"] : []), ...extra,
  ], { stdio: [untilLeave ? "pipe" : "ignore", "pipe", "inherit"] });
  const leave = () => bot.stdin?.end();
  let out = "";
  bot.stdout.on("data", (chunk) => (out += chunk));
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => { bot.kill("SIGKILL"); reject(new Error("the bot did not finish")); }, (seconds + 60) * 1000);
    bot.on("exit", (code) => {
      clearTimeout(timer);
      try {
        resolve({ code, report: JSON.parse(out) });
      } catch (e) {
        reject(new Error(`the bot's output is not JSON (${e}): ${out}`));
      }
    });
  });
  return { bot, done, leave };
}
