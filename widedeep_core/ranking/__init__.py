"""Ranking: the one kernel (mask, top-K, the tie rule), the split-layer pair scorer and
the two-stage ranking of retrieval candidates. Recommendations and the ranking metrics
both rank through here, so the metrics judge exactly the lists users see."""
