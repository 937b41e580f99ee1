"""The roles of people's accounts (docs/roles.md). Not the protocol's ``Role``: that one names
who is in a live lesson; these name what a person may manage."""

from __future__ import annotations

from enum import StrEnum


class AccountRole(StrEnum):
    COUNTY_ADMIN = "county_admin"  # everything, as the admin key
    SCHOOL_ADMIN = "school_admin"  # their school's classrooms, PCs, lessons and attendance
    LECTURER = "lecturer"  # their own lessons and those lessons' recordings
    STAFF = "staff"  # the library and the timetable, read-only


# A school admin may manage only these accounts, and only of their own school.
SCHOOL_MANAGED = frozenset({AccountRole.LECTURER, AccountRole.STAFF})
