"""A client we did not write in Rust: Python with `requests` and
`websocket-client`, using nothing but docs/API.md. It registers two people,
makes them friends, makes a room, adds a member, chats, and joins, updates
and leaves the room's call over the websocket, checking every answer and
event the document promises, in order.

Usage: python3 rooms_and_calls.py http://127.0.0.1:PORT   (exit 0 = all held)
"""

from plain_client import Socket, call, register


ada_token, ada = register("ada")
bob_token, bob = register("bob")

# Friends: an invite and an invite back (the document: inviting back accepts).
call("POST", "/api/invites", ada_token, {"email": bob["email"]}, expect=201)
assert call("POST", "/api/invites", bob_token, {"email": ada["email"]})["result"] == "became_friends"

ada_ws = Socket(ada_token)
bob_ws = Socket(bob_token)

# A room; bob is added and sees it live; members see names, not emails.
room = call("POST", "/api/rooms", ada_token, {"label": "Python room"}, expect=201)
assert room["owner_id"] == ada["id"] and room["in_call"] == [], room
ada_ws.expect("room_added")
room = call("POST", f"/api/rooms/{room['id']}/members", ada_token, {"user_id": bob["id"]})
assert [m["username"] for m in room["members"]] == ["ada", "bob"], room
assert "email" not in room["members"][1], room
added = bob_ws.expect("room_added")
assert added["room"]["id"] == room["id"]
ada_ws.expect("room_member_added", room_id=room["id"], member={"id": bob["id"], "username": "bob"})

# Chat: stored before acknowledged, sent to both, a resend is deduplicated.
sent = call("POST", f"/api/rooms/{room['id']}/messages", bob_token, {"content": "hello from python", "nonce": "py-1"}, expect=201)
for socket in (ada_ws, bob_ws):
    assert socket.expect("room_message_created")["message"] == sent
again = call("POST", f"/api/rooms/{room['id']}/messages", bob_token, {"content": "changed", "nonce": "py-1"}, expect=200)
assert again == sent
# The original is announced again (its first event may have been lost with
# the first answer); a client keeps one copy per id.
for socket in (ada_ws, bob_ws):
    assert socket.expect("room_message_created")["message"] == sent
page = call("GET", f"/api/rooms/{room['id']}/messages?limit=10", ada_token)
assert [m["content"] for m in page["messages"]] == ["hello from python"] and page["has_more"] is False

# The call: bob joins with his camera; his own change comes first, then the answer.
bob_ws.send({"type": "call_join", "request_id": "j1", "room_id": room["id"], "camera": True})
joined = bob_ws.expect("call_participant_joined", room_id=room["id"])
assert joined["participant"]["user_id"] == bob["id"] and joined["participant"]["camera"] is True
answer = bob_ws.expect("call_joined", request_id="j1", room_id=room["id"])
assert [p["user_id"] for p in answer["participants"]] == [bob["id"]]
ada_ws.expect("call_participant_joined", room_id=room["id"])
listed = call("GET", "/api/rooms", ada_token)["rooms"][0]
assert [(p["user_id"], p["camera"], p["muted"]) for p in listed["in_call"]] == [(bob["id"], True, False)], listed

# Muting is told to everyone; the answer carries the request id.
bob_ws.send({"type": "call_update", "request_id": "u1", "room_id": room["id"], "muted": True, "camera": True})
bob_ws.expect("call_participant_updated", room_id=room["id"])
updated = bob_ws.expect("call_updated", request_id="u1")
assert updated["participant"]["muted"] is True
assert ada_ws.expect("call_participant_updated")["participant"]["muted"] is True

# Ada is not in the call: updating it is refused, typed, with her request id.
ada_ws.send({"type": "call_update", "request_id": "bad", "room_id": room["id"], "muted": True})
refused = ada_ws.expect("error", request_id="bad")
assert refused["error"]["code"] == "not_in_call", refused

# Bob leaves; then the owner deletes the room.
bob_ws.send({"type": "call_leave", "request_id": "l1", "room_id": room["id"]})
bob_ws.expect("call_participant_left", room_id=room["id"], user_id=bob["id"], reason="left")
bob_ws.expect("call_left", request_id="l1", reason="left")
ada_ws.expect("call_participant_left", user_id=bob["id"], reason="left")
call("DELETE", f"/api/rooms/{room['id']}", ada_token, expect=204)
for socket in (ada_ws, bob_ws):
    socket.expect("room_removed", room_id=room["id"], reason="deleted")
print("ok: rooms and calls through requests + websocket-client, from docs/API.md alone")
