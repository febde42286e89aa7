"""The prepare stage's work: reading a labelled source, cleaning it, cutting seeded splits, and the
synthetic variants of the labelled texts the teacher labels."""
