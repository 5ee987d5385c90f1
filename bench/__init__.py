"""`make bench`: the performance figures of issue 11, measured on this machine against baselines of the same run."""
