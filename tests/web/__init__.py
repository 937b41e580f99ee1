"""Tests of the web pages in a real headless Chromium."""
