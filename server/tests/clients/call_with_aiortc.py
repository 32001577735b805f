"""A WebRTC client we did not write: Python's aiortc, joining a room's call
through Concord's SFU using nothing but docs/API.md ("Calls", "Media through
the SFU") and a login. It publishes a 1000 Hz tone and a moving grey picture
(H.264 and Opus, aiortc's own payload types and header-extension ids),
receives everyone else's tracks, and prints what it received as JSON.

Usage: python3 call_with_aiortc.py BASE_URL EMAIL PASSWORD ROOM_ID SECONDS [direct|relay|turn] [PUBLISHERS]
With `relay`, both connections use only the TURN relays `call_joined` hands
out (ICE transport policy "relay"); with `turn`, those relays beside the
SFU's own address (policy "all": the relay where the direct way is blocked).
With PUBLISHERS, it leaves as soon as that many others' cameras gave it
WANTED_FRAMES frames each and their microphones a readable tone (SECONDS is
then the most it stays). With PUBLISHERS and the environment variable
CONCORD_UNTIL_STDIN_CLOSES=1 it says RECEIVED_LINE on standard error at that
point instead, and stays in the call until its standard input closes (a test
running several clients closes each once all have said it).
Exit 0 when it joined and its offer/answer exchanges all succeeded.
"""

import asyncio
import fractions
import json
import math
import os
import struct
import sys
import threading
import time

import requests
import websockets
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from av import AudioFrame, VideoFrame

BASE, EMAIL, PASSWORD, ROOM, SECONDS = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
MODE = sys.argv[6] if len(sys.argv) > 6 else "direct"
PUBLISHERS = int(sys.argv[7]) if len(sys.argv) > 7 else None
WANTED_FRAMES = 30
UNTIL_STDIN_CLOSES = os.environ.get("CONCORD_UNTIL_STDIN_CLOSES") == "1"
RECEIVED_LINE = "aiortc: received what it waits for"
WS = BASE.replace("http://", "ws://", 1) + "/api/ws"
TONE_HZ = 1000.0


