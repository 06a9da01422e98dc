"""The embedded demo: every sandbox, seeded data, the worker and the web app on one machine."""
