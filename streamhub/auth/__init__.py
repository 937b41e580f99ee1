"""Access tokens, device credentials and the secrets that sign them."""
