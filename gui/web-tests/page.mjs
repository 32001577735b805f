// What the browser tests and benchmarks share: the public API over fetch,
// keys and text at a person's pace, and the app's state, which the web
// client publishes as JSON in document.title (cargo feature `test-hooks`).

// `api(method, path, token, body)` against the server at `base()`: the
// parsed JSON answer; a failed request throws with the server's reply.
export function apiAt(base) {
  return async (method, path, token, body) => {
    const response = await fetch(base() + path, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

// Ada and a bot (ada@… and bot@example.com, `password`), friends, both
// members of a room `label` ada owns: { ada, bot, room } as the API gave them.
export async function adaAndBotInRoom(api, password, label) {
  const ada = await api("POST", "/api/auth/register", null, { email: "ada@example.com", username: "ada", password });
  const bot = await api("POST", "/api/auth/register", null, { email: "bot@example.com", username: "bot", password });
  await api("POST", "/api/invites", bot.token, { email: "ada@example.com" });
  await api("POST", "/api/invites", ada.token, { email: "bot@example.com" });
  const room = await api("POST", "/api/rooms", ada.token, { label });
  await api("POST", `/api/rooms/${room.id}/members`, ada.token, { user_id: bot.user.id });
  return { ada, bot, room };
}

// Does `action` (keys, a click) and returns once the app has run a frame
// after it. egui takes input at the start of a frame and moves the
// keyboard focus (Tab, a click) in the frame that handles it, so what is
// sent next goes to the new field. eframe's frame is an animation-frame
// callback it renews every time, so it is queued before ours: two of
// ours have run only after a frame that saw everything sent before them.
export async function afterFrame(page, action) {
  await action();
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
}

export async function press(page, key) {
  await afterFrame(page, () => page.keyboard.press(key));
}

export async function type(page, text) {
  await afterFrame(page, () => page.keyboard.type(text, { delay: 20 }));
}

// Clicks the text field at (x, y) and waits until it has the keyboard.
export async function clickField(page, x, y) {
  await afterFrame(page, () => page.mouse.click(x, y));
  await waitForState(page, `a text field at ${x},${y} to take the keyboard`, (s) => s.typing);
}

// The app's state, or null before it first publishes one.
export async function appState(page) {
  const title = await page.title();
  return title.startsWith("concord:") ? JSON.parse(title.slice("concord:".length)) : null;
}

// The first state that satisfies `predicate` within `patienceMs`; throws
// with the last state seen otherwise.
export async function waitForState(page, what, predicate, patienceMs = 30_000) {
  const deadline = Date.now() + patienceMs;
  let last = null;
  while (Date.now() < deadline) {
    last = await appState(page);
    if (last && predicate(last)) return last;
    await page.waitForTimeout(50);
  }
  throw new Error(`timed out waiting for ${what}; last state: ${JSON.stringify(last)}`);
}

// Chromium flags every browser test and benchmark uses: headless, software
// WebGL (SwiftShader), nothing that talks to the network by itself.
export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--enable-unsafe-swiftshader",
];

// Debian's Chromium (or $CHROMIUM, or the launcher `executablePath`) with
// those flags and `extra` ones.
export function launchChromium(chromium, extra = [], executablePath = process.env.CHROMIUM || "/usr/bin/chromium") {
  return chromium.launch({ executablePath, args: [...CHROMIUM_ARGS, ...extra] });
}

// Polls `probe` (an async function returning a value, or something falsy)
// every `everyMs` until it returns a value, for at most `patienceMs`;
// throws with the last answer otherwise.
export async function waitFor(what, probe, { patienceMs = 30_000, everyMs = 100 } = {}) {
  const deadline = Date.now() + patienceMs;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

// Logs in on the log-in form (the page at 1280×800) as `email` and opens
// the only room, `label`, with Ctrl+K; calls must be available there.
export async function logInAndOpenRoom(page, email, password, label) {
  await waitForState(page, "the log-in form", (s) => s.screen === "login" && s.mode === "Login");
  await clickField(page, 640, 235);
  await type(page, email);
  await press(page, "Tab");
  await type(page, password);
  await press(page, "Enter");
  await waitForState(page, "logged in with the room", (s) => s.online && s.rooms.length === 1 && s.calls_supported);
  await press(page, "Control+k");
  await type(page, label.slice(0, 5).toLowerCase());
  await press(page, "Enter");
  await waitForState(page, "the room", (s) => s.selected_room === label);
}
