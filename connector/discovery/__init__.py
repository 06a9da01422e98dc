"""Saved creator searches: page through discovery, skip known creators, append new ones."""
