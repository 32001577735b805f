"""A client we did not write in Rust: Python with `requests` and
`websocket-client`, using nothing but docs/API.md ("Editing, deleting,
replying, reacting, mentioning" and "Pictures and files"). In a DM and in a
room it replies to a message, mentions someone, reacts (percent-encoded
emoji), edits (and retries the edit with its nonce), deletes, and checks
every answer, every event in order on the other person's socket, and the
history afterwards. It searches both conversations by words ("Search"), then
uploads a picture and a file, sends them, and downloads them by their links as
the friend; a stranger cannot.

Usage: python3 chat_depth.py http://127.0.0.1:PORT   (exit 0 = all held)
"""

import struct
import urllib.parse
import uuid
import zlib

import requests

from plain_client import BASE, Socket, call, register


def reaction_path(message_path, emoji):
    return f"{message_path}/reactions/{urllib.parse.quote(emoji, safe='')}"


ada_token, ada = register("ada")
bob_token, bob = register("bob")
call("POST", "/api/invites", ada_token, {"email": bob["email"]}, expect=201)
assert call("POST", "/api/invites", bob_token, {"email": ada["email"]})["result"] == "became_friends"
bob_ws = Socket(bob_token)

for conv, bobs_conv in [(f"dms/{bob['id']}", f"dms/{ada['id']}"), (None, None)]:
    if conv is None:  # the same again in a room Ada owns, Bob in it
        room = call("POST", "/api/rooms", ada_token, {"label": "Python chat"}, expect=201)
        call("POST", f"/api/rooms/{room['id']}/members", ada_token, {"user_id": bob["id"]})
        bob_ws.expect("room_added")
        conv = bobs_conv = f"rooms/{room['id']}"
    created, updated, deleted = (
        ("message_created", "message_updated", "message_deleted")
        if conv.startswith("dms/")
        else ("room_message_created", "room_message_updated", "room_message_deleted")
    )

    # A question, and an answer to it that mentions Bob.
    question = call("POST", f"/api/{conv}/messages", ada_token, {"content": "lunch?", "nonce": uuid.uuid4().hex}, expect=201)
    text = f"<@{bob['id']}> noon at the usual place"
    answer = call("POST", f"/api/{conv}/messages", ada_token,
                  {"content": text, "nonce": uuid.uuid4().hex, "reply_to": question["id"]}, expect=201)
    assert answer["reply_to"] == question["id"], answer
    assert answer["reply_preview"] == {"id": question["id"], "sender_id": ada["id"], "content": "lunch?"}, answer
    assert answer["mentions"] == [bob["id"]] and answer["reactions"] == [] and answer["edited_at_ms"] is None, answer
    bob_ws.expect(created)
    assert bob_ws.expect(created)["message"]["mentions"] == [bob["id"]]

    # Bob reacts (twice: one reaction), then takes it back.
    path = f"/api/{conv}/messages/{answer['id']}"
    bobs_path = f"/api/{bobs_conv}/messages/{answer['id']}"
    for _ in range(2):
        call("PUT", reaction_path(bobs_path, "👍🏽"), bob_token, expect=204)
    event = bob_ws.expect("reaction_added", message_id=answer["id"], emoji="👍🏽", user_id=bob["id"])
    assert event["conversation"] == bobs_conv, event
    page = call("GET", f"/api/{bobs_conv}/messages", bob_token)
    assert page["messages"][0]["reactions"] == [{"emoji": "👍🏽", "count": 1, "me": True, "user_ids": [bob["id"]]}], page
    assert call("GET", f"/api/{conv}/messages", ada_token)["messages"][0]["reactions"][0]["me"] is False
    call("DELETE", reaction_path(bobs_path, "👍🏽"), bob_token, expect=204)
    bob_ws.expect("reaction_removed", message_id=answer["id"], emoji="👍🏽")
    assert call("PUT", reaction_path(bobs_path, "ok"), bob_token, expect=422)["error"]["field"] == "emoji"

    # Bob may not edit Ada's message; Ada edits, and a retry with the nonce is one edit.
    error = call("PATCH", bobs_path, bob_token, {"content": "mine now"}, expect=403)["error"]
    assert error["code"] == "not_author", error
    edit = {"content": f"<@{bob['id']}> one o'clock instead", "nonce": "edit-1"}
    edited = call("PATCH", path, ada_token, edit)
    assert edited["edited_at_ms"] is not None and edited["content"] == edit["content"], edited
    assert call("PATCH", path, ada_token, edit) == edited
    assert bob_ws.expect(updated)["message"]["content"] == edit["content"]

    # Deleting the question: the answer keeps reply_to, its preview goes.
    call("DELETE", f"/api/{conv}/messages/{question['id']}", ada_token, expect=204)
    bob_ws.expect(deleted, id=question["id"], conversation=bobs_conv)
    history = call("GET", f"/api/{bobs_conv}/messages", bob_token)["messages"]
    assert [m["id"] for m in history] == [answer["id"]], history
    assert history[0]["reply_to"] == question["id"] and history[0]["reply_preview"] is None, history
    assert history[0]["content"] == edit["content"] and history[0]["edited_at_ms"] == edited["edited_at_ms"]
    assert call("DELETE", f"/api/{conv}/messages/{question['id']}", ada_token, expect=404)["error"]["code"] == "message_not_found"

    # Nothing else reached Bob: a heartbeat's answer comes next.
    bob_ws.send({"type": "heartbeat", "request_id": "end"})
    bob_ws.expect("heartbeat_ack", request_id="end")

