-- The workflow service's directory of users as the lead service knows it
-- from UserChanged events: who is an active user, so that AssignLead
-- refuses anyone else. While it is empty (no directory kept yet) owners
-- are not checked. version is the user's: an older event changes nothing.
CREATE TABLE directory_users (
    id          text PRIMARY KEY,
    active      boolean NOT NULL,
    deleted     boolean NOT NULL DEFAULT false,
    version     bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
