-- Chat depth: edits, replies and reactions, for direct and room messages alike.
-- A deleted message's row is gone (a reply that pointed at it keeps its
-- reply_to and shows the original was deleted).

ALTER TABLE direct_messages ADD COLUMN edited_at_ms BIGINT NULL;
ALTER TABLE direct_messages ADD COLUMN edit_nonce VARCHAR(64) NULL;
ALTER TABLE direct_messages ADD COLUMN reply_to BIGINT NULL;
ALTER TABLE room_messages ADD COLUMN edited_at_ms BIGINT NULL;
ALTER TABLE room_messages ADD COLUMN edit_nonce VARCHAR(64) NULL;
ALTER TABLE room_messages ADD COLUMN reply_to BIGINT NULL;

-- One row per person and emoji on a message (ids are unique across both
-- message tables). The emoji is stored as the hex of its UTF-8 bytes: MariaDB's
-- default collations compare most emoji as equal, and SQLite has no other.
CREATE TABLE message_reactions (
    message_id BIGINT NOT NULL,
    emoji_hex VARCHAR(128) NOT NULL,
    user_id BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (message_id, emoji_hex, user_id),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
