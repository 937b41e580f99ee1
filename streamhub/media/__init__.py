"""Media on the hub: the encoded-frame tap, forwarding, keyframes, peer connections, ICE."""
