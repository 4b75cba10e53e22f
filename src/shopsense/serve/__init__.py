"""The HTTP service: `create_app(settings)` and what it is made of."""
