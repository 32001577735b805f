-- Rooms: a named group owned by one user; every member, the owner included,
-- has a row in room_members. Deleting a room deletes its members and chat.

CREATE TABLE rooms (
    id BIGINT NOT NULL PRIMARY KEY,
    label VARCHAR(255) NOT NULL,
    owner_id BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX rooms_owner ON rooms (owner_id);

CREATE TABLE room_members (
    room_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    added_at_ms BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id),
    FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX room_members_user ON room_members (user_id, room_id);

-- A room's in-call chat. A nonce is unique per sender and room.
CREATE TABLE room_messages (
    id BIGINT NOT NULL PRIMARY KEY,
    room_id BIGINT NOT NULL,
    sender_id BIGINT NOT NULL,
    nonce VARCHAR(64) NOT NULL,
    content TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX room_messages_history ON room_messages (room_id, id);
CREATE UNIQUE INDEX room_messages_nonce ON room_messages (room_id, sender_id, nonce);
