-- Concord schema, portable between SQLite and MySQL/MariaDB: BIGINT ids made by
-- the server (time-ordered), epoch milliseconds in BIGINT, no AUTO_INCREMENT,
-- no BOOLEAN, no DATETIME.

CREATE TABLE users (
    id BIGINT NOT NULL PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    username VARCHAR(64) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);

-- Pending invites only: accepting, rejecting or cancelling deletes the row,
-- so inviting again later works.
CREATE TABLE friend_invites (
    id BIGINT NOT NULL PRIMARY KEY,
    sender_id BIGINT NOT NULL,
    receiver_id BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE CASCADE,
    FOREIGN KEY (receiver_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX friend_invites_pair ON friend_invites (sender_id, receiver_id);
CREATE INDEX friend_invites_receiver ON friend_invites (receiver_id);

-- A friendship is two rows, one per direction, so "my friends" is one index range.
CREATE TABLE friendships (
    user_id BIGINT NOT NULL,
    friend_id BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, friend_id),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    FOREIGN KEY (friend_id) REFERENCES users (id) ON DELETE CASCADE
);

-- A conversation is the pair (user_low, user_high) with user_low < user_high.
CREATE TABLE direct_messages (
    id BIGINT NOT NULL PRIMARY KEY,
    user_low BIGINT NOT NULL,
    user_high BIGINT NOT NULL,
    sender_id BIGINT NOT NULL,
    recipient_id BIGINT NOT NULL,
    nonce VARCHAR(64) NOT NULL,
    content TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE CASCADE,
    FOREIGN KEY (recipient_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX direct_messages_conversation ON direct_messages (user_low, user_high, id);
CREATE INDEX direct_messages_inbox ON direct_messages (recipient_id, sender_id, id);
CREATE UNIQUE INDEX direct_messages_nonce ON direct_messages (sender_id, nonce);

-- The newest message each user has read in each conversation.
CREATE TABLE dm_read_state (
    user_id BIGINT NOT NULL,
    peer_id BIGINT NOT NULL,
    last_read_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, peer_id),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
