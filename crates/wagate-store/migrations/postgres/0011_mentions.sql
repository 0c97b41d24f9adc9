-- Mentions (§17.1): the JSON list of the numbers a text mentions; NULL for none.
ALTER TABLE messages ADD COLUMN mentions TEXT NULL;
