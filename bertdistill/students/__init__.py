"""The interpretable scikit-learn students: the transfer set, fitting, saving and loading, the
numpy export ``predict`` reads, and the pair features of sentence-pair tasks."""
