"""Distil a fine-tuned BERT sentiment teacher into interpretable scikit-learn students."""

__version__ = "0.1.0"
