"""The lesson catalog: schools, classrooms, lessons, device credentials, attendance, recordings."""