# Search: the answers' words after the edit (not before), in both places, newest first.
def search(token, expect=200, **query):
    return call("GET", "/api/search?" + urllib.parse.urlencode(query), token, expect=expect)


found = search(bob_token, q="O'CLOCK inst")
assert [m["conversation"] for m in found["messages"]] == [f"rooms/{room['id']}", f"dms/{ada['id']}"], found
assert found["has_more"] is False and all("one o'clock instead" in m["content"] for m in found["messages"])
assert search(bob_token, q="noon")["messages"] == [], "an edit takes the old words out"
only_dm = search(bob_token, q="instead", **{"in": f"dms/{ada['id']}"})
assert [m["sender_id"] for m in only_dm["messages"]] == [ada["id"]], only_dm
one = search(bob_token, q="instead", limit=1)
older = search(bob_token, q="instead", limit=1, before=one["messages"][0]["id"])
assert one["has_more"] and [m["conversation"] for m in older["messages"]] == [f"dms/{ada['id']}"], older
assert search(bob_token, q="?!", expect=422)["error"]["field"] == "q"


def png(width, height, comment):
    """An RGB PNG with a text chunk, written with the standard library."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 120)) for x in range(width))
                    for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", b"Comment\0" + comment)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def upload(token, name, content_type, data, expect=201):
    response = requests.post(f"{BASE}/api/attachments", params={"name": name}, data=data, timeout=30,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    assert response.status_code == expect, f"upload {name}: {response.status_code} {response.text}"
    return response.json()


def download(url, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(BASE + url, headers=headers, timeout=30)


# Ada sends Bob a picture (its text chunk must not travel) and a file.
picture = upload(ada_token, "cat.png", "image/png", png(640, 360, b"taken at 12 Elm Street"))
assert (picture["content_type"], picture["width"], picture["height"]) == ("image/png", 640, 360), picture
notes = b"milk\neggs\n" * 1000
document = upload(ada_token, "list.txt", "text/plain", notes)
assert document["size"] == len(notes) and "thumbnail_url" not in document, document
sent = call("POST", f"/api/dms/{bob['id']}/messages", ada_token,
            {"content": "", "nonce": uuid.uuid4().hex, "attachments": [picture["id"], document["id"]]}, expect=201)
event = bob_ws.expect("message_created")["message"]
assert [a["id"] for a in event["attachments"]] == [picture["id"], document["id"]], event
shown = download(event["attachments"][0]["url"])  # a signed link needs no token
assert shown.status_code == 200 and shown.headers["Content-Type"] == "image/png", shown
assert shown.content.startswith(b"\x89PNG") and b"12 Elm Street" not in shown.content
assert struct.unpack(">II", shown.content[16:24]) == (640, 360)
thumbnail = download(event["attachments"][0]["thumbnail_url"])
assert thumbnail.status_code == 200 and thumbnail.headers["Content-Type"] == "image/jpeg", thumbnail
saved = download(event["attachments"][1]["url"])
assert saved.content == notes and saved.headers["Content-Disposition"] == "attachment; filename*=UTF-8''list.txt"
# Someone who is not in the conversation: not found, with a token and without a link.
carol_token, carol = register("carol")
missing = download(f"/api/attachments/{picture['id']}", carol_token)
assert search(carol_token, q="instead")["messages"] == [], "a stranger finds nothing of theirs"
assert missing.status_code == 404 and missing.json()["error"]["code"] == "attachment_not_found", missing.text
# An upload is sent once.
again = call("POST", f"/api/dms/{bob['id']}/messages", ada_token,
             {"content": "again", "nonce": uuid.uuid4().hex, "attachments": [picture["id"]]}, expect=422)
assert again["error"]["code"] == "attachment_unavailable", again
bob_ws.send({"type": "heartbeat", "request_id": "files"})
bob_ws.expect("heartbeat_ack", request_id="files")

print("ok: chat depth")
