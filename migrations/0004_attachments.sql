-- Uploaded files. A row is made when the upload is stored; `message_id` is
-- set when the uploader sends it in a message (once, within an hour). The
-- bytes live in the file store (a directory or S3-compatible storage) under
-- the attachment's id, a picture's thumbnail beside them (pictures are the
-- rows with a width). A row with `discarded_at_ms` lost its bytes (never
-- sent, or its message was deleted) and stays a day only to count towards
-- its uploader's daily limit.

CREATE TABLE attachments (
    id BIGINT NOT NULL PRIMARY KEY,
    uploader_id BIGINT NOT NULL,
    name VARCHAR(255) NOT NULL,
    size BIGINT NOT NULL,
    content_type VARCHAR(255) NOT NULL,
    width BIGINT NULL,
    height BIGINT NULL,
    created_at_ms BIGINT NOT NULL,
    message_id BIGINT NULL,
    discarded_at_ms BIGINT NULL,
    FOREIGN KEY (uploader_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX attachments_by_message ON attachments (message_id);
CREATE INDEX attachments_by_uploader ON attachments (uploader_id, created_at_ms);
