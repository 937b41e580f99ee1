"""The term timetable as a file: import from CSV or XLSX (a dry run lists every error by row and
column), export in the same format, and the lecturers' and classrooms' calendar feeds.
The format is documented in docs/timetable.md."""
