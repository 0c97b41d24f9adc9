-- What the network says about a contact, cached: whether it is a business, and when its profile
-- (about, picture, business) was last fetched (NULL: never, or the contact changed it since).
ALTER TABLE contacts ADD COLUMN is_business BIGINT NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN profile_fetched_at BIGINT NULL;
