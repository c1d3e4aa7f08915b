"""Evaluation: verification pairs (LFW protocol), open-set identification and detection AP."""
