"""Knowledge capsules: short clips cut from a lesson's archive (``cut``), kept apart from the
recording so they outlive it."""