class Tone(MediaStreamTrack):
    """20 ms frames of a sine, paced in real time."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self.samples = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.samples / 48000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        pcm = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * TONE_HZ * (self.samples + i) / 48000)))
            for i in range(960)
        )
        frame = AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(pcm)
        frame.sample_rate = 48000
        frame.pts = self.samples
        frame.time_base = fractions.Fraction(1, 48000)
        self.samples += 960
        return frame


class Picture(MediaStreamTrack):
    """320x180 frames whose brightness changes every frame, 15 per second."""

    kind = "video"

    def __init__(self):
        super().__init__()
        self.count = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.count / 15 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = VideoFrame(width=320, height=180, format="yuv420p")
        luma = 16 + (self.count * 7) % 200
        frame.planes[0].update(bytes([luma]) * frame.planes[0].buffer_size)
        frame.planes[1].update(bytes([128]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
        frame.pts = self.count * 6000
        frame.time_base = fractions.Fraction(1, 90000)
        self.count += 1
        return frame


def tone_of(samples):
    """The frequency of a clean tone, from its zero crossings."""
    crossings = sum(1 for a, b in zip(samples, samples[1:]) if a < 0 <= b)
    return crossings * 48000 / len(samples) if samples else None


async def main():
    auth = requests.post(f"{BASE}/api/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=10)
    assert auth.status_code == 200, auth.text
    token = auth.json()["token"]
    report = {"user_id": auth.json()["user"]["id"], "received": {}, "errors": []}

    async with websockets.connect(WS, max_size=2**20) as ws:
        async def send(frame):
            await ws.send(json.dumps(frame))

        await send({"type": "identify", "token": token})
        frames = asyncio.Queue()

        async def reader():
            async for text in ws:
                await frames.put(json.loads(text))

        reading = asyncio.create_task(reader())

        async def expect(type_):
            while True:
                frame = await asyncio.wait_for(frames.get(), 15)
                if frame["type"] == "error":
                    raise AssertionError(f"expected {type_}, got {frame}")
                if frame["type"] == type_:
                    return frame

        await expect("ready")
        await send({"type": "call_join", "request_id": "join", "room_id": ROOM, "camera": True})
        joined = await expect("call_joined")
        report["participants_at_join"] = len(joined["participants"])
        report["ice_servers"] = joined.get("ice_servers", [])
        def configuration(ice_servers):
            # One transport for every media section (docs/API.md: aiortc's
            # default "balanced" policy leaves a second video section on a
            # transport it then discards).
            servers = [RTCIceServer(s["urls"], s["username"], s["credential"]) for s in ice_servers]
            bundle = RTCBundlePolicy.MAX_BUNDLE
            if MODE == "relay":
                return RTCConfiguration(
                    iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY, bundlePolicy=bundle
                )
            if MODE == "turn":
                return RTCConfiguration(iceServers=servers, bundlePolicy=bundle)
            return RTCConfiguration(bundlePolicy=bundle)

        config = configuration(report["ice_servers"])

        # Publishing connection: we offer our two tracks.
        publisher = RTCPeerConnection(config)
        tone, picture = Tone(), Picture()
        publisher.addTrack(tone)
        publisher.addTrack(picture)
        await publisher.setLocalDescription(await publisher.createOffer())
        report["offered_candidate_types"] = sorted(
            {line.split(" typ ")[1].split()[0] for line in publisher.localDescription.sdp.splitlines() if " typ " in line}
        )
        tracks = [{"track_id": tone.id, "source": "microphone"}, {"track_id": picture.id, "source": "camera"}]
        await send({"type": "call_publish", "room_id": ROOM, "sdp": publisher.localDescription.sdp, "tracks": tracks})

        subscriber = None
        offered = {}
        consumers = []

        async def consume(track, info):
            entry = {"kind": info["source"], "frames": 0}
            report["received"].setdefault(info["user_id"], []).append(entry)
            samples = []
            try:
                while True:
                    frame = await track.recv()
                    entry["frames"] += 1
                    if track.kind == "audio" and len(samples) < 48000:
                        channels = len(frame.layout.channels)
                        # Packed s16; the plane may be padded past the samples.
                        raw = bytes(frame.planes[0])[: frame.samples * channels * 2]
                        values = struct.unpack(f"<{len(raw) // 2}h", raw)
                        samples.extend(values[::channels])
                        entry["tone_hz"] = tone_of(samples[-24000:]) if len(samples) >= 24000 else None
            except Exception:  # the track ended
                pass

        def received_enough():
            if PUBLISHERS is None:
                return False
            done = [
                user for user, tracks in report["received"].items()
                if any(t["kind"] == "camera" and t["frames"] >= WANTED_FRAMES for t in tracks)
                and any(t["kind"] == "microphone" and t.get("tone_hz") for t in tracks)
            ]
            return len(done) >= PUBLISHERS

        # Standard input's end, watched by a daemon thread (it never holds up the exit).
        stdin_closed = asyncio.Event()
        loop = asyncio.get_running_loop()

        def watch_stdin():
            sys.stdin.read()
            loop.call_soon_threadsafe(stdin_closed.set)

        if UNTIL_STDIN_CLOSES:
            threading.Thread(target=watch_stdin, daemon=True).start()
        said = False

        def done():
            nonlocal said
            if not received_enough():
                return False
            if not UNTIL_STDIN_CLOSES:
                return True
            if not said:
                said = True
                print(RECEIVED_LINE, file=sys.stderr, flush=True)
            return stdin_closed.is_set()

        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline and not done():
            try:
                frame = await asyncio.wait_for(frames.get(), min(0.2, max(0.01, deadline - time.monotonic())))
            except asyncio.TimeoutError:
                continue
            kind = frame["type"]
            if kind == "call_publish_answer":
                await publisher.setRemoteDescription(RTCSessionDescription(frame["sdp"], "answer"))
            elif kind == "call_subscribe_offer":
                if subscriber is None:
                    # The offer brings fresh credentials for the receiving connection.
                    report["offer_ice_servers"] = frame.get("ice_servers", [])
                    subscriber = RTCPeerConnection(configuration(report["offer_ice_servers"]))

                    @subscriber.on("track")
                    def on_track(track):
                        info = offered.get(track.id, {"user_id": "?", "source": track.kind})
                        consumers.append(asyncio.ensure_future(consume(track, info)))

                offered.update({t["track_id"]: t for t in frame["tracks"]})
                await subscriber.setRemoteDescription(RTCSessionDescription(frame["sdp"], "offer"))
                await subscriber.setLocalDescription(await subscriber.createAnswer())
                await send({
                    "type": "call_subscribe_answer", "room_id": ROOM,
                    "offer_id": frame["offer_id"], "sdp": subscriber.localDescription.sdp,
                })
            elif kind == "error":
                report["errors"].append(frame["error"])

        report["publisher_state"] = publisher.connectionState
        report["subscriber_state"] = subscriber.connectionState if subscriber else None
        await send({"type": "call_leave", "room_id": ROOM})
        for task in consumers:
            task.cancel()
        await publisher.close()
        if subscriber:
            await subscriber.close()
        reading.cancel()

    print(json.dumps(report))
    return 0 if not report["errors"] and report["publisher_state"] == "connected" else 1


sys.exit(asyncio.run(main()))
