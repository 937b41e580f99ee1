"""The classroom agent: an unattended classroom PC that joins its lessons by itself."""
