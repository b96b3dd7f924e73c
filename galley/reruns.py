"""The one signal that work must run again from the start (`galley.db.Database.run`)."""


class Rerun(Exception):
    """Raised by work that acted on rows read without a lock and found, under the lock,
    that they had moved, or whose stock was taken with others' that could not all be
    taken (`galley.convoys`): `Database.run` runs it again from the start, locking first."""
