"""Scoring candidate models and source datasets before training."""
