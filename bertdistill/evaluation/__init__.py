"""Accuracy with 95% intervals, paired comparisons, the evaluate stage's report, and curves over
finished experiments."""
