"""Live lessons: rooms of participants, hands, stage, and the registry of live lessons.

Nothing here imports aiortc: media lives in streamhub.media.
"""
