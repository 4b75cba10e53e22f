"""Text: turning product titles, descriptions and reviews into vectors."""

from shopsense.text.embeddings import SentenceEncoder

__all__ = ["SentenceEncoder"]
