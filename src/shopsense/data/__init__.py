"""Data: the schema, the store, views for models, and loaders of public data sets."""
