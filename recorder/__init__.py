"""The recorder: joins a live lesson as a hidden subscriber, writes each track crash-safe as it
arrives (no transcoding), and finalizes the lesson's archive after it ends."""
