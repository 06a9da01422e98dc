"""Rehosting profile pictures: fetch safely, store once per content, serve from our own URL."""
