"""The RTMP bridge: lecture-capture boxes that only push RTMP publish the lecturer's camera and
microphone (``bridge.py``), through a small RTMP server of our own (``chunks.py``, ``amf0.py``,
``flv.py``) that refuses a wrong key before any media flows."""
